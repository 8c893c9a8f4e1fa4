//! Bookings: a person on a session, holding a general or reserved place, or waiting.

use crate::db::FirstRow as _;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entities::{bookings, enums::BookingStatus, session_facilitators};
use poem_openapi::{Enum, Object};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    sea_query::{Alias, Expr, ExprTrait, Query, QueryStatementBuilder, SimpleExpr},
};
use uuid::Uuid;

use crate::{
    auth::{PeopleScope, Principal},
    error::{ApiError, ApiResult},
    pagination::{PageRequest, fetch_page},
};

pub(crate) mod cancel;
mod create;
pub(crate) mod places;

pub use cancel::{BookingCancellation, cancel, within_late_period};
pub(crate) use create::create_in;
pub use create::{
    Arrival, BatchBooking, BookingOutcome, NewBooking, NewBookings, create, create_many, walk_in,
    would_get_place,
};

/// `status IN (…)` of `bookings` with the statuses written into the statement, for the
/// booking path's queries: `bookings` has partial indexes on status (`ux_bookings_active_person`:
/// confirmed or waitlisted; `ux_bookings_waitlist_seq`: waitlisted), and a bound value compared
/// with a partial index's condition makes SQLite plan the statement again every time it runs.
pub(crate) fn status_among(
    column: impl sea_orm::sea_query::IntoColumnRef,
    statuses: &[BookingStatus],
) -> SimpleExpr {
    use sea_orm::ActiveEnum;
    Expr::col(column).is_in(
        statuses
            .iter()
            .map(|s| Expr::cust(format!("'{}'", s.to_value()))),
    )
}

/// Where a booking stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(remote = "entities::enums::BookingStatus", rename_all = "snake_case")]
pub enum BookingStatusCode {
    /// Holds a place.
    Confirmed,
    /// Waiting for a place; see `waitlist_position`.
    Waitlisted,
    /// Withdrawn by the person, their partner or a coordinator, or by a session cancellation.
    Cancelled,
    /// Attended and completed the session (present at enough sittings).
    Attended,
    /// Attended some sittings, but not enough to complete the session.
    Partial,
    /// Did not attend.
    NoShow,
}

/// Which kind of place a booking holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(remote = "entities::enums::Place", rename_all = "snake_case")]
pub enum PlaceKind {
    /// An ordinary place anyone may take.
    General,
    /// A place held for the course's reserved sector.
    Reserved,
}

/// A person's place (or wait) on a session.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Booking {
    /// The booking's id.
    pub id: Uuid,
    /// The session booked.
    pub session_id: Uuid,
    /// The session's course.
    pub course_id: Uuid,
    /// Who the place is for.
    pub person_id: Uuid,
    /// The organisation the place is booked for: the person's employer, which partner reports and
    /// charges count against.
    pub organisation_id: Uuid,
    pub status: BookingStatusCode,
    /// The place held while confirmed (kept after cancellation or attendance, for reports).
    pub place: Option<PlaceKind>,
    /// Position on the waitlist, from 1, while waitlisted.
    pub waitlist_position: Option<i32>,
    /// When the booking was made.
    pub booked_at: DateTime<Utc>,
    /// When it got its place.
    pub confirmed_at: Option<DateTime<Utc>>,
    /// When it was promoted from the waitlist, if it was.
    pub promoted_at: Option<DateTime<Utc>>,
    /// When it was cancelled.
    pub cancelled_at: Option<DateTime<Utc>>,
    /// Why it was cancelled; `session_cancelled` when the session was.
    pub cancel_reason: Option<String>,
    /// Whether a confirmed place was given up within the session's late-cancellation period.
    pub late_cancellation: bool,
    /// When the booking last changed.
    pub updated_at: DateTime<Utc>,
}

/// Builds booking views, computing waitlist positions with one query.
pub(crate) async fn views(
    db: &impl ConnectionTrait,
    rows: Vec<bookings::Model>,
) -> ApiResult<Vec<Booking>> {
    let waiting: Vec<Uuid> = rows
        .iter()
        .filter(|b| b.status == BookingStatus::Waitlisted)
        .map(|b| b.id)
        .collect();
    let positions = waitlist_positions(db, waiting).await?;
    Ok(rows
        .into_iter()
        .map(|b| {
            let position = positions.get(&b.id).copied();
            Booking::of(b, position)
        })
        .collect())
}

impl Booking {
    /// The view of a booking row, given its place in the waitlist when it waits.
    pub(crate) fn of(b: bookings::Model, waitlist_position: Option<i32>) -> Self {
        Booking {
            id: b.id,
            session_id: b.session_id,
            course_id: b.course_id,
            person_id: b.person_id,
            organisation_id: b.organisation_id,
            status: b.status.into(),
            place: b.place.map(Into::into),
            waitlist_position,
            booked_at: b.booked_at,
            confirmed_at: b.confirmed_at,
            promoted_at: b.promoted_at,
            cancelled_at: b.cancelled_at,
            cancel_reason: b.cancel_reason,
            late_cancellation: b.late_cancellation,
            updated_at: b.updated_at,
        }
    }
}

/// Each waiting booking's place in its session's queue, counted in the database from the
/// waitlist index (one query, and no waiting rows loaded, however long the queue).
async fn waitlist_positions(
    db: &impl ConnectionTrait,
    ids: Vec<Uuid>,
) -> ApiResult<HashMap<Uuid, i32>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let ahead = Alias::new("ahead");
    let count = Query::select()
        .expr(Expr::col((ahead.clone(), bookings::Column::Id)).count())
        .from_as(bookings::Entity, ahead.clone())
        .and_where(
            Expr::col((ahead.clone(), bookings::Column::SessionId))
                .equals((bookings::Entity, bookings::Column::SessionId)),
        )
        .and_where(
            Expr::col((ahead.clone(), bookings::Column::Status)).eq(BookingStatus::Waitlisted),
        )
        .and_where(
            Expr::col((ahead, bookings::Column::WaitlistSeq))
                .lte(Expr::col((bookings::Entity, bookings::Column::WaitlistSeq))),
        )
        .to_owned();
    let query = Query::select()
        .column((bookings::Entity, bookings::Column::Id))
        .expr_as(
            SimpleExpr::SubQuery(None, Box::new(count.into_sub_query_statement())),
            "position",
        )
        .from(bookings::Entity)
        .and_where(Expr::col((bookings::Entity, bookings::Column::Id)).is_in(ids))
        .to_owned();
    let mut out = HashMap::new();
    for row in db.query_all(&query).await? {
        let position: i64 = row.try_get("", "position")?;
        out.insert(
            row.try_get::<Uuid>("", "id")?,
            i32::try_from(position).unwrap_or(i32::MAX),
        );
    }
    Ok(out)
}

/// Finds a booking the caller may reach, or 404.
pub(crate) async fn find_reachable(
    db: &impl ConnectionTrait,
    who: &Principal,
    id: Uuid,
) -> ApiResult<bookings::Model> {
    bookings::Entity::find_by_id(id)
        .first(db)
        .await?
        .filter(|b| who.reaches_booking(b.person_id, b.organisation_id))
        .ok_or_else(|| ApiError::not_found("Booking"))
}

/// Whether the caller is a trainer facilitating the session (they see its whole register).
async fn facilitates(
    db: &impl ConnectionTrait,
    who: &Principal,
    session_id: Uuid,
) -> ApiResult<bool> {
    Ok(match who.people_scope() {
        PeopleScope::Person(me) => session_facilitators::Entity::find_by_id((session_id, me))
            .first(db)
            .await?
            .is_some(),
        _ => false,
    })
}

/// Reads one booking: those the caller reaches, and every booking of a session it facilitates
/// (as its list shows them).
pub async fn get(db: &impl ConnectionTrait, who: &Principal, id: Uuid) -> ApiResult<Booking> {
    let booking = bookings::Entity::find_by_id(id)
        .first(db)
        .await?
        .ok_or_else(|| ApiError::not_found("Booking"))?;
    if !who.reaches_booking(booking.person_id, booking.organisation_id)
        && !facilitates(db, who, booking.session_id).await?
    {
        return Err(ApiError::not_found("Booking"));
    }
    Ok(views(db, vec![booking]).await?.remove(0))
}

/// The bookings of one session the caller may see. Facilitators of the session see them all.
pub async fn list_for_session(
    db: &impl ConnectionTrait,
    who: &Principal,
    session_id: Uuid,
    status: Option<BookingStatus>,
    updated_since: Option<DateTime<Utc>>,
    page: PageRequest,
) -> ApiResult<(Vec<Booking>, Option<String>)> {
    entities::sessions::Entity::find_by_id(session_id)
        .first(db)
        .await?
        .ok_or_else(|| ApiError::not_found("Session"))?;
    let mut select = bookings::Entity::find().filter(bookings::Column::SessionId.eq(session_id));
    match who.people_scope() {
        PeopleScope::All => {}
        PeopleScope::Organisation(org) => {
            select = select.filter(bookings::Column::OrganisationId.eq(org))
        }
        PeopleScope::Person(me) => {
            if !facilitates(db, who, session_id).await? {
                select = select.filter(bookings::Column::PersonId.eq(me));
            }
        }
    }
    if let Some(status) = status {
        select = select.filter(bookings::Column::Status.eq(status));
    }
    if let Some(since) = updated_since {
        select = select.filter(bookings::Column::UpdatedAt.gte(since));
    }
    let (rows, next) = fetch_page(
        db,
        select,
        bookings::Column::Id,
        page,
        |m| m,
        |m: &bookings::Model| m.id,
    )
    .await?;
    Ok((views(db, rows).await?, next))
}

/// A person's bookings, newest last. A partner sees the places booked for its organisation.
pub async fn list_for_person(
    db: &impl ConnectionTrait,
    who: &Principal,
    person_id: Uuid,
    status: Option<BookingStatus>,
    updated_since: Option<DateTime<Utc>>,
    page: PageRequest,
) -> ApiResult<(Vec<Booking>, Option<String>)> {
    super::people::find_visible(db, who, person_id).await?;
    let mut select = bookings::Entity::find().filter(bookings::Column::PersonId.eq(person_id));
    if let PeopleScope::Organisation(org) = who.people_scope() {
        select = select.filter(bookings::Column::OrganisationId.eq(org));
    }
    if let Some(status) = status {
        select = select.filter(bookings::Column::Status.eq(status));
    }
    if let Some(since) = updated_since {
        select = select.filter(bookings::Column::UpdatedAt.gte(since));
    }
    let (rows, next) = fetch_page(
        db,
        select,
        bookings::Column::Id,
        page,
        |m| m,
        |m: &bookings::Model| m.id,
    )
    .await?;
    Ok((views(db, rows).await?, next))
}
