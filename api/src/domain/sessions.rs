//! Sessions: scheduled runs of a course, with their sittings in Europe/London, venue or joining
//! link, capacity, facilitators, audience, booking window and reserved places.

use crate::ctx::Ctx;
use crate::db::FirstRow as _;
use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Europe::London;
use entities::{
    courses,
    enums::{Sector, SessionStatus},
    localities, people, session_audiences, session_facilitators, sessions, sittings, staff_groups,
};
use poem_openapi::{Enum, Object};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    sea_query::{Expr, ExprTrait},
};
use uuid::Uuid;
use validator::Validate;

use super::{
    organisations::SectorCode,
    validation::{FieldErrors, check_text, clean_text},
};
use crate::{
    audit::{self, Change},
    clock::Clock,
    error::{ApiError, ApiResult},
    pagination::{PageRequest, fetch_page},
};

mod create;
mod views;
pub use create::*;
pub use views::*;

pub mod availability;
pub mod changes;
pub mod past;
pub mod preview;
pub mod waitlist;

pub use availability::Availability;
pub use changes::{cancel, update};

const MAX_SITTINGS: usize = 20;
const DEFAULT_CLOSE_DAYS: i64 = 3;
const DEFAULT_LATE_DAYS: i32 = 3;

/// Where a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, serde::Serialize)]
#[oai(remote = "entities::enums::SessionStatus", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum SessionStatusCode {
    /// Planned; open for booking within its booking window.
    Scheduled,
    /// Called off; its bookings were cancelled.
    Cancelled,
    /// Delivered and closed.
    Completed,
}

/// One sitting as sent: a local date with start and end times in Europe/London.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct SittingInput {
    /// The local date, `YYYY-MM-DD`.
    pub date: NaiveDate,
    /// Local start time in Europe/London, `HH:MM`.
    pub start: String,
    /// Local end time in Europe/London, `HH:MM`, after the start on the same day.
    pub end: String,
}

/// One sitting of a session, as both the instant and the wall-clock time people read.
#[derive(Debug, Clone, PartialEq, Eq, Object, serde::Serialize)]
#[oai(skip_serializing_if_is_none)]
pub struct Sitting {
    /// 1-based order within the session.
    pub position: i32,
    /// The local date in Europe/London.
    pub date: NaiveDate,
    /// Local start time in Europe/London, `HH:MM`.
    pub start: String,
    /// Local end time in Europe/London, `HH:MM`.
    pub end: String,
    /// The start as an instant (UTC).
    #[serde(serialize_with = "crate::clock::serde_rfc3339::serialize")]
    pub starts_at: DateTime<Utc>,
    /// The end as an instant (UTC).
    #[serde(serialize_with = "crate::clock::serde_rfc3339::serialize")]
    pub ends_at: DateTime<Utc>,
}

/// Where an in-person session takes place.
#[derive(Debug, Clone, PartialEq, Eq, Object, serde::Serialize)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct Venue {
    /// The venue's name, 1–200 characters.
    pub name: String,
    /// Its postal address, up to 500 characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The locality (community area) it is in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locality_id: Option<Uuid>,
}

/// The ring-fence of a session, fixed from the course's policy when it was scheduled.
#[derive(Debug, Clone, PartialEq, Eq, Object, serde::Serialize)]
#[oai(skip_serializing_if_is_none)]
pub struct SessionReservedPlaces {
    /// The sector the places are held for.
    pub sector: SectorCode,
    /// Places held: ceil(capacity × the course's share).
    pub places: i32,
    /// When unused reserved places become general.
    #[serde(serialize_with = "crate::clock::serde_rfc3339::serialize")]
    pub release_at: DateTime<Utc>,
    /// Whether that moment has passed.
    pub released: bool,
}

/// A scheduled run of a course.
#[derive(Debug, Clone, Object, serde::Serialize)]
#[oai(skip_serializing_if_is_none)]
pub struct Session {
    /// The session's id.
    pub id: Uuid,
    /// The course this session runs.
    pub course_id: Uuid,
    /// The course's programme.
    pub programme_id: Uuid,
    pub status: SessionStatusCode,
    /// Rises on every change a calendar must show (times, venue, link, facilitators, status).
    pub revision: i32,
    /// The sittings in order.
    pub sittings: Vec<Sitting>,
    /// Start of the first sitting.
    #[serde(serialize_with = "crate::clock::serde_rfc3339::serialize")]
    pub starts_at: DateTime<Utc>,
    /// End of the last sitting.
    #[serde(serialize_with = "crate::clock::serde_rfc3339::serialize")]
    pub ends_at: DateTime<Utc>,
    /// Where it takes place, for in-person sessions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub venue: Option<Venue>,
    /// The joining link, for online sessions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub online_url: Option<String>,
    /// Trainers delivering the session (people).
    pub facilitator_ids: Vec<Uuid>,
    /// Staff groups this edition is tailored to; empty means everyone.
    pub audience_staff_group_ids: Vec<Uuid>,
    /// Booking opens at this instant; none means open now.
    #[serde(
        serialize_with = "crate::clock::serde_rfc3339::option::serialize",
        skip_serializing_if = "Option::is_none"
    )]
    pub booking_opens_at: Option<DateTime<Utc>>,
    /// Booking closes at this instant (default 3 days before the first sitting).
    #[serde(serialize_with = "crate::clock::serde_rfc3339::serialize")]
    pub booking_closes_at: DateTime<Utc>,
    /// Cancelling a confirmed place within this many days of the first sitting is late.
    pub late_cancellation_days: i32,
    /// Places held for one sector, if the course reserves any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reserved_places: Option<SessionReservedPlaces>,
    /// Places now: confirmed, held, free and waiting.
    pub availability: Availability,
    /// Why the session was cancelled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<String>,
    /// When it was cancelled.
    #[serde(
        serialize_with = "crate::clock::serde_rfc3339::option::serialize",
        skip_serializing_if = "Option::is_none"
    )]
    pub cancelled_at: Option<DateTime<Utc>>,
    /// When the session was scheduled.
    #[serde(serialize_with = "crate::clock::serde_rfc3339::serialize")]
    pub created_at: DateTime<Utc>,
    /// When the session last changed.
    #[serde(serialize_with = "crate::clock::serde_rfc3339::serialize")]
    pub updated_at: DateTime<Utc>,
}

/// A session to schedule.
#[derive(Debug, Clone, Object, Validate)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct NewSession {
    /// The course to run (active).
    pub course_id: Uuid,
    /// One to 20 sittings; they may not overlap.
    pub sittings: Vec<SittingInput>,
    /// Where it takes place; a session needs a venue, an online link, or both.
    pub venue: Option<Venue>,
    /// The joining link (http or https), for online sessions.
    pub online_url: Option<String>,
    /// Places, 1–1,000 (default: the course's default capacity).
    pub capacity: Option<i32>,
    /// Trainers delivering the session: active people, at most 20.
    #[oai(default)]
    #[validate(length(max = 20, message = "must list at most 20 facilitators"))]
    pub facilitator_ids: Vec<Uuid>,
    /// Staff groups this edition is tailored to (at most 50); empty means everyone.
    #[oai(default)]
    #[validate(length(max = 50, message = "must list at most 50 staff groups"))]
    pub audience_staff_group_ids: Vec<Uuid>,
    /// When booking opens; omit to open at once.
    pub booking_opens_at: Option<DateTime<Utc>>,
    /// When booking closes; default 3 days before the first sitting.
    pub booking_closes_at: Option<DateTime<Utc>>,
    /// Days before the first sitting within which a cancellation is late, 0–60 (default 3).
    pub late_cancellation_days: Option<i32>,
    /// For a course with reserved places: days before the first sitting when unused reserved
    /// places become general, 0–365 (default: the course's). Set it to schedule one session at
    /// short notice without changing the course.
    pub reserved_release_days: Option<i32>,
}

/// Loads a session row for a write, holding it until the transaction ends: `FOR UPDATE` on
/// PostgreSQL; on SQLite the IMMEDIATE transaction already holds the write lock.
pub(crate) async fn lock(db: &impl ConnectionTrait, id: Uuid) -> ApiResult<sessions::Model> {
    locked(id)
        .first(db)
        .await?
        .ok_or_else(|| ApiError::not_found("Session"))
}

/// The select of [`lock`] (for `db::first_of_each`).
pub(crate) fn locked(id: Uuid) -> sea_orm::Select<sessions::Entity> {
    sessions::Entity::find_by_id(id).lock_exclusive()
}
