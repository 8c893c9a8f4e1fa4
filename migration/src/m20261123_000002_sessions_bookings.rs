//! Scheduling and booking: sessions with their sittings, facilitators and audience; bookings with
//! their place and waitlist order; completion records (filled by attendance later, read by the
//! prerequisite rule now); and stored responses for `Idempotency-Key`.
//!
//! The guards that must hold across replicas live here as constraints: one active booking per
//! person and session, one waitlist slot per sequence number, one completion per person and course,
//! one stored response per (caller, idempotency key).

use sea_orm_migration::{prelude::*, schema::*};

use crate::helpers::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    CourseId,
    ProgrammeId,
    Capacity,
    ReservedSector,
    ReservedShareBp,
    ReservedReleaseDays,
    ReservedReleaseAt,
    ReleaseSettled,
    VenueName,
    VenueAddress,
    LocalityId,
    OnlineUrl,
    BookingOpensAt,
    BookingClosesAt,
    LateCancellationDays,
    Status,
    CancelReason,
    CancelledAt,
    Revision,
    StartsAt,
    EndsAt,
    ConfirmedCount,
    ReservedConfirmed,
    WaitlistCount,
    WaitlistNextSeq,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Sittings {
    Table,
    Id,
    SessionId,
    Position,
    StartsAt,
    EndsAt,
}

#[derive(DeriveIden)]
enum SessionFacilitators {
    Table,
    SessionId,
    PersonId,
}

#[derive(DeriveIden)]
enum SessionAudiences {
    Table,
    SessionId,
    StaffGroupId,
}

#[derive(DeriveIden)]
enum Bookings {
    Table,
    Id,
    SessionId,
    CourseId,
    PersonId,
    OrganisationId,
    Status,
    Place,
    WaitlistSeq,
    BookedByKeyId,
    BookedAt,
    ConfirmedAt,
    PromotedAt,
    CancelledAt,
    CancelReason,
    LateCancellation,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Completions {
    Table,
    Id,
    PersonId,
    CourseId,
    CompletedOn,
    Source,
    SourceId,
    RecordedByKeyId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    Id,
    Scope,
    Key,
    RequestHash,
    Status,
    ContentType,
    Location,
    Body,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Courses {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Programmes {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Localities {
    Table,
    Id,
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

#[derive(DeriveIden)]
enum StaffGroups {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .col(pk_uuid(Sessions::Id))
                    .col(uuid(Sessions::CourseId))
                    .col(uuid(Sessions::ProgrammeId))
                    .col(integer(Sessions::Capacity))
                    .col(string_null(Sessions::ReservedSector))
                    .col(integer(Sessions::ReservedShareBp))
                    .col(integer(Sessions::ReservedReleaseDays))
                    .col(timestamp_with_time_zone_null(Sessions::ReservedReleaseAt))
                    .col(boolean(Sessions::ReleaseSettled))
                    .col(string_null(Sessions::VenueName))
                    .col(text_null(Sessions::VenueAddress))
                    .col(uuid_null(Sessions::LocalityId))
                    .col(string_null(Sessions::OnlineUrl))
                    .col(timestamp_with_time_zone_null(Sessions::BookingOpensAt))
                    .col(timestamp_with_time_zone(Sessions::BookingClosesAt))
                    .col(integer(Sessions::LateCancellationDays))
                    .col(string(Sessions::Status))
                    .col(text_null(Sessions::CancelReason))
                    .col(timestamp_with_time_zone_null(Sessions::CancelledAt))
                    .col(integer(Sessions::Revision))
                    .col(timestamp_with_time_zone(Sessions::StartsAt))
                    .col(timestamp_with_time_zone(Sessions::EndsAt))
                    .col(integer(Sessions::ConfirmedCount))
                    .col(integer(Sessions::ReservedConfirmed))
                    .col(integer(Sessions::WaitlistCount))
                    .col(big_integer(Sessions::WaitlistNextSeq))
                    .col(timestamp_with_time_zone(Sessions::CreatedAt))
                    .col(timestamp_with_time_zone(Sessions::UpdatedAt))
                    .foreign_key(&mut fk(
                        "fk_sessions_course",
                        (Sessions::Table, Sessions::CourseId),
                        (Courses::Table, Courses::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_sessions_programme",
                        (Sessions::Table, Sessions::ProgrammeId),
                        (Programmes::Table, Programmes::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_sessions_locality",
                        (Sessions::Table, Sessions::LocalityId),
                        (Localities::Table, Localities::Id),
                    ))
                    .check(Expr::col(Sessions::ConfirmedCount).lte(Expr::col(Sessions::Capacity)))
                    .check(Expr::col(Sessions::ConfirmedCount).gte(0))
                    .check(Expr::col(Sessions::WaitlistCount).gte(0))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Sittings::Table)
                    .col(pk_uuid(Sittings::Id))
                    .col(uuid(Sittings::SessionId))
                    .col(integer(Sittings::Position))
                    .col(timestamp_with_time_zone(Sittings::StartsAt))
                    .col(timestamp_with_time_zone(Sittings::EndsAt))
                    .foreign_key(&mut fk(
                        "fk_sittings_session",
                        (Sittings::Table, Sittings::SessionId),
                        (Sessions::Table, Sessions::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SessionFacilitators::Table)
                    .col(uuid(SessionFacilitators::SessionId))
                    .col(uuid(SessionFacilitators::PersonId))
                    .primary_key(
                        Index::create()
                            .col(SessionFacilitators::SessionId)
                            .col(SessionFacilitators::PersonId),
                    )
                    .foreign_key(&mut fk(
                        "fk_session_facilitators_session",
                        (SessionFacilitators::Table, SessionFacilitators::SessionId),
                        (Sessions::Table, Sessions::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_session_facilitators_person",
                        (SessionFacilitators::Table, SessionFacilitators::PersonId),
                        (People::Table, People::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SessionAudiences::Table)
                    .col(uuid(SessionAudiences::SessionId))
                    .col(uuid(SessionAudiences::StaffGroupId))
                    .primary_key(
                        Index::create()
                            .col(SessionAudiences::SessionId)
                            .col(SessionAudiences::StaffGroupId),
                    )
                    .foreign_key(&mut fk(
                        "fk_session_audiences_session",
                        (SessionAudiences::Table, SessionAudiences::SessionId),
                        (Sessions::Table, Sessions::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_session_audiences_staff_group",
                        (SessionAudiences::Table, SessionAudiences::StaffGroupId),
                        (StaffGroups::Table, StaffGroups::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Bookings::Table)
                    .col(pk_uuid(Bookings::Id))
                    .col(uuid(Bookings::SessionId))
                    .col(uuid(Bookings::CourseId))
                    .col(uuid(Bookings::PersonId))
                    .col(uuid(Bookings::OrganisationId))
                    .col(string(Bookings::Status))
                    .col(string_null(Bookings::Place))
                    .col(big_integer_null(Bookings::WaitlistSeq))
                    .col(uuid_null(Bookings::BookedByKeyId))
                    .col(timestamp_with_time_zone(Bookings::BookedAt))
                    .col(timestamp_with_time_zone_null(Bookings::ConfirmedAt))
                    .col(timestamp_with_time_zone_null(Bookings::PromotedAt))
                    .col(timestamp_with_time_zone_null(Bookings::CancelledAt))
                    .col(text_null(Bookings::CancelReason))
                    .col(boolean(Bookings::LateCancellation))
                    .col(timestamp_with_time_zone(Bookings::UpdatedAt))
                    .foreign_key(&mut fk(
                        "fk_bookings_session",
                        (Bookings::Table, Bookings::SessionId),
                        (Sessions::Table, Sessions::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_bookings_course",
                        (Bookings::Table, Bookings::CourseId),
                        (Courses::Table, Courses::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_bookings_person",
                        (Bookings::Table, Bookings::PersonId),
                        (People::Table, People::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_bookings_organisation",
                        (Bookings::Table, Bookings::OrganisationId),
                        (Organisations::Table, Organisations::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Completions::Table)
                    .col(pk_uuid(Completions::Id))
                    .col(uuid(Completions::PersonId))
                    .col(uuid(Completions::CourseId))
                    .col(date(Completions::CompletedOn))
                    .col(string(Completions::Source))
                    .col(uuid_null(Completions::SourceId))
                    .col(uuid_null(Completions::RecordedByKeyId))
                    .col(timestamp_with_time_zone(Completions::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_completions_person",
                        (Completions::Table, Completions::PersonId),
                        (People::Table, People::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_completions_course",
                        (Completions::Table, Completions::CourseId),
                        (Courses::Table, Courses::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKeys::Table)
                    .col(pk_uuid(IdempotencyKeys::Id))
                    .col(string(IdempotencyKeys::Scope))
                    .col(string(IdempotencyKeys::Key))
                    .col(string(IdempotencyKeys::RequestHash))
                    .col(integer_null(IdempotencyKeys::Status))
                    .col(string_null(IdempotencyKeys::ContentType))
                    .col(string_null(IdempotencyKeys::Location))
                    .col(text_null(IdempotencyKeys::Body))
                    .col(timestamp_with_time_zone(IdempotencyKeys::CreatedAt))
                    .to_owned(),
            )
            .await?;

        let active = ["confirmed", "waitlisted"];
        let indexes = [
            index(
                "ix_sessions_course",
                Sessions::Table.into_iden(),
                &["course_id", "id"],
            ),
            index(
                "ix_sessions_programme",
                Sessions::Table.into_iden(),
                &["programme_id", "id"],
            ),
            index(
                "ix_sessions_locality",
                Sessions::Table.into_iden(),
                &["locality_id", "id"],
            ),
            index(
                "ix_sessions_status",
                Sessions::Table.into_iden(),
                &["status", "id"],
            ),
            index(
                "ix_sessions_starts_at",
                Sessions::Table.into_iden(),
                &["starts_at", "id"],
            ),
            index(
                "ix_sessions_release_due",
                Sessions::Table.into_iden(),
                &["release_settled", "reserved_release_at"],
            ),
            index(
                "ux_sittings_position",
                Sittings::Table.into_iden(),
                &["session_id", "position"],
            )
            .unique()
            .to_owned(),
            index(
                "ix_session_facilitators_person",
                SessionFacilitators::Table.into_iden(),
                &["person_id"],
            ),
            index(
                "ix_session_audiences_staff_group",
                SessionAudiences::Table.into_iden(),
                &["staff_group_id"],
            ),
            index(
                "ux_bookings_active_person",
                Bookings::Table.into_iden(),
                &["session_id", "person_id"],
            )
            .unique()
            .and_where(Expr::col(Bookings::Status).is_in(active))
            .to_owned(),
            index(
                "ux_bookings_waitlist_seq",
                Bookings::Table.into_iden(),
                &["session_id", "waitlist_seq"],
            )
            .unique()
            .and_where(Expr::col(Bookings::Status).eq("waitlisted"))
            .to_owned(),
            index(
                "ix_bookings_session",
                Bookings::Table.into_iden(),
                &["session_id", "status", "id"],
            ),
            index(
                "ix_bookings_person",
                Bookings::Table.into_iden(),
                &["person_id", "status", "id"],
            ),
            index(
                "ix_bookings_course_person",
                Bookings::Table.into_iden(),
                &["course_id", "person_id"],
            ),
            index(
                "ix_bookings_organisation",
                Bookings::Table.into_iden(),
                &["organisation_id", "status", "id"],
            ),
            index(
                "ux_completions_person_course",
                Completions::Table.into_iden(),
                &["person_id", "course_id"],
            )
            .unique()
            .to_owned(),
            index(
                "ix_completions_course",
                Completions::Table.into_iden(),
                &["course_id", "id"],
            ),
            index(
                "ux_idempotency_keys_scope_key",
                IdempotencyKeys::Table.into_iden(),
                &["scope", "key"],
            )
            .unique()
            .to_owned(),
            index(
                "ix_idempotency_keys_created",
                IdempotencyKeys::Table.into_iden(),
                &["created_at"],
            ),
        ];
        for stmt in indexes {
            manager.create_index(stmt).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            IdempotencyKeys::Table.into_iden(),
            Completions::Table.into_iden(),
            Bookings::Table.into_iden(),
            SessionAudiences::Table.into_iden(),
            SessionFacilitators::Table.into_iden(),
            Sittings::Table.into_iden(),
            Sessions::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
