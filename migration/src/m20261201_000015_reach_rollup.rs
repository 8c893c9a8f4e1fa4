//! Reach kept as it is written: `reach_rollup` holds, per programme, scope, period, breakdown
//! line and delivery day (`period` `day`) or month (`month`, dated the 1st), the cascade
//! sessions and people the cascades reached. `scope` is the nil UUID for the whole programme or
//! an organisation's id for the lines a partner sees of its own staff; `dimension` is `total`,
//! `trainer`, `partner`, `sector`, `locality`, `staff_group` or `deliverer` (sessions a trainer
//! led or co-delivered) and `line` the line's key (an id, a sector code or `unknown`). The row
//! counts grow with months, days and lines, never with attendance rows: a report over whole
//! months reads month rows, and day rows only for a part-month at either end. Rows are changed by `domain::reach::rollup` in the transaction that records,
//! corrects or deletes a cascade session; `cascade` fills it from the attendance tables after
//! migrating when it is empty (`db::migrate`).
//!
//! `cascade_attendees` gains `organisation_id` and `staff_group_id`: the attendee's employing
//! (primary) organisation and staff group when the session was recorded, so what a session
//! reached is the same when a correction takes it away as when it was added. Existing rows take
//! today's values.
//!
//! Two indexes count a trainer's deliveries in a year without reading the rows: (programme,
//! lead trainer, date) and (programme, co-trainer, date).

use sea_orm_migration::{prelude::*, schema::*};

use crate::helpers::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ReachRollup {
    Table,
    ProgrammeId,
    Scope,
    Period,
    DeliveredOn,
    Dimension,
    Line,
    CascadeSessions,
    Named,
    Headcount,
}

#[derive(DeriveIden)]
enum CascadeAttendees {
    Table,
    OrganisationId,
    StaffGroupId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ReachRollup::Table)
                    .col(uuid(ReachRollup::ProgrammeId))
                    .col(uuid(ReachRollup::Scope))
                    .col(string(ReachRollup::Period))
                    .col(date(ReachRollup::DeliveredOn))
                    .col(string(ReachRollup::Dimension))
                    .col(string(ReachRollup::Line))
                    .col(big_integer(ReachRollup::CascadeSessions))
                    .col(big_integer(ReachRollup::Named))
                    .col(big_integer(ReachRollup::Headcount))
                    .primary_key(
                        Index::create()
                            .col(ReachRollup::ProgrammeId)
                            .col(ReachRollup::Scope)
                            .col(ReachRollup::Period)
                            .col(ReachRollup::Dimension)
                            .col(ReachRollup::DeliveredOn)
                            .col(ReachRollup::Line),
                    )
                    .to_owned(),
            )
            .await?;
        for col in [
            CascadeAttendees::OrganisationId,
            CascadeAttendees::StaffGroupId,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(CascadeAttendees::Table)
                        .add_column(uuid_null(col))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE cascade_attendees SET \
                 organisation_id = (SELECT m.organisation_id FROM memberships m \
                   WHERE m.person_id = cascade_attendees.person_id AND m.is_primary = true \
                   ORDER BY m.id LIMIT 1), \
                 staff_group_id = (SELECT p.staff_group_id FROM people p \
                   WHERE p.id = cascade_attendees.person_id)",
            )
            .await?;
        manager
            .create_index(index(
                "ix_cascade_attendees_organisation",
                CascadeAttendees::Table,
                &["organisation_id"],
            ))
            .await?;
        for (name, col) in [
            ("ix_cascade_sessions_programme_lead", "lead_trainer_id"),
            ("ix_cascade_sessions_programme_co", "co_trainer_id"),
        ] {
            manager
                .create_index(index(
                    name,
                    Alias::new("cascade_sessions"),
                    &["programme_id", col, "delivered_on"],
                ))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for stmt in [
            "DROP INDEX ix_cascade_sessions_programme_co",
            "DROP INDEX ix_cascade_sessions_programme_lead",
            "DROP INDEX ix_cascade_attendees_organisation",
            "ALTER TABLE cascade_attendees DROP COLUMN staff_group_id",
            "ALTER TABLE cascade_attendees DROP COLUMN organisation_id",
        ] {
            db.execute_unprepared(stmt).await?;
        }
        manager
            .drop_table(Table::drop().table(ReachRollup::Table).to_owned())
            .await
    }
}
