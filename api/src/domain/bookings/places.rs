//! Which place a booking gets: the rules shared by booking a place and promoting from the
//! waitlist — a reserved place only for the reserved sector, a general one otherwise — and the
//! people a session's sittings would double-book.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use entities::{
    bookings,
    enums::{BookingStatus, Place, Sector},
    sessions, sittings,
};
use sea_orm::{
    ConnectionTrait,
    sea_query::{Expr, ExprTrait, Query},
};
use uuid::Uuid;

use crate::{domain::sessions::Availability, error::ApiResult};

/// Of `people`, those with a confirmed place on another session with a sitting that overlaps one
/// of `times` (one query, whatever the number of people).
pub(crate) async fn clashing_people(
    db: &impl ConnectionTrait,
    session_id: Uuid,
    times: &[(DateTime<Utc>, DateTime<Utc>)],
    people: &[Uuid],
) -> ApiResult<HashSet<Uuid>> {
    let (Some(first), Some(last)) = (
        times.iter().map(|t| t.0).min(),
        times.iter().map(|t| t.1).max(),
    ) else {
        return Ok(HashSet::new());
    };
    if people.is_empty() {
        return Ok(HashSet::new());
    }
    let query = Query::select()
        .column((bookings::Entity, bookings::Column::PersonId))
        .column((sittings::Entity, sittings::Column::StartsAt))
        .column((sittings::Entity, sittings::Column::EndsAt))
        .from(sittings::Entity)
        .inner_join(
            bookings::Entity,
            Expr::col((bookings::Entity, bookings::Column::SessionId))
                .equals((sittings::Entity, sittings::Column::SessionId)),
        )
        .and_where(
            Expr::col((bookings::Entity, bookings::Column::PersonId)).is_in(people.iter().copied()),
        )
        .and_where(
            Expr::col((bookings::Entity, bookings::Column::Status)).eq(BookingStatus::Confirmed),
        )
        .and_where(Expr::col((bookings::Entity, bookings::Column::SessionId)).ne(session_id))
        .and_where(Expr::col((sittings::Entity, sittings::Column::StartsAt)).lt(last))
        .and_where(Expr::col((sittings::Entity, sittings::Column::EndsAt)).gt(first))
        .to_owned();
    let mut clashing = HashSet::new();
    for row in db.query_all(&query).await? {
        let person: Uuid = row.try_get("", "person_id")?;
        let start: DateTime<Utc> = row.try_get("", "starts_at")?;
        let end: DateTime<Utc> = row.try_get("", "ends_at")?;
        if times.iter().any(|(s, e)| start < *e && end > *s) {
            clashing.insert(person);
        }
    }
    Ok(clashing)
}

/// Confirmed places per organisation in a session.
pub(crate) async fn confirmed_by_organisation(
    db: &impl ConnectionTrait,
    session_id: Uuid,
) -> ApiResult<HashMap<Uuid, i64>> {
    let query = Query::select()
        .column(bookings::Column::OrganisationId)
        .expr_as(Expr::col(bookings::Column::Id).count(), "places")
        .from(bookings::Entity)
        .and_where(Expr::col(bookings::Column::SessionId).eq(session_id))
        .and_where(Expr::col(bookings::Column::Status).eq(BookingStatus::Confirmed))
        .group_by_col(bookings::Column::OrganisationId)
        .to_owned();
    let mut out = HashMap::new();
    for row in db.query_all(&query).await? {
        out.insert(
            row.try_get::<Uuid>("", "organisation_id")?,
            row.try_get::<i64>("", "places")?,
        );
    }
    Ok(out)
}

/// Which place a person of `sector` would take now, if any.
pub(crate) fn place_for(
    session: &sessions::Model,
    availability: &Availability,
    sector: Sector,
) -> Option<Place> {
    if availability.reserved_free > 0 && session.reserved_sector == Some(sector) {
        Some(Place::Reserved)
    } else if availability.general_free > 0 {
        Some(Place::General)
    } else {
        None
    }
}
