//! Changing and cancelling a scheduled session.

use crate::ctx::Ctx;
use crate::problem::ProblemKind;
use crate::versions::{self, Resource};
use chrono::{DateTime, Utc};
use entities::{
    enums::{BookingStatus, SessionStatus},
    session_facilitators, sessions,
};
use poem_openapi::{Object, types::MaybeUndefined};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;
use validator::Validate;

use super::{
    Session, SittingInput, Venue, check_people_and_groups, check_venue, check_window,
    default_close, get, lock, parse_sittings, release_at, replace_links, replace_sittings,
    waitlist::{cancel_all, promote},
};
use crate::{
    audit::{self, Change},
    domain::validation::{FieldErrors, clean_text},
    error::{ApiError, ApiResult},
};

/// Changes to a scheduled session; omitted fields stay as they are, `null` clears an optional
/// field, and a list replaces the current one. Changes a calendar must show raise `revision`.
#[derive(Debug, Clone, Object, Validate)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct SessionChanges {
    /// Replaces every sitting (1 to 20, not overlapping, in the future).
    pub sittings: Option<Vec<SittingInput>>,
    /// The venue; `null` makes the session online only (it then needs `online_url`).
    pub venue: MaybeUndefined<Venue>,
    /// The joining link; `null` removes it (the session then needs a venue).
    pub online_url: MaybeUndefined<String>,
    /// Places, 1–1,000, not below the confirmed bookings. Raising it offers places to the
    /// waitlist at once.
    pub capacity: Option<i32>,
    /// Replaces the facilitators (active people, at most 20).
    #[validate(length(max = 20, message = "must list at most 20 facilitators"))]
    pub facilitator_ids: Option<Vec<Uuid>>,
    /// Replaces the audience staff groups (at most 50).
    #[validate(length(max = 50, message = "must list at most 50 staff groups"))]
    pub audience_staff_group_ids: Option<Vec<Uuid>>,
    /// When booking opens; `null` opens it now.
    pub booking_opens_at: MaybeUndefined<DateTime<Utc>>,
    /// When booking closes. When sittings move and this is omitted, booking closes 3 days before
    /// the new first sitting.
    pub booking_closes_at: Option<DateTime<Utc>>,
    /// Days before the first sitting within which a cancellation is late, 0–60.
    pub late_cancellation_days: Option<i32>,
}

/// Why a session is being cancelled.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct SessionCancellation {
    /// The reason, 1–500 characters; shown to people whose places are withdrawn.
    pub reason: String,
}

fn not_scheduled(session: &sessions::Model) -> ApiError {
    ApiError::Rule {
        kind: ProblemKind::SessionNotScheduled,
        detail: format!(
            "The session is {:?} and can no longer be changed.",
            session.status
        )
        .to_lowercase(),
    }
}

pub async fn update(
    ctx: &Ctx,
    id: Uuid,
    changes: SessionChanges,
) -> ApiResult<(Session, Option<i64>)> {
    let clock = &ctx.clock;
    let summary = audit::changed(&changes);
    let now = clock.now();
    let txn = ctx.begin().await?;
    let mut current = lock(&txn, id).await?;
    if current.status != SessionStatus::Scheduled {
        return Err(not_scheduled(&current));
    }
    ctx.precondition.claim(&txn, Resource::Session(id)).await?;
    let mut errors = FieldErrors::of(&changes);
    let parsed = changes
        .sittings
        .as_ref()
        .map(|s| parse_sittings(&mut errors, s, now));
    let venue = match &changes.venue {
        MaybeUndefined::Undefined => current.venue_name.clone().map(|name| Venue {
            name,
            address: current.venue_address.clone(),
            locality_id: current.locality_id,
        }),
        other => other.value().cloned(),
    };
    let online_url = match &changes.online_url {
        MaybeUndefined::Undefined => current.online_url.clone(),
        other => other.value().cloned(),
    };
    errors.check(
        venue.is_some() || online_url.is_some(),
        "venue",
        "a session needs a venue, an online link, or both",
    );
    check_venue(
        &txn,
        &mut errors,
        changes.venue.value(),
        changes.online_url.value().map(String::as_str),
    )
    .await?;
    check_people_and_groups(
        &txn,
        &mut errors,
        changes.facilitator_ids.as_deref(),
        changes.audience_staff_group_ids.as_deref(),
    )
    .await?;
    if let Some(capacity) = changes.capacity {
        errors.check(
            (1..=1000).contains(&capacity),
            "capacity",
            "must be between 1 and 1000",
        );
    }
    let (starts_at, ends_at) = match &parsed {
        Some(p) if !p.0.is_empty() => (p.starts_at(), p.ends_at()),
        _ => (current.starts_at, current.ends_at),
    };
    let closes = changes.booking_closes_at.unwrap_or(if parsed.is_some() {
        default_close(starts_at)
    } else {
        current.booking_closes_at
    });
    let opens = match &changes.booking_opens_at {
        MaybeUndefined::Undefined => current.booking_opens_at,
        other => other.value().copied(),
    };
    let late_days = changes
        .late_cancellation_days
        .unwrap_or(current.late_cancellation_days);
    check_window(&mut errors, opens, closes, starts_at, late_days);
    errors.finish()?;
    if let Some(capacity) = changes.capacity
        && capacity < current.confirmed_count
    {
        return Err(ApiError::Rule {
            kind: ProblemKind::CapacityBelowConfirmed,
            detail: format!(
                "The session has {} confirmed places; capacity cannot go below that.",
                current.confirmed_count
            ),
        });
    }

    let facilitators_changed = match &changes.facilitator_ids {
        None => false,
        Some(ids) => {
            let mut new: Vec<Uuid> = ids.clone();
            new.sort();
            new.dedup();
            let mut old: Vec<Uuid> = session_facilitators::Entity::find()
                .filter(session_facilitators::Column::SessionId.eq(id))
                .all(&txn)
                .await?
                .into_iter()
                .map(|f| f.person_id)
                .collect();
            old.sort();
            new != old
        }
    };
    let venue_name = venue.as_ref().map(|v| clean_text(&v.name));
    let venue_address = venue
        .as_ref()
        .and_then(|v| v.address.as_ref().map(|a| a.trim().to_owned()));
    let locality_id = venue.as_ref().and_then(|v| v.locality_id);
    let visible_change = parsed.is_some()
        || venue_name != current.venue_name
        || venue_address != current.venue_address
        || locality_id != current.locality_id
        || online_url != current.online_url
        || facilitators_changed;

    current.venue_name = venue_name;
    current.venue_address = venue_address;
    current.locality_id = locality_id;
    current.online_url = online_url;
    current.capacity = changes.capacity.unwrap_or(current.capacity);
    current.booking_opens_at = opens;
    current.booking_closes_at = closes;
    current.late_cancellation_days = late_days;
    if visible_change {
        current.revision += 1;
    }
    if parsed.is_some() {
        current.starts_at = starts_at;
        current.ends_at = ends_at;
        let release = release_at(
            current.reserved_sector,
            current.starts_at,
            current.reserved_release_days,
        );
        if release != current.reserved_release_at {
            current.reserved_release_at = release;
            current.release_settled = release.is_none();
        }
    }
    current.updated_at = now;
    let mut model: sessions::ActiveModel = current.clone().into();
    for column in [
        sessions::Column::VenueName,
        sessions::Column::VenueAddress,
        sessions::Column::LocalityId,
        sessions::Column::OnlineUrl,
        sessions::Column::Capacity,
        sessions::Column::BookingOpensAt,
        sessions::Column::BookingClosesAt,
        sessions::Column::LateCancellationDays,
        sessions::Column::Revision,
        sessions::Column::StartsAt,
        sessions::Column::EndsAt,
        sessions::Column::ReservedReleaseAt,
        sessions::Column::ReleaseSettled,
        sessions::Column::UpdatedAt,
    ] {
        model.reset(column);
    }
    model.update(&txn).await?;
    if let Some(parsed) = &parsed {
        replace_sittings(&txn, id, parsed).await?;
    }
    replace_links(
        &txn,
        id,
        changes.facilitator_ids.as_deref(),
        changes.audience_staff_group_ids.as_deref(),
    )
    .await?;
    promote(&txn, &mut current, now).await?;
    if visible_change {
        let data = serde_json::json!({ "session_id": id, "revision": current.revision });
        crate::domain::events::emit(&txn, "session.updated", None, id, data, now).await?;
    }
    let session = get(&txn, clock, id).await?;
    audit::record(&txn, Change::new("session", id, "update").summary(summary)).await?;
    let version = versions::version(&txn, Resource::Session(id)).await?;
    txn.commit().await?;
    Ok((session, version))
}

/// Cancels a session: every confirmed and waitlisted booking is cancelled with the reason
/// `session_cancelled`, and the session's revision rises so calendars remove it.
pub async fn cancel(ctx: &Ctx, id: Uuid, input: SessionCancellation) -> ApiResult<Session> {
    let clock = &ctx.clock;
    let now = clock.now();
    let reason = clean_text(&input.reason);
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ApiError::invalid("reason", "must be 1 to 500 characters"));
    }
    let txn = ctx.begin().await?;
    let current = lock(&txn, id).await?;
    if current.status != SessionStatus::Scheduled {
        return Err(not_scheduled(&current));
    }
    cancel_all(
        &txn,
        id,
        &[BookingStatus::Confirmed, BookingStatus::Waitlisted],
        "session_cancelled",
        now,
    )
    .await?;
    sessions::ActiveModel {
        id: Set(id),
        status: Set(SessionStatus::Cancelled),
        cancel_reason: Set(Some(reason.clone())),
        cancelled_at: Set(Some(now)),
        revision: Set(current.revision + 1),
        confirmed_count: Set(0),
        reserved_confirmed: Set(0),
        waitlist_count: Set(0),
        updated_at: Set(now),
        ..Default::default()
    }
    .update(&txn)
    .await?;
    let data =
        serde_json::json!({ "session_id": id, "revision": current.revision + 1, "reason": reason });
    crate::domain::events::emit(&txn, "session.cancelled", None, id, data, now).await?;
    let session = get(&txn, clock, id).await?;
    audit::record(
        &txn,
        Change::new("session", id, "cancel").summary("session cancelled with its bookings"),
    )
    .await?;
    txn.commit().await?;
    Ok(session)
}
