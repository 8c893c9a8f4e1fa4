//! The audit log (every write, in the write's own transaction) and the erasure mark on people.

use sea_orm_migration::{prelude::*, schema::*};

use crate::helpers::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    At,
    KeyId,
    Role,
    Resource,
    ResourceId,
    Action,
    Summary,
    PersonId,
}

#[derive(DeriveIden)]
enum People {
    Table,
    ErasedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .col(uuid(AuditLog::Id).primary_key())
                    .col(timestamp_with_time_zone(AuditLog::At))
                    // No foreign keys: the log outlives what it describes and must never block
                    // a write; ids are kept as they were.
                    .col(uuid_null(AuditLog::KeyId))
                    .col(string(AuditLog::Role))
                    .col(string(AuditLog::Resource))
                    .col(uuid_null(AuditLog::ResourceId))
                    .col(string(AuditLog::Action))
                    .col(text(AuditLog::Summary))
                    .col(uuid_null(AuditLog::PersonId))
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            ("ix_audit_log_at", &["at", "id"][..]),
            (
                "ix_audit_log_resource",
                &["resource", "resource_id", "at"][..],
            ),
            ("ix_audit_log_key", &["key_id", "at"][..]),
            ("ix_audit_log_person", &["person_id", "at"][..]),
            ("ix_audit_log_action", &["action", "at"][..]),
        ] {
            manager
                .create_index(index(name, AuditLog::Table.into_iden(), cols))
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(People::Table)
                    .add_column(timestamp_with_time_zone_null(People::ErasedAt))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(People::Table)
                    .drop_column(People::ErasedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(AuditLog::Table).to_owned())
            .await
    }
}
