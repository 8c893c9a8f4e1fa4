//! Membership requests: a partner that asks to add someone already in Cascade (employed by
//! another organisation) gets a pending request, not a membership. The person's employer or a
//! coordinator confirms it (a membership is then created) or declines it.

use sea_orm_migration::{prelude::*, schema::*};

use crate::helpers::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum MembershipRequests {
    Table,
    Id,
    PersonId,
    OrganisationId,
    ExternalId,
    Status,
    Source,
    RequestedByKeyId,
    DecidedByKeyId,
    DecidedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum People {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Organisations {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MembershipRequests::Table)
                    .col(uuid(MembershipRequests::Id).primary_key())
                    .col(uuid(MembershipRequests::PersonId))
                    .col(uuid(MembershipRequests::OrganisationId))
                    .col(string_null(MembershipRequests::ExternalId))
                    .col(string(MembershipRequests::Status))
                    .col(string(MembershipRequests::Source))
                    .col(uuid_null(MembershipRequests::RequestedByKeyId))
                    .col(uuid_null(MembershipRequests::DecidedByKeyId))
                    .col(timestamp_with_time_zone_null(MembershipRequests::DecidedAt))
                    .col(timestamp_with_time_zone(MembershipRequests::CreatedAt))
                    .col(timestamp_with_time_zone(MembershipRequests::UpdatedAt))
                    .foreign_key(&mut fk(
                        "fk_membership_requests_person",
                        (MembershipRequests::Table, MembershipRequests::PersonId),
                        (People::Table, People::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_membership_requests_organisation",
                        (
                            MembershipRequests::Table,
                            MembershipRequests::OrganisationId,
                        ),
                        (Organisations::Table, Organisations::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        // One open request per person and organisation: a retried sync or SCIM create finds it.
        manager
            .create_index(
                index(
                    "ux_membership_requests_pending",
                    MembershipRequests::Table.into_iden(),
                    &["person_id", "organisation_id"],
                )
                .unique()
                .and_where(Expr::col(MembershipRequests::Status).eq("pending"))
                .to_owned(),
            )
            .await?;
        for (name, cols) in [
            (
                "ix_membership_requests_organisation",
                &["organisation_id", "status", "id"][..],
            ),
            (
                "ix_membership_requests_person",
                &["person_id", "status", "id"][..],
            ),
            ("ix_membership_requests_status", &["status", "id"][..]),
        ] {
            manager
                .create_index(index(name, MembershipRequests::Table.into_iden(), cols))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(MembershipRequests::Table).to_owned())
            .await
    }
}
