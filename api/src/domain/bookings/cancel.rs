//! Cancelling a booking, and offering the freed place to the waitlist in the same transaction.

use chrono::Duration;
use entities::{
    bookings,
    enums::{BookingStatus, Place},
};
use poem_openapi::Object;
use sea_orm::{ActiveModelTrait, DatabaseConnection, Set};
use uuid::Uuid;

use super::{Booking, find_reachable, refused, views};
use crate::{
    audit::{self, Change},
    auth::Principal,
    clock::Clock,
    db::begin_write,
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

/// Cancels a confirmed or waitlisted booking before the session starts. Giving up a confirmed
/// place within the session's late-cancellation period marks it late (it may be charged).
pub async fn cancel(
    db: &DatabaseConnection,
    clock: &Clock,
    who: &Principal,
    id: Uuid,
    input: BookingCancellation,
) -> ApiResult<Booking> {
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
    let txn = begin_write(db).await?;
    let found = find_reachable(&txn, who, id).await?;
    let mut session = lock(&txn, found.session_id).await?;
    // Read again under the session lock: a concurrent request may have changed it.
    let booking = find_reachable(&txn, who, id).await?;
    if !matches!(
        booking.status,
        BookingStatus::Confirmed | BookingStatus::Waitlisted
    ) {
        return Err(refused(
            "booking-not-active",
            "The booking is not confirmed or waitlisted.",
        ));
    }
    if now >= session.starts_at {
        return Err(refused(
            "session-started",
            "The session has already started; record attendance instead.",
        ));
    }
    let was_confirmed = booking.status == BookingStatus::Confirmed;
    let late = was_confirmed
        && now > session.starts_at - Duration::days(i64::from(session.late_cancellation_days));
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
