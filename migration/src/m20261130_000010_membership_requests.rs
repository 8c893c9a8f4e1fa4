//! Membership requests: a partner that asks to add someone already in Cascade (employed by
//! another organisation) gets a pending request, not a membership. The person's employer or a
//! coordinator confirms it (a membership is then created) or declines it.
//!
//! Memberships keep an identity provider's `employeeNumber` beside the external id (they may
//! differ; the external id is Cascade's key for the person) and its `department` as sent (it
//! need not be one of the partnership's staff groups), and when SCIM deleted the User (the
//! membership stays, as a leaver's; SCIM then answers 404 until the User is created again).
//!
//! And the organisation each completion and certificate was produced for (the booking's
//! organisation, or the employer at the time), so a partner reads the records its organisation
//! paid for — and only those — even after the person moves on.

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
enum Memberships {
    Table,
    EmployeeNumber,
    Department,
    ScimDeletedAt,
}

#[derive(DeriveIden)]
enum Completions {
    Table,
    OrganisationId,
}

#[derive(DeriveIden)]
enum Certificates {
    Table,
    OrganisationId,
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
        // One column a statement: SQLite alters one thing at a time.
        for mut column in [
            string_null(Memberships::EmployeeNumber),
            string_null(Memberships::Department),
            timestamp_with_time_zone_null(Memberships::ScimDeletedAt),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Memberships::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(index(
                "ix_memberships_employee_number",
                Memberships::Table.into_iden(),
                &["organisation_id", "employee_number"],
            ))
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Completions::Table)
                    .add_column(uuid_null(Completions::OrganisationId))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Certificates::Table)
                    .add_column(uuid_null(Certificates::OrganisationId))
                    .to_owned(),
            )
            .await?;
        // Records made before: a session's completion belongs to the organisation its place was
        // booked for; anything else, and certificates, to the employer (primary membership).
        let db = manager.get_connection();
        for sql in [
            "UPDATE completions SET organisation_id = (SELECT b.organisation_id FROM bookings b \
             WHERE b.session_id = completions.source_id AND b.person_id = completions.person_id \
             ORDER BY b.id DESC LIMIT 1) WHERE source = 'session'",
            "UPDATE completions SET organisation_id = (SELECT m.organisation_id FROM memberships m \
             WHERE m.person_id = completions.person_id ORDER BY m.is_primary DESC, m.id LIMIT 1) \
             WHERE organisation_id IS NULL",
            "UPDATE certificates SET organisation_id = (SELECT c.organisation_id FROM completions c \
             WHERE c.person_id = certificates.person_id AND c.course_id = certificates.course_id) \
             WHERE course_id IS NOT NULL",
            "UPDATE certificates SET organisation_id = (SELECT m.organisation_id FROM memberships m \
             WHERE m.person_id = certificates.person_id ORDER BY m.is_primary DESC, m.id LIMIT 1) \
             WHERE organisation_id IS NULL",
        ] {
            db.execute_unprepared(sql).await?;
        }
        for (name, table) in [
            (
                "ix_completions_organisation",
                Completions::Table.into_iden(),
            ),
            (
                "ix_certificates_organisation",
                Certificates::Table.into_iden(),
            ),
        ] {
            manager
                .create_index(index(name, table, &["organisation_id", "id"]))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table) in [
            (
                "ix_completions_organisation",
                Completions::Table.into_iden(),
            ),
            (
                "ix_certificates_organisation",
                Certificates::Table.into_iden(),
            ),
        ] {
            manager
                .drop_index(Index::drop().name(name).table(table).to_owned())
                .await?;
        }
        manager
            .drop_index(
                Index::drop()
                    .name("ix_memberships_employee_number")
                    .table(Memberships::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Memberships::Table)
                    .drop_column(Memberships::EmployeeNumber)
                    .drop_column(Memberships::Department)
                    .drop_column(Memberships::ScimDeletedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Completions::Table)
                    .drop_column(Completions::OrganisationId)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Certificates::Table)
                    .drop_column(Certificates::OrganisationId)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(MembershipRequests::Table).to_owned())
            .await
    }
}
