//! Webhook subscriptions and their delivery log. A subscription keeps its own position in the
//! outbox (`after_tx_id`, `after_id`) and a lease so that one replica at a time sends its events.

use sea_orm_migration::{prelude::*, schema::*};

use crate::helpers::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Organisations {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Webhooks {
    Table,
    Id,
    OrganisationId,
    Url,
    Secret,
    EventTypes,
    Active,
    DisabledReason,
    AfterTxId,
    AfterId,
    LeaseUntil,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    WebhookId,
    EventId,
    EventTxId,
    EventKind,
    Status,
    Attempts,
    NextAttemptAt,
    FirstAttemptAt,
    LastAttemptAt,
    LastStatusCode,
    LastError,
    DeliveredAt,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Webhooks::Table)
                    .col(uuid(Webhooks::Id).primary_key())
                    .col(uuid_null(Webhooks::OrganisationId))
                    .col(string(Webhooks::Url))
                    .col(string(Webhooks::Secret))
                    .col(text(Webhooks::EventTypes))
                    .col(boolean(Webhooks::Active))
                    .col(string_null(Webhooks::DisabledReason))
                    .col(big_integer(Webhooks::AfterTxId))
                    .col(big_integer(Webhooks::AfterId))
                    .col(timestamp_with_time_zone_null(Webhooks::LeaseUntil))
                    .col(timestamp_with_time_zone(Webhooks::CreatedAt))
                    .col(timestamp_with_time_zone(Webhooks::UpdatedAt))
                    .foreign_key(&mut fk(
                        "fk_webhooks_organisation",
                        (Webhooks::Table, Webhooks::OrganisationId),
                        (Organisations::Table, Organisations::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_webhooks_organisation",
                Webhooks::Table.into_iden(),
                &["organisation_id", "id"],
            ))
            .await?;
        manager
            .create_index(index(
                "ix_webhooks_active",
                Webhooks::Table.into_iden(),
                &["active", "id"],
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookDeliveries::Table)
                    .col(uuid(WebhookDeliveries::Id).primary_key())
                    .col(uuid(WebhookDeliveries::WebhookId))
                    .col(big_integer(WebhookDeliveries::EventId))
                    .col(big_integer(WebhookDeliveries::EventTxId))
                    .col(string(WebhookDeliveries::EventKind))
                    .col(string(WebhookDeliveries::Status))
                    .col(integer(WebhookDeliveries::Attempts))
                    .col(timestamp_with_time_zone(WebhookDeliveries::NextAttemptAt))
                    .col(timestamp_with_time_zone_null(
                        WebhookDeliveries::FirstAttemptAt,
                    ))
                    .col(timestamp_with_time_zone_null(
                        WebhookDeliveries::LastAttemptAt,
                    ))
                    .col(integer_null(WebhookDeliveries::LastStatusCode))
                    .col(text_null(WebhookDeliveries::LastError))
                    .col(timestamp_with_time_zone_null(
                        WebhookDeliveries::DeliveredAt,
                    ))
                    .col(timestamp_with_time_zone(WebhookDeliveries::CreatedAt))
                    .col(timestamp_with_time_zone(WebhookDeliveries::UpdatedAt))
                    .foreign_key(&mut fk(
                        "fk_webhook_deliveries_webhook",
                        (WebhookDeliveries::Table, WebhookDeliveries::WebhookId),
                        (Webhooks::Table, Webhooks::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index(
                    "ux_webhook_deliveries_event",
                    WebhookDeliveries::Table.into_iden(),
                    &["webhook_id", "event_id"],
                )
                .unique()
                .to_owned(),
            )
            .await?;
        // The next delivery to send: pending, in feed order.
        manager
            .create_index(index(
                "ix_webhook_deliveries_queue",
                WebhookDeliveries::Table.into_iden(),
                &["webhook_id", "status", "event_tx_id", "event_id"],
            ))
            .await?;
        manager
            .create_index(index(
                "ix_webhook_deliveries_log",
                WebhookDeliveries::Table.into_iden(),
                &["webhook_id", "id"],
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WebhookDeliveries::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Webhooks::Table).to_owned())
            .await
    }
}
