//! People found by name: `people.name_key` (the folded name) and `people.surname_key` (its last
//! word), each indexed, so the coordinators' people search and the API's `name` filter match a
//! prefix by an index range. On PostgreSQL the keys use the "C" collation so a range over them
//! is a byte range. The keys of existing rows are filled by `cascade` after migrating
//! (`db::migrate`), which owns the folding rule.

use sea_orm_migration::prelude::*;

use crate::helpers::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum People {
    Table,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let collate = match manager.get_database_backend() {
            sea_orm_migration::sea_orm::DatabaseBackend::Postgres => " COLLATE \"C\"",
            _ => "",
        };
        let db = manager.get_connection();
        for col in ["name_key", "surname_key"] {
            db.execute_unprepared(&format!(
                "ALTER TABLE people ADD COLUMN {col} TEXT{collate} NOT NULL DEFAULT ''"
            ))
            .await?;
        }
        manager
            .create_index(index("idx_people_name_key", People::Table, &["name_key"]))
            .await?;
        manager
            .create_index(index(
                "idx_people_surname_key",
                People::Table,
                &["surname_key"],
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for stmt in [
            "DROP INDEX idx_people_surname_key",
            "DROP INDEX idx_people_name_key",
            "ALTER TABLE people DROP COLUMN surname_key",
            "ALTER TABLE people DROP COLUMN name_key",
        ] {
            db.execute_unprepared(stmt).await?;
        }
        Ok(())
    }
}
