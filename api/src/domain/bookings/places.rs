//! Which place a booking gets: the rules shared by booking a place and promoting from the
//! waitlist — a reserved place only for the reserved sector, a general one otherwise — and the
//! people a session's sittings would double-book.

use std::collections::{HashMap, HashSet};

use entities::{
    bookings,
    enums::{BookingStatus, Place, Sector},
    sessions, sittings,
};
use sea_orm::{
    ConnectionTrait,
    sea_query::{Alias, Expr, ExprTrait, JoinType, Query, SelectStatement},
};
use uuid::Uuid;

use crate::{domain::sessions::Availability, error::ApiResult};

/// Of `people`, those with a confirmed place on another session with a sitting that overlaps
/// one of the session's sittings, as a query of `person_id`s (one statement, whatever the number
/// of people): the one place the overlap rule is written.
pub(crate) fn clashing(session_id: Uuid, people: &[Uuid]) -> SelectStatement {
    let (theirs, mine) = (Alias::new("theirs"), Alias::new("mine"));
    Query::select()
        .distinct()
        .column((bookings::Entity, bookings::Column::PersonId))
        .from(bookings::Entity)
        .join_as(
            JoinType::InnerJoin,
            sittings::Entity,
            theirs.clone(),
            Expr::col((theirs.clone(), sittings::Column::SessionId))
                .equals((bookings::Entity, bookings::Column::SessionId)),
        )
        .join_as(
            JoinType::InnerJoin,
            sittings::Entity,
            mine.clone(),
            Expr::col((mine.clone(), sittings::Column::SessionId))
                .eq(session_id)
                .and(
                    Expr::col((theirs.clone(), sittings::Column::StartsAt))
                        .lt(Expr::col((mine.clone(), sittings::Column::EndsAt))),
                )
                .and(
                    Expr::col((theirs, sittings::Column::EndsAt))
                        .gt(Expr::col((mine, sittings::Column::StartsAt))),
                ),
        )
        .and_where(
            Expr::col((bookings::Entity, bookings::Column::PersonId)).is_in(people.iter().copied()),
        )
        .and_where(super::status_among(
            (bookings::Entity, bookings::Column::Status),
            &[BookingStatus::Confirmed],
        ))
        .and_where(Expr::col((bookings::Entity, bookings::Column::SessionId)).ne(session_id))
        .to_owned()
}

/// [`clashing`], run.
pub(crate) async fn clashing_people(
    db: &impl ConnectionTrait,
    session_id: Uuid,
    people: &[Uuid],
) -> ApiResult<HashSet<Uuid>> {
    if people.is_empty() {
        return Ok(HashSet::new());
    }
    let mut out = HashSet::new();
    for row in db.query_all(&clashing(session_id, people)).await? {
        out.insert(row.try_get::<Uuid>("", "person_id")?);
    }
    Ok(out)
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
