//! Change tracking for integrations: certificates get an `updated_at`, and the lists partner
//! systems poll with `updated_since` get indexes on it.

use sea_orm_migration::{prelude::*, schema::*};

use crate::helpers::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Certificates {
    Table,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Certificates::Table)
                    .add_column(
                        timestamp_with_time_zone(Certificates::UpdatedAt)
                            .default("1970-01-01T00:00:00Z"),
                    )
                    .to_owned(),
            )
            .await?;
        // SQLite adds columns only with constant defaults: fill in the real time after.
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE certificates SET updated_at = COALESCE(revoked_at, created_at)",
            )
            .await?;
        for (name, table) in [
            ("ix_people_updated", "people"),
            ("ix_bookings_updated", "bookings"),
            ("ix_certificates_updated", "certificates"),
        ] {
            manager
                .create_index(index(name, Alias::new(table), &["updated_at", "id"]))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table) in [
            ("ix_people_updated", "people"),
            ("ix_bookings_updated", "bookings"),
            ("ix_certificates_updated", "certificates"),
        ] {
            manager
                .drop_index(Index::drop().name(name).table(Alias::new(table)).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Certificates::Table)
                    .drop_column(Certificates::UpdatedAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
