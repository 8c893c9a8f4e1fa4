//! Cancelling a booking, and offering the freed place to the waitlist in the same transaction.

use crate::ctx::Ctx;
use crate::error::refused;
use crate::problem::ProblemKind;
use chrono::{DateTime, Duration, Utc};
use entities::{
    bookings,
    enums::{BookingStatus, Place, SessionStatus},
    sessions,
};
use poem_openapi::Object;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, sea_query::Query,
};
use uuid::Uuid;

use super::{Booking, find_reachable, views};
use crate::{
    audit::{self, Change},
    domain::{
        sessions::{
            lock,
            waitlist::{promote, save_counts},
        },
        validation::clean_text,
    },
    error::{ApiError, ApiResult},
};

/// Why a place is being given up.
#[derive(Debug, Clone, Default, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct BookingCancellation {
    /// The reason, up to 500 characters.
    pub reason: Option<String>,
}

/// Whether giving up a place now falls in the session's late-cancellation period (a place given
/// up then is marked late and may be charged). Pages warn by the same rule.
pub fn within_late_period(
    starts_at: chrono::DateTime<chrono::Utc>,
    late_cancellation_days: i32,
    now: chrono::DateTime<chrono::Utc>,
) -> bool {
    now > starts_at - Duration::days(i64::from(late_cancellation_days))
}

/// Cancels a confirmed or waitlisted booking before the session starts. Giving up a confirmed
/// place within the session's late-cancellation period marks it late (it may be charged).
pub async fn cancel(ctx: &Ctx, id: Uuid, input: BookingCancellation) -> ApiResult<Booking> {
    let clock = &ctx.clock;
    let who = &ctx.who;
    let reason = input
        .reason
        .as_deref()
        .map(clean_text)
        .filter(|r| !r.is_empty());
    if reason.as_ref().is_some_and(|r| r.chars().count() > 500) {
        return Err(ApiError::invalid(
            "reason",
            "must be at most 500 characters",
        ));
    }
    let now = clock.now();
    let txn = ctx.begin().await?;
    let found = find_reachable(&txn, who, id).await?;
    let mut session = lock(&txn, found.session_id).await?;
    // Read again under the session lock: a concurrent request may have changed it.
    let booking = find_reachable(&txn, who, id).await?;
    if !matches!(
        booking.status,
        BookingStatus::Confirmed | BookingStatus::Waitlisted
    ) {
        return Err(refused(
            ProblemKind::BookingNotActive,
            "The booking is not confirmed or waitlisted.",
        ));
    }
    if now >= session.starts_at {
        return Err(refused(
            ProblemKind::SessionStarted,
            "The session has already started; record attendance instead.",
        ));
    }
    let was_confirmed = booking.status == BookingStatus::Confirmed;
    let late =
        was_confirmed && within_late_period(session.starts_at, session.late_cancellation_days, now);
    if was_confirmed {
        session.confirmed_count -= 1;
        if booking.place == Some(Place::Reserved) {
            session.reserved_confirmed -= 1;
        }
    } else {
        session.waitlist_count -= 1;
    }
    let mut model: bookings::ActiveModel = booking.into();
    model.status = Set(BookingStatus::Cancelled);
    model.waitlist_seq = Set(None);
    model.cancelled_at = Set(Some(now));
    model.cancel_reason = Set(reason);
    model.late_cancellation = Set(late);
    model.updated_at = Set(now);
    let cancelled = model.update(&txn).await?;
    crate::domain::events::booking(&txn, "booking.cancelled", &cancelled, now).await?;
    save_counts(&txn, &session, now).await?;
    promote(&txn, &mut session, now).await?;
    let view = views(&txn, vec![cancelled]).await?.remove(0);
    audit::record(
        &txn,
        Change::new("booking", id, "cancel")
            .summary(if late { "cancelled late" } else { "cancelled" })
            .person(view.person_id),
    )
    .await?;
    txn.commit().await?;
    Ok(view)
}

/// The confirmed and waitlisted places of `people` on scheduled sessions yet to start.
pub(crate) async fn future_places(
    db: &impl ConnectionTrait,
    people: &[Uuid],
    now: DateTime<Utc>,
) -> ApiResult<Vec<bookings::Model>> {
    let future = Query::select()
        .column(sessions::Column::Id)
        .from(sessions::Entity)
        .and_where(sessions::Column::Status.eq(SessionStatus::Scheduled))
        .and_where(sessions::Column::StartsAt.gt(now))
        .to_owned();
    Ok(bookings::Entity::find()
        .filter(bookings::Column::PersonId.is_in(people.iter().copied()))
        .filter(bookings::Column::SessionId.in_subquery(future))
        .filter(super::status_among(
            bookings::Column::Status,
            &[BookingStatus::Confirmed, BookingStatus::Waitlisted],
        ))
        .all(db)
        .await?)
}

/// Cancels `places` (never late: their holder did not choose to go) with `reason`, session by
/// session under its lock, and offers each freed place to the waitlist. The caller holds the
/// people's rows (lock order person → session). Returns how many were cancelled.
pub(crate) async fn cancel_places(
    db: &crate::db::WriteTxn,
    places: Vec<bookings::Model>,
    reason: &str,
    now: DateTime<Utc>,
) -> ApiResult<i32> {
    let mut by_session: std::collections::BTreeMap<Uuid, Vec<bookings::Model>> =
        std::collections::BTreeMap::new();
    for b in places {
        by_session.entry(b.session_id).or_default().push(b);
    }
    let mut cancelled = 0;
    for (session_id, list) in by_session {
        let mut session = lock(db, session_id).await?;
        for b in list {
            match b.status {
                BookingStatus::Confirmed => {
                    session.confirmed_count -= 1;
                    if b.place == Some(Place::Reserved) {
                        session.reserved_confirmed -= 1;
                    }
                }
                _ => session.waitlist_count -= 1,
            }
            let mut model: bookings::ActiveModel = b.into();
            model.status = Set(BookingStatus::Cancelled);
            model.cancel_reason = Set(Some(reason.to_owned()));
            model.cancelled_at = Set(Some(now));
            model.waitlist_seq = Set(None);
            model.updated_at = Set(now);
            let gone = model.update(db).await?;
            crate::domain::events::booking(db, "booking.cancelled", &gone, now).await?;
            cancelled += 1;
        }
        save_counts(db, &session, now).await?;
        promote(db, &mut session, now).await?;
    }
    Ok(cancelled)
}
