//! The waitlist: FIFO, and the first waiting person eligible for a freed place gets it, in the
//! same transaction that freed it.

use crate::ctx::Ctx;
use crate::db::FirstRow as _;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entities::{
    bookings, courses,
    enums::{BookingStatus, Place, Sector, SessionStatus},
    organisations, sessions,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QueryTrait, Set, sea_query::Expr,
};
use uuid::Uuid;

use super::{Availability, lock};
use crate::domain::bookings::places::{clashing_people, confirmed_by_organisation, place_for};
use crate::{
    audit::{self, Change},
    error::ApiResult,
};

/// Gives a waiting booking its place (promoted now), with its `booking.promoted` event.
async fn confirm_waiting(
    db: &crate::db::WriteTxn,
    booking: bookings::Model,
    place: Place,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let mut model: bookings::ActiveModel = booking.into();
    model.status = Set(BookingStatus::Confirmed);
    model.place = Set(Some(place));
    model.waitlist_seq = Set(None);
    model.confirmed_at = Set(Some(now));
    model.promoted_at = Set(Some(now));
    model.updated_at = Set(now);
    let promoted = model.update(db).await?;
    crate::domain::events::booking(db, "booking.promoted", &promoted, now).await
}

/// Waiting bookings read at a time while places are offered.
const WAITLIST_PAGE: u64 = 100;

/// Offers free places to the waitlist in order, inside the caller's transaction (which holds the
/// session row). Nobody is promoted once the first sitting has started. Returns the promoted
/// booking ids.
pub(crate) async fn promote(
    db: &crate::db::WriteTxn,
    session: &mut sessions::Model,
    now: DateTime<Utc>,
) -> ApiResult<Vec<Uuid>> {
    if session.status != SessionStatus::Scheduled
        || now >= session.starts_at
        || session.waitlist_count == 0
    {
        return Ok(Vec::new());
    }
    if Availability::of(session, now).free == 0 {
        return Ok(Vec::new());
    }
    // With no general place free, only the reserved sector's people can be placed: read only
    // theirs. The waitlist is read in order, a page at a time, until the places are gone, so a
    // long waitlist of people who cannot take the free places is not read on every booking.
    let reserved_only = Availability::of(session, now).general_free == 0;
    let cap = courses::Entity::find_by_id(session.course_id)
        .first(db)
        .await?
        .and_then(|c| c.max_places_per_organisation);
    let mut per_org = if cap.is_some() {
        confirmed_by_organisation(db, session.id).await?
    } else {
        HashMap::new()
    };
    let mut promoted = Vec::new();
    let mut after: Option<i64> = None;
    while Availability::of(session, now).free > 0 {
        let mut page = bookings::Entity::find()
            .filter(bookings::Column::SessionId.eq(session.id))
            .filter(crate::domain::bookings::status_among(
                bookings::Column::Status,
                &[BookingStatus::Waitlisted],
            ))
            .order_by_asc(bookings::Column::WaitlistSeq);
        if let Some(seq) = after {
            page = page.filter(bookings::Column::WaitlistSeq.gt(seq));
        }
        if let (true, Some(sector)) = (reserved_only, session.reserved_sector) {
            page = page.filter(
                bookings::Column::OrganisationId.in_subquery(
                    sea_orm::sea_query::Query::select()
                        .column(organisations::Column::Id)
                        .from(organisations::Entity)
                        .and_where(organisations::Column::Sector.eq(sector))
                        .to_owned(),
                ),
            );
        }
        let waiting = crate::db::limited(db, page, WAITLIST_PAGE).await?;
        let Some(last) = waiting.last() else {
            break;
        };
        after = last.waitlist_seq;
        let full_page = waiting.len() as u64 == WAITLIST_PAGE;
        let org_ids: Vec<Uuid> = waiting.iter().map(|b| b.organisation_id).collect();
        let sectors: HashMap<Uuid, Sector> = organisations::Entity::find()
            .filter(organisations::Column::Id.is_in(org_ids))
            .all(db)
            .await?
            .into_iter()
            .map(|o| (o.id, o.sector))
            .collect();
        let people: Vec<Uuid> = waiting.iter().map(|b| b.person_id).collect();
        let clashing = clashing_people(db, session.id, &people).await?;
        for booking in waiting {
            let availability = Availability::of(session, now);
            if availability.free == 0 {
                break;
            }
            let Some(sector) = sectors.get(&booking.organisation_id).copied() else {
                continue;
            };
            let Some(place) = place_for(session, &availability, sector) else {
                continue;
            };
            let held = per_org.get(&booking.organisation_id).copied().unwrap_or(0);
            if cap.is_some_and(|cap| held >= i64::from(cap))
                || clashing.contains(&booking.person_id)
            {
                continue;
            }
            let id = booking.id;
            let org = booking.organisation_id;
            confirm_waiting(db, booking, place, now).await?;
            *per_org.entry(org).or_default() += 1;
            session.confirmed_count += 1;
            session.waitlist_count -= 1;
            if place == Place::Reserved {
                session.reserved_confirmed += 1;
            }
            promoted.push(id);
        }
        if !full_page || after.is_none() {
            break;
        }
    }
    if !promoted.is_empty() {
        save_counts(db, session, now).await?;
    }
    Ok(promoted)
}

/// Cancels every booking of a session that is in one of `statuses`, with `reason` (never late),
/// inside the caller's transaction; the caller resets the session's counters.
pub(crate) async fn cancel_all(
    db: &crate::db::WriteTxn,
    session_id: Uuid,
    statuses: &[BookingStatus],
    reason: &str,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let affected = bookings::Entity::find()
        .filter(bookings::Column::SessionId.eq(session_id))
        .filter(bookings::Column::Status.is_in(statuses.iter().copied()))
        .all(db)
        .await?;
    bookings::Entity::update_many()
        .col_expr(
            bookings::Column::Status,
            Expr::value(BookingStatus::Cancelled),
        )
        .col_expr(bookings::Column::CancelReason, Expr::value(reason))
        .col_expr(bookings::Column::CancelledAt, Expr::value(now))
        .col_expr(
            bookings::Column::WaitlistSeq,
            Expr::value(Option::<i64>::None),
        )
        .col_expr(bookings::Column::UpdatedAt, Expr::value(now))
        .filter(bookings::Column::SessionId.eq(session_id))
        .filter(bookings::Column::Status.is_in(statuses.iter().copied()))
        .exec(db)
        .await?;
    for mut b in affected {
        b.status = BookingStatus::Cancelled;
        b.cancel_reason = Some(reason.to_owned());
        b.cancelled_at = Some(now);
        crate::domain::events::booking(db, "booking.cancelled", &b, now).await?;
    }
    Ok(())
}

/// Writes a session's counters (the caller holds its row).
pub(crate) async fn save_counts(
    db: &crate::db::WriteTxn,
    session: &sessions::Model,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    // The row is locked and the caller holds what it writes: sent with the next statement.
    db.later(
        sessions::Entity::update_many()
            .col_expr(
                sessions::Column::ConfirmedCount,
                Expr::value(session.confirmed_count),
            )
            .col_expr(
                sessions::Column::ReservedConfirmed,
                Expr::value(session.reserved_confirmed),
            )
            .col_expr(
                sessions::Column::WaitlistCount,
                Expr::value(session.waitlist_count),
            )
            .col_expr(
                sessions::Column::WaitlistNextSeq,
                Expr::value(session.waitlist_next_seq),
            )
            .col_expr(sessions::Column::UpdatedAt, Expr::value(now))
            .filter(sessions::Column::Id.eq(session.id))
            .build(db.get_database_backend()),
    );
    Ok(())
}

/// When a session's reserved places have just been released, offers them to the waitlist.
/// Idempotent and safe to run from several replicas: the session row is locked and the
/// `release_settled` flag is checked again under the lock.
pub async fn settle_release_if_due(ctx: &Ctx, session_id: Uuid) -> ApiResult<()> {
    let db = &ctx.db;
    let clock = &ctx.clock;
    let now = clock.now();
    let due = sessions::Entity::find_by_id(session_id)
        .first(db)
        .await?
        .is_some_and(|s| !s.release_settled && s.reserved_release_at.is_some_and(|at| at <= now));
    if !due {
        return Ok(());
    }
    let txn = ctx.begin().await?;
    let mut session = lock(&txn, session_id).await?;
    if !session.release_settled && session.reserved_release_at.is_some_and(|at| at <= now) {
        promote(&txn, &mut session, now).await?;
        sessions::Entity::update_many()
            .col_expr(sessions::Column::ReleaseSettled, Expr::value(true))
            .filter(sessions::Column::Id.eq(session_id))
            .exec(&txn)
            .await?;
        audit::record(
            &txn,
            Change::new("session", session_id, "release_reserved")
                .summary("unclaimed reserved places released to the waitlist"),
        )
        .await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Settles every release that has come due (run periodically by `cascade serve`).
pub async fn settle_due_releases(ctx: &Ctx) -> ApiResult<usize> {
    let due = sessions::Entity::find()
        .filter(sessions::Column::ReleaseSettled.eq(false))
        .filter(sessions::Column::ReservedReleaseAt.lte(ctx.now()))
        .all(&ctx.db)
        .await?;
    for session in &due {
        settle_release_if_due(ctx, session.id).await?;
    }
    Ok(due.len())
}

/// A coordinator moves one person off the waitlist, ahead of its order: they take a free place
/// if the rules give them one, otherwise the session gains a place for them (capacity + 1, at
/// most 1,000). Only before the first sitting starts; emailed as a promotion.
pub async fn give_place(ctx: &Ctx, booking_id: Uuid) -> ApiResult<Uuid> {
    use crate::{error::refused, problem::ProblemKind};
    let now = ctx.clock.now();
    let txn = ctx.begin().await?;
    let booking = bookings::Entity::find_by_id(booking_id)
        .first(&txn)
        .await?
        .ok_or_else(|| crate::error::ApiError::not_found("Booking"))?;
    let mut session = lock(&txn, booking.session_id).await?;
    // Read again under the session's lock: a promotion may have just taken it.
    let booking = bookings::Entity::find_by_id(booking_id)
        .first(&txn)
        .await?
        .ok_or_else(|| crate::error::ApiError::not_found("Booking"))?;
    if booking.status != BookingStatus::Waitlisted {
        return Err(refused(
            ProblemKind::BookingNotActive,
            "The booking is not on the waitlist.",
        ));
    }
    if session.status != SessionStatus::Scheduled || now >= session.starts_at {
        return Err(refused(
            ProblemKind::SessionStarted,
            "The session has started or is no longer scheduled.",
        ));
    }
    let sector = organisations::Entity::find_by_id(booking.organisation_id)
        .first(&txn)
        .await?
        .map_or(Sector::Other, |o| o.sector);
    if !clashing_people(&txn, session.id, &[booking.person_id])
        .await?
        .is_empty()
    {
        return Err(refused(
            ProblemKind::ScheduleClash,
            "They hold a place on a session at an overlapping time.",
        ));
    }
    let mut added = false;
    let place = match place_for(&session, &Availability::of(&session, now), sector) {
        Some(place) => place,
        None => {
            if session.capacity >= 1000 {
                return Err(refused(
                    ProblemKind::SessionFull,
                    "The session already has 1,000 places.",
                ));
            }
            session.capacity += 1;
            added = true;
            Place::General
        }
    };
    confirm_waiting(&txn, booking, place, now).await?;
    session.confirmed_count += 1;
    session.waitlist_count -= 1;
    if place == Place::Reserved {
        session.reserved_confirmed += 1;
    }
    if added {
        sessions::ActiveModel {
            id: Set(session.id),
            capacity: Set(session.capacity),
            ..Default::default()
        }
        .update(&txn)
        .await?;
    }
    save_counts(&txn, &session, now).await?;
    audit::record(
        &txn,
        Change::new("booking", booking_id, "give_place").summary(if added {
            format!(
                "moved off the waitlist; capacity raised to {}",
                session.capacity
            )
        } else {
            "moved off the waitlist into a free place".to_owned()
        }),
    )
    .await?;
    txn.commit().await?;
    Ok(booking_id)
}
