//! Attendance and completion, programme years (targets), trainer progression pipelines and steps,
//! and cascade sessions with named and headcount attendance.

use sea_orm_migration::{prelude::*, schema::*};

use crate::helpers::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Courses {
    Table,
    CompletionThresholdPercent,
}

#[derive(DeriveIden)]
enum Attendance {
    Table,
    BookingId,
    SittingId,
    Present,
    RecordedByKeyId,
    RecordedAt,
}

#[derive(DeriveIden)]
enum ProgrammeYears {
    Table,
    ProgrammeId,
    Year,
    ChampionSessionsTarget,
    ChampionsTarget,
    TrainersTarget,
    ReservedShareBp,
    ReachTarget,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PipelineSteps {
    Table,
    ProgrammeId,
    Position,
    Code,
    Kind,
    MinSessions,
    LicenceMonths,
}

#[derive(DeriveIden)]
enum TrainerSteps {
    Table,
    Id,
    PersonId,
    ProgrammeId,
    Code,
    EffectiveOn,
    Evidence,
    EvidenceUrl,
    SignedOffByPersonId,
    RecordedByKeyId,
    Automatic,
    OverrideReason,
    LicenceExpiresOn,
    RecordedAt,
}

#[derive(DeriveIden)]
enum CascadeSessions {
    Table,
    Id,
    CourseId,
    ProgrammeId,
    LeadTrainerId,
    CoTrainerId,
    DeliveredOn,
    StartTime,
    DurationMinutes,
    LocalityId,
    Mode,
    Notes,
    RecordedByKeyId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CascadeAttendees {
    Table,
    CascadeSessionId,
    PersonId,
}

#[derive(DeriveIden)]
enum CascadeHeadcounts {
    Table,
    Id,
    CascadeSessionId,
    OrganisationId,
    StaffGroupId,
    Count,
}

#[derive(DeriveIden)]
enum Bookings {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Sittings {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Programmes {
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

#[derive(DeriveIden)]
enum Localities {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Courses::Table)
                    .add_column(integer(Courses::CompletionThresholdPercent).default(100))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Attendance::Table)
                    .col(uuid(Attendance::BookingId))
                    .col(uuid(Attendance::SittingId))
                    .col(boolean(Attendance::Present))
                    .col(uuid_null(Attendance::RecordedByKeyId))
                    .col(timestamp_with_time_zone(Attendance::RecordedAt))
                    .primary_key(
                        Index::create()
                            .col(Attendance::BookingId)
                            .col(Attendance::SittingId),
                    )
                    .foreign_key(&mut fk(
                        "fk_attendance_booking",
                        (Attendance::Table, Attendance::BookingId),
                        (Bookings::Table, Bookings::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_attendance_sitting",
                        (Attendance::Table, Attendance::SittingId),
                        (Sittings::Table, Sittings::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ProgrammeYears::Table)
                    .col(uuid(ProgrammeYears::ProgrammeId))
                    .col(integer(ProgrammeYears::Year))
                    .col(integer_null(ProgrammeYears::ChampionSessionsTarget))
                    .col(integer_null(ProgrammeYears::ChampionsTarget))
                    .col(integer_null(ProgrammeYears::TrainersTarget))
                    .col(integer_null(ProgrammeYears::ReservedShareBp))
                    .col(integer_null(ProgrammeYears::ReachTarget))
                    .col(timestamp_with_time_zone(ProgrammeYears::CreatedAt))
                    .col(timestamp_with_time_zone(ProgrammeYears::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(ProgrammeYears::ProgrammeId)
                            .col(ProgrammeYears::Year),
                    )
                    .foreign_key(&mut fk(
                        "fk_programme_years_programme",
                        (ProgrammeYears::Table, ProgrammeYears::ProgrammeId),
                        (Programmes::Table, Programmes::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PipelineSteps::Table)
                    .col(uuid(PipelineSteps::ProgrammeId))
                    .col(integer(PipelineSteps::Position))
                    .col(string(PipelineSteps::Code))
                    .col(string(PipelineSteps::Kind))
                    .col(integer_null(PipelineSteps::MinSessions))
                    .col(integer_null(PipelineSteps::LicenceMonths))
                    .primary_key(
                        Index::create()
                            .col(PipelineSteps::ProgrammeId)
                            .col(PipelineSteps::Position),
                    )
                    .foreign_key(&mut fk(
                        "fk_pipeline_steps_programme",
                        (PipelineSteps::Table, PipelineSteps::ProgrammeId),
                        (Programmes::Table, Programmes::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TrainerSteps::Table)
                    .col(pk_uuid(TrainerSteps::Id))
                    .col(uuid(TrainerSteps::PersonId))
                    .col(uuid(TrainerSteps::ProgrammeId))
                    .col(string(TrainerSteps::Code))
                    .col(date(TrainerSteps::EffectiveOn))
                    .col(text_null(TrainerSteps::Evidence))
                    .col(string_null(TrainerSteps::EvidenceUrl))
                    .col(uuid_null(TrainerSteps::SignedOffByPersonId))
                    .col(uuid_null(TrainerSteps::RecordedByKeyId))
                    .col(boolean(TrainerSteps::Automatic))
                    .col(text_null(TrainerSteps::OverrideReason))
                    .col(date_null(TrainerSteps::LicenceExpiresOn))
                    .col(timestamp_with_time_zone(TrainerSteps::RecordedAt))
                    .foreign_key(&mut fk(
                        "fk_trainer_steps_person",
                        (TrainerSteps::Table, TrainerSteps::PersonId),
                        (People::Table, People::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_trainer_steps_programme",
                        (TrainerSteps::Table, TrainerSteps::ProgrammeId),
                        (Programmes::Table, Programmes::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CascadeSessions::Table)
                    .col(pk_uuid(CascadeSessions::Id))
                    .col(uuid(CascadeSessions::CourseId))
                    .col(uuid(CascadeSessions::ProgrammeId))
                    .col(uuid(CascadeSessions::LeadTrainerId))
                    .col(uuid_null(CascadeSessions::CoTrainerId))
                    .col(date(CascadeSessions::DeliveredOn))
                    .col(string(CascadeSessions::StartTime))
                    .col(integer(CascadeSessions::DurationMinutes))
                    .col(uuid_null(CascadeSessions::LocalityId))
                    .col(string(CascadeSessions::Mode))
                    .col(text_null(CascadeSessions::Notes))
                    .col(uuid_null(CascadeSessions::RecordedByKeyId))
                    .col(timestamp_with_time_zone(CascadeSessions::CreatedAt))
                    .col(timestamp_with_time_zone(CascadeSessions::UpdatedAt))
                    .foreign_key(&mut fk(
                        "fk_cascade_sessions_programme",
                        (CascadeSessions::Table, CascadeSessions::ProgrammeId),
                        (Programmes::Table, Programmes::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_cascade_sessions_lead",
                        (CascadeSessions::Table, CascadeSessions::LeadTrainerId),
                        (People::Table, People::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_cascade_sessions_co",
                        (CascadeSessions::Table, CascadeSessions::CoTrainerId),
                        (People::Table, People::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_cascade_sessions_locality",
                        (CascadeSessions::Table, CascadeSessions::LocalityId),
                        (Localities::Table, Localities::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CascadeAttendees::Table)
                    .col(uuid(CascadeAttendees::CascadeSessionId))
                    .col(uuid(CascadeAttendees::PersonId))
                    .primary_key(
                        Index::create()
                            .col(CascadeAttendees::CascadeSessionId)
                            .col(CascadeAttendees::PersonId),
                    )
                    .foreign_key(&mut fk(
                        "fk_cascade_attendees_session",
                        (CascadeAttendees::Table, CascadeAttendees::CascadeSessionId),
                        (CascadeSessions::Table, CascadeSessions::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_cascade_attendees_person",
                        (CascadeAttendees::Table, CascadeAttendees::PersonId),
                        (People::Table, People::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CascadeHeadcounts::Table)
                    .col(pk_uuid(CascadeHeadcounts::Id))
                    .col(uuid(CascadeHeadcounts::CascadeSessionId))
                    .col(uuid(CascadeHeadcounts::OrganisationId))
                    .col(uuid_null(CascadeHeadcounts::StaffGroupId))
                    .col(integer(CascadeHeadcounts::Count))
                    .foreign_key(&mut fk(
                        "fk_cascade_headcounts_session",
                        (
                            CascadeHeadcounts::Table,
                            CascadeHeadcounts::CascadeSessionId,
                        ),
                        (CascadeSessions::Table, CascadeSessions::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_cascade_headcounts_organisation",
                        (CascadeHeadcounts::Table, CascadeHeadcounts::OrganisationId),
                        (Organisations::Table, Organisations::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_cascade_headcounts_staff_group",
                        (CascadeHeadcounts::Table, CascadeHeadcounts::StaffGroupId),
                        (StaffGroups::Table, StaffGroups::Id),
                    ))
                    .check(Expr::col(CascadeHeadcounts::Count).gt(0))
                    .to_owned(),
            )
            .await?;
        let indexes = [
            index(
                "ix_attendance_sitting",
                Attendance::Table.into_iden(),
                &["sitting_id"],
            ),
            index(
                "ix_completions_source",
                Alias::new("completions").into_iden(),
                &["source", "id"],
            ),
            index(
                "ux_pipeline_steps_code",
                PipelineSteps::Table.into_iden(),
                &["programme_id", "code"],
            )
            .unique()
            .to_owned(),
            index(
                "ix_trainer_steps_programme",
                TrainerSteps::Table.into_iden(),
                &["programme_id", "person_id", "effective_on"],
            ),
            index(
                "ix_trainer_steps_person",
                TrainerSteps::Table.into_iden(),
                &["person_id", "effective_on"],
            ),
            index(
                "ix_cascade_sessions_programme",
                CascadeSessions::Table.into_iden(),
                &["programme_id", "delivered_on", "id"],
            ),
            index(
                "ix_cascade_sessions_lead",
                CascadeSessions::Table.into_iden(),
                &["lead_trainer_id", "delivered_on"],
            ),
            index(
                "ix_cascade_sessions_co",
                CascadeSessions::Table.into_iden(),
                &["co_trainer_id", "delivered_on"],
            ),
            index(
                "ix_cascade_sessions_locality",
                CascadeSessions::Table.into_iden(),
                &["locality_id", "id"],
            ),
            index(
                "ix_cascade_sessions_course",
                CascadeSessions::Table.into_iden(),
                &["course_id", "id"],
            ),
            index(
                "ix_cascade_attendees_person",
                CascadeAttendees::Table.into_iden(),
                &["person_id"],
            ),
            index(
                "ix_cascade_headcounts_session",
                CascadeHeadcounts::Table.into_iden(),
                &["cascade_session_id"],
            ),
            index(
                "ix_cascade_headcounts_organisation",
                CascadeHeadcounts::Table.into_iden(),
                &["organisation_id"],
            ),
        ];
        for stmt in indexes {
            manager.create_index(stmt).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            CascadeHeadcounts::Table.into_iden(),
            CascadeAttendees::Table.into_iden(),
            CascadeSessions::Table.into_iden(),
            TrainerSteps::Table.into_iden(),
            PipelineSteps::Table.into_iden(),
            ProgrammeYears::Table.into_iden(),
            Attendance::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Courses::Table)
                    .drop_column(Courses::CompletionThresholdPercent)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
