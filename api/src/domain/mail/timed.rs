//! Messages that come due with time rather than with a change: reminders before a session.
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
