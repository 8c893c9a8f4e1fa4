//! The outbox: every change partner systems care about is recorded in the same transaction as
//! the change, in order, for the change feed (and webhook delivery).

use sea_orm_migration::{prelude::*, schema::*};

use crate::helpers::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Events {
    Table,
    Id,
    Kind,
    OrganisationId,
    SubjectId,
    Data,
    TxId,
    OccurredAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Events::Table)
                    .col(big_pk_auto(Events::Id))
                    .col(string(Events::Kind))
                    .col(uuid_null(Events::OrganisationId))
                    .col(uuid(Events::SubjectId))
                    .col(text(Events::Data))
                    .col(big_integer(Events::TxId))
                    .col(timestamp_with_time_zone(Events::OccurredAt))
                    .to_owned(),
            )
            .await?;
        // The feed's order, and its order within one organisation or one kind.
        manager
            .create_index(index(
                "ix_events_position",
                Events::Table.into_iden(),
                &["tx_id", "id"],
            ))
            .await?;
        manager
            .create_index(index(
                "ix_events_organisation",
                Events::Table.into_iden(),
                &["organisation_id", "tx_id", "id"],
            ))
            .await?;
        manager
            .create_index(index(
                "ix_events_kind",
                Events::Table.into_iden(),
                &["kind", "tx_id", "id"],
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Events::Table).to_owned())
            .await
    }
}
