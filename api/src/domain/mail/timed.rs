//! Messages that come due with time rather than with a change: reminders before a session,
//! champion refresh notices and trainer licence notices.
//! Run by housekeeping on every replica; the outbox's one-message-per-event key makes a second
//! scan, or a second replica's, add nothing.

use chrono::Duration;
use entities::{
    bookings,
    enums::{BookingStatus, SessionStatus},
    sessions,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::{Kind, Outgoing, enqueue};
use crate::{config::Config, ctx::Ctx, error::ApiResult};

/// Queues a reminder for every place held on a session whose first sitting starts within
/// `reminder_days`, unless the place was booked inside that window (its confirmation has just
/// said it all). Cancelled places and sessions get none. Returns how many were queued or found.
pub async fn queue_reminders(ctx: &Ctx, config: &Config) -> ApiResult<usize> {
    let now = ctx.now();
    let window = Duration::days(config.reminder_days.max(0));
    let mut queued = 0;
    let mut after = Uuid::nil();
    loop {
        let soon: Vec<(Uuid, chrono::DateTime<chrono::Utc>)> = sessions::Entity::find()
            .select_only()
            .columns([sessions::Column::Id, sessions::Column::StartsAt])
            .filter(sessions::Column::Status.eq(SessionStatus::Scheduled))
            .filter(sessions::Column::StartsAt.gt(now))
            .filter(sessions::Column::StartsAt.lte(now + window))
            .filter(sessions::Column::Id.gt(after))
            .order_by_asc(sessions::Column::Id)
            .limit(200)
            .into_tuple()
            .all(&ctx.db)
            .await?;
        let Some(last) = soon.last() else { break };
        after = last.0;
        let places: Vec<(Uuid, Uuid, Uuid, chrono::DateTime<chrono::Utc>)> =
            bookings::Entity::find()
                .select_only()
                .columns([
                    bookings::Column::Id,
                    bookings::Column::SessionId,
                    bookings::Column::PersonId,
                    bookings::Column::BookedAt,
                ])
                .filter(bookings::Column::SessionId.is_in(soon.iter().map(|s| s.0)))
                .filter(bookings::Column::Status.eq(BookingStatus::Confirmed))
                .into_tuple()
                .all(&ctx.db)
                .await?;
        let out: Vec<Outgoing> = places
            .into_iter()
            .filter(|(_, session, _, booked_at)| {
                soon.iter()
                    .find(|s| s.0 == *session)
                    .is_some_and(|s| *booked_at <= s.1 - window)
            })
            .map(|(booking, session, person, _)| {
                Outgoing::about_booking(
                    Kind::Reminder,
                    (booking, session, person),
                    format!("reminder:{booking}"),
                )
            })
            .collect();
        queued += out.len();
        let txn = ctx.begin().await?;
        enqueue(&txn, out, now).await?;
        txn.commit().await?;
    }
    Ok(queued)
}

/// Days before a champion's refresh date that its notice goes (when the champion list starts
/// showing `refresh_due`).
const REFRESH_NOTICE_DAYS: i64 = crate::domain::champions::REFRESH_NOTICE_DAYS;
/// Days before a trainer's licence ends that a notice goes: one at 60, another at 14.
const LICENCE_NOTICES: [i64; 2] = [60, 14];

/// Queues a notice for each champion whose refresh date (their champion completion plus the
/// course's certificate validity) is within 60 days, once per refresh date.
pub async fn queue_refresh_notices(ctx: &Ctx) -> ApiResult<usize> {
    use entities::{completions, courses, enums::CourseKind};
    let now = ctx.now();
    let today = crate::domain::sessions::london_today(now);
    let courses: Vec<courses::Model> = courses::Entity::find()
        .filter(courses::Column::Kind.eq(CourseKind::Champion))
        .filter(courses::Column::CertificateValidityMonths.is_not_null())
        .all(&ctx.db)
        .await?;
    let mut out = Vec::new();
    for course in courses {
        let Some(months) = course
            .certificate_validity_months
            .and_then(|m| u32::try_from(m).ok())
        else {
            continue;
        };
        let back = chrono::Months::new(months);
        let (Some(from), Some(to)) = (
            today.checked_sub_months(back),
            (today + Duration::days(REFRESH_NOTICE_DAYS)).checked_sub_months(back),
        ) else {
            continue;
        };
        let due: Vec<(Uuid, chrono::NaiveDate)> = completions::Entity::find()
            .select_only()
            .columns([
                completions::Column::PersonId,
                completions::Column::CompletedOn,
            ])
            .filter(completions::Column::CourseId.eq(course.id))
            .filter(completions::Column::CompletedOn.gte(from))
            .filter(completions::Column::CompletedOn.lte(to))
            .into_tuple()
            .all(&ctx.db)
            .await?;
        for (person, completed_on) in due {
            let Some(due_on) = completed_on.checked_add_months(back) else {
                continue;
            };
            out.push(Outgoing {
                person_id: person,
                kind: Kind::RefreshDue,
                dedup_key: format!("refresh_due:{}:{due_on}", course.id),
                booking_id: None,
                session_id: None,
                certificate_id: None,
                data: serde_json::json!({
                    "course": course.title,
                    "due_on": super::compose::spoken_date(due_on),
                }),
            });
        }
    }
    let queued = out.len();
    let txn = ctx.begin().await?;
    enqueue(&txn, out, now).await?;
    txn.commit().await?;
    Ok(queued)
}

/// Queues a notice 60 and again 14 days before an accredited trainer's licence ends (unless a
/// renewal has since moved its end), once per end date and notice.
pub async fn queue_licence_notices(ctx: &Ctx) -> ApiResult<usize> {
    use entities::trainer_steps;
    let now = ctx.now();
    let today = crate::domain::sessions::london_today(now);
    let horizon = today + Duration::days(LICENCE_NOTICES[0]);
    let ending: Vec<(Uuid, Uuid, chrono::NaiveDate)> = trainer_steps::Entity::find()
        .select_only()
        .columns([
            trainer_steps::Column::PersonId,
            trainer_steps::Column::ProgrammeId,
            trainer_steps::Column::LicenceExpiresOn,
        ])
        .filter(trainer_steps::Column::LicenceExpiresOn.gte(today))
        .filter(trainer_steps::Column::LicenceExpiresOn.lte(horizon))
        .into_tuple()
        .all(&ctx.db)
        .await?;
    if ending.is_empty() {
        return Ok(0);
    }
    // A later licence of the same person and programme (a renewal) replaces an ending one.
    let later: Vec<(Uuid, Uuid)> = trainer_steps::Entity::find()
        .select_only()
        .columns([
            trainer_steps::Column::PersonId,
            trainer_steps::Column::ProgrammeId,
        ])
        .filter(trainer_steps::Column::PersonId.is_in(ending.iter().map(|e| e.0)))
        .filter(trainer_steps::Column::LicenceExpiresOn.gt(horizon))
        .into_tuple()
        .all(&ctx.db)
        .await?;
    let mut out = Vec::new();
    for (person, programme, expires) in &ending {
        if later.contains(&(*person, *programme)) {
            continue;
        }
        let superseded = ending
            .iter()
            .any(|(p, g, e)| p == person && g == programme && e > expires);
        if superseded {
            continue;
        }
        let days = (*expires - today).num_days();
        let Some(notice) = LICENCE_NOTICES.iter().rev().find(|n| days <= **n) else {
            continue;
        };
        out.push(Outgoing {
            person_id: *person,
            kind: Kind::LicenceExpiring,
            dedup_key: format!("licence_expiring:{notice}:{programme}:{expires}"),
            booking_id: None,
            session_id: None,
            certificate_id: None,
            data: serde_json::json!({
                "expires_on": super::compose::spoken_date(*expires),
                "days": days,
            }),
        });
    }
    let queued = out.len();
    let txn = ctx.begin().await?;
    enqueue(&txn, out, now).await?;
    txn.commit().await?;
    Ok(queued)
}

/// Everything that comes due with time: reminders, refresh and licence notices.
pub async fn queue_due(ctx: &Ctx, config: &Config) -> ApiResult<usize> {
    Ok(queue_reminders(ctx, config).await?
        + queue_refresh_notices(ctx).await?
        + queue_licence_notices(ctx).await?)
}
