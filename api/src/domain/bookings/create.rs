//! Booking a place: every rule is checked inside one transaction that holds the person's and
//! the session's rows, so concurrent requests (and several replicas) cannot overbook or give a
//! reserved place to the wrong sector.

use crate::ctx::Ctx;
use crate::db::{FirstRow as _, first_statement};
use crate::error::refused;
use crate::problem::ProblemKind;
use chrono::Utc;
use entities::{
    bookings, completions, course_prerequisites, courses,
    enums::{BookingStatus, Place, SessionStatus},
    memberships, organisations, people, sessions,
};
use poem_openapi::Object;
use sea_orm::{
    ColumnTrait, EntityTrait, FromQueryResult, Order, QueryFilter, QuerySelect, QueryTrait, Select,
    sea_query::{
        Alias, Expr, ExprTrait, Query, QueryStatementBuilder, SelectStatement, SimpleExpr,
    },
};
use uuid::Uuid;

use super::{
    Booking,
    places::{clashing, confirmed_by_organisation, place_for},
};
use crate::{
    audit::{self, Change},
    auth::{PeopleScope, Principal},
    clock::Clock,
    domain::{
        people::visible_locked,
        sessions::{
            Availability, locked,
            waitlist::{promote, save_counts},
        },
    },
    error::{ApiError, ApiResult},
};

/// A place to book.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct NewBooking {
    /// The person to book. A partner key may book its own organisation's staff; a learner or
    /// trainer key only itself.
    pub person_id: Uuid,
}

/// The organisation a place is booked for, as a sub-query: a partner books for itself;
/// otherwise the person's primary (else first) active membership.
fn booking_membership(who: &Principal, person_id: Uuid) -> SelectStatement {
    let mut membership = Query::select();
    membership
        .column(memberships::Column::OrganisationId)
        .from(memberships::Entity)
        .and_where(memberships::Column::PersonId.eq(person_id))
        .and_where(memberships::Column::Active.eq(true));
    if let PeopleScope::Organisation(own) = who.people_scope() {
        membership.and_where(memberships::Column::OrganisationId.eq(own));
    }
    membership
        .order_by(memberships::Column::IsPrimary, Order::Desc)
        .order_by(memberships::Column::Id, Order::Asc)
        .limit(1)
        .to_owned()
}

/// The organisations that may book for `person` (none, or the one of [`booking_membership`]).
fn booking_organisations(who: &Principal, person_id: Uuid) -> Select<organisations::Entity> {
    organisations::Entity::find()
        .filter(organisations::Column::Id.in_subquery(booking_membership(who, person_id)))
}

/// Refuses when there is no organisation to book for, or it is inactive.
fn usable(
    organisation: Option<organisations::Model>,
    person: &people::Model,
) -> ApiResult<organisations::Model> {
    let org = organisation.ok_or_else(|| {
        refused(
            ProblemKind::NoOrganisation,
            format!(
                "{} has no current membership of an organisation to book for.",
                person.name
            ),
        )
    })?;
    if !org.active {
        return Err(refused(
            ProblemKind::OrganisationInactive,
            format!("{} is inactive and cannot book places.", org.name),
        ));
    }
    Ok(org)
}

/// Whether booking `person` now would give them a place (rather than a waitlist position), by
/// the same rule [`create`] applies; a page says so before the person books.
pub async fn would_get_place(
    db: &impl sea_orm::ConnectionTrait,
    who: &Principal,
    now: chrono::DateTime<chrono::Utc>,
    session_id: Uuid,
    person: &people::Model,
) -> ApiResult<bool> {
    let session = sessions::Entity::find_by_id(session_id)
        .first(db)
        .await?
        .ok_or_else(|| ApiError::not_found("Session"))?;
    let organisation = usable(
        booking_organisations(who, person.id).first(db).await?,
        person,
    )?;
    Ok(place_for(
        &session,
        &Availability::of(&session, now),
        organisation.sector,
    )
    .is_some())
}

/// How a place is asked for: booked ahead, within the booking window; or at the venue, by the
/// person keeping the register, for someone who walks in once the session has started or
/// booking has closed (a free place only: nobody waits at the door).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    Booked,
    WalkIn,
}

pub async fn create(ctx: &Ctx, session_id: Uuid, input: NewBooking) -> ApiResult<Booking> {
    let clock = &ctx.clock;
    let who = &ctx.who;
    let txn = ctx.begin().await?;
    let view = create_in(&txn, clock, who, session_id, input, Arrival::Booked).await?;
    txn.commit().await?;
    Ok(view)
}

/// A walk-in at the venue ([`Arrival::WalkIn`]): a confirmed place, marked on the register
/// like any other.
pub async fn walk_in(ctx: &Ctx, session_id: Uuid, input: NewBooking) -> ApiResult<Booking> {
    let clock = &ctx.clock;
    let who = &ctx.who;
    let txn = ctx.begin().await?;
    super::super::attendance::require_register_keeper(&txn, who, session_id).await?;
    let view = create_in(&txn, clock, who, session_id, input, Arrival::WalkIn).await?;
    txn.commit().await?;
    Ok(view)
}

/// [`create`] inside the caller's write transaction (a session recorded after the fact books
/// its attendees this way, at the time before it started).
pub(crate) async fn create_in(
    txn: &crate::db::WriteTxn,
    clock: &Clock,
    who: &Principal,
    session_id: Uuid,
    input: NewBooking,
    arrival: Arrival,
) -> ApiResult<Booking> {
    let now = clock.now();
    let backend = sea_orm::ConnectionTrait::get_database_backend(txn);
    // Person first, then session: every booking locks in this order, so two never deadlock.
    // What the rules read about this person is read between them, before the session's row is
    // locked, so bookings of one session wait for each other only for the writes. It rests on
    // the person's row (held) and on what a session never changes (its course) or what may
    // change only as a concurrent edit of it would (its sittings, for a clash, which warns and
    // never refuses); the cap per organisation, which counts the session's places, is read
    // under the lock below. On SQLite the three reads are one call (`db::first_of_each`).
    let mut rows = crate::db::first_of_each(
        txn,
        vec![
            first_statement(backend, visible_locked(who, input.person_id)),
            Standing::statement(backend, who, input.person_id, session_id, now),
            first_statement(backend, locked(session_id)),
        ],
    )
    .await?
    .into_iter();
    let (person, standing, session) = (
        rows.next().flatten(),
        rows.next().flatten(),
        rows.next().flatten(),
    );
    let person = person
        .map(|row| people::Model::from_query_result(&row, ""))
        .transpose()?
        .ok_or_else(|| ApiError::not_found("Person"))?;
    let (organisation, standing) = Standing::of(standing)?;
    let mut session = session
        .map(|row| sessions::Model::from_query_result(&row, ""))
        .transpose()?
        .ok_or_else(|| ApiError::not_found("Session"))?;

    match session.status {
        SessionStatus::Cancelled => {
            return Err(refused(
                ProblemKind::SessionCancelled,
                "The session has been cancelled.",
            ));
        }
        SessionStatus::Completed => {
            return Err(refused(
                ProblemKind::SessionCompleted,
                "The session has already taken place.",
            ));
        }
        SessionStatus::Scheduled => {}
    }
    if arrival == Arrival::WalkIn {
        if now < session.starts_at && now <= session.booking_closes_at {
            return Err(refused(
                ProblemKind::BookingStillOpen,
                "Booking is still open: book the place instead of adding a walk-in.",
            ));
        }
        if now >= session.ends_at {
            return Err(refused(
                ProblemKind::SessionCompleted,
                "The session's last sitting has ended.",
            ));
        }
    } else {
        if now >= session.starts_at {
            return Err(refused(
                ProblemKind::SessionStarted,
                "The session has already started.",
            ));
        }
        if let Some(opens) = session.booking_opens_at
            && now < opens
        {
            return Err(refused(
                ProblemKind::BookingNotOpen,
                format!("Booking opens at {}.", opens.to_rfc3339()),
            ));
        }
        if now > session.booking_closes_at {
            return Err(refused(
                ProblemKind::BookingClosed,
                format!(
                    "Booking closed at {}.",
                    session.booking_closes_at.to_rfc3339()
                ),
            ));
        }
    }
    if !person.active {
        return Err(refused(
            ProblemKind::PersonInactive,
            format!("{} is inactive and cannot be booked.", person.name),
        ));
    }
    let organisation = usable(organisation, &person)?;
    if standing.missing_prerequisites > 0 {
        return Err(prerequisites_missing(txn, &person, session.course_id).await?);
    }
    for (found, kind, what) in [
        (
            standing.booked_here,
            ProblemKind::AlreadyBooked,
            "is already booked or waiting on this session",
        ),
        (
            standing.booked_on_course,
            ProblemKind::AlreadyBookedOnCourse,
            "is already booked or waiting on another upcoming session of this course",
        ),
        (
            standing.clashes,
            ProblemKind::ScheduleClash,
            "already holds a place on a session at an overlapping time",
        ),
    ] {
        if found > 0 {
            return Err(refused(kind, format!("{} {what}.", person.name)));
        }
    }
    if let Some(cap) = standing.cap {
        let held = confirmed_by_organisation(txn, session.id)
            .await?
            .get(&organisation.id)
            .copied()
            .unwrap_or(0);
        if held >= i64::from(cap) {
            return Err(refused(
                ProblemKind::OrganisationCapReached,
                format!(
                    "{} already holds the most places one organisation may hold on this session ({cap}).",
                    organisation.name
                ),
            ));
        }
    }

    // Places that came free with time (a ring-fence released) go to the people already waiting,
    // under this same lock, before a newcomer is placed.
    promote(txn, &mut session, now).await?;
    let place = place_for(
        &session,
        &Availability::of(&session, now),
        organisation.sector,
    );
    let (status, seq) = match place {
        Some(_) => (BookingStatus::Confirmed, None),
        None if arrival == Arrival::WalkIn => {
            return Err(refused(
                ProblemKind::SessionFull,
                "Every place is taken: raise the session's capacity to add a walk-in.",
            ));
        }
        None => (BookingStatus::Waitlisted, Some(session.waitlist_next_seq)),
    };
    // The row is answered as built, so its instants are what the database keeps.
    let at = crate::db::as_stored(now);
    let booking = bookings::Model {
        id: Uuid::now_v7(),
        session_id: session.id,
        course_id: session.course_id,
        person_id: person.id,
        organisation_id: organisation.id,
        status,
        place,
        waitlist_seq: seq,
        booked_by_key_id: Some(who.key_id).filter(|k| !k.is_nil()),
        booked_at: at,
        confirmed_at: place.map(|_| at),
        promoted_at: None,
        cancelled_at: None,
        cancel_reason: None,
        late_cancellation: false,
        charge_waived_reason: None,
        charge_waived_at: None,
        charge_waived_by_key_id: None,
        updated_at: at,
    };
    // Every column is set here, so the row needs no reading back: it is written with the
    // session's counts, the event, the email and the audit record in one go (see `WriteTxn`).
    txn.insert_later(bookings::ActiveModel::from(booking.clone()));
    match place {
        Some(place) => {
            session.confirmed_count += 1;
            if place == Place::Reserved {
                session.reserved_confirmed += 1;
            }
        }
        None => {
            session.waitlist_count += 1;
            session.waitlist_next_seq += 1;
        }
    }
    save_counts(txn, &session, now).await?;
    let kind = if status == BookingStatus::Confirmed {
        "booking.confirmed"
    } else {
        "booking.waitlisted"
    };
    crate::domain::events::booking(txn, kind, &booking, now).await?;
    // A new waiting booking is last in the queue: its position is the count just saved.
    let position = (status == BookingStatus::Waitlisted).then_some(session.waitlist_count);
    let view = Booking::of(booking, position);
    audit::record(
        txn,
        Change::new("booking", view.id, "create")
            .summary(format!("session {session_id}: {:?}", status).to_lowercase())
            .person(input.person_id),
    )
    .await?;
    Ok(view)
}

/// A sub-query as a value.
fn scalar(q: SelectStatement) -> SimpleExpr {
    SimpleExpr::SubQuery(None, Box::new(q.into_sub_query_statement()))
}

/// How many rows a query gives, as a query.
fn count_of(q: SelectStatement) -> SelectStatement {
    Query::select()
        .expr(Expr::cust("COUNT(*)"))
        .from_subquery(q, Alias::new("counted"))
        .to_owned()
}

/// The prerequisites of `course` that `person` has not completed, as a query of their ids:
/// the one place the rule is written (the check counts them, the refusal names them).
fn not_completed(course: SimpleExpr, person: Uuid) -> SelectStatement {
    Query::select()
        .column(course_prerequisites::Column::PrerequisiteId)
        .from(course_prerequisites::Entity)
        .and_where(Expr::col(course_prerequisites::Column::CourseId).eq(course))
        .and_where(
            course_prerequisites::Column::PrerequisiteId.not_in_subquery(
                Query::select()
                    .column(completions::Column::CourseId)
                    .from(completions::Entity)
                    .and_where(completions::Column::PersonId.eq(person))
                    .to_owned(),
            ),
        )
        .to_owned()
}

/// What the rules of a booking read beyond the rows it locks — the organisation it is for,
/// prerequisites not completed, active bookings of the course, confirmed places at overlapping
/// times, the course's cap per organisation — in one statement: the organisation's row with the
/// rest as sub-queries.
#[derive(Default)]
struct Standing {
    missing_prerequisites: i64,
    /// An active booking on this session (while it is upcoming).
    booked_here: i64,
    /// An active booking on another upcoming session of the course.
    booked_on_course: i64,
    /// Confirmed places on other sessions with a sitting overlapping one of this session's.
    clashes: i64,
    cap: Option<i32>,
}

impl Standing {
    /// The statement: the organisation's row with the rest as sub-queries (none when there is
    /// no organisation to book for).
    fn statement(
        backend: sea_orm::DbBackend,
        who: &Principal,
        person_id: Uuid,
        session_id: Uuid,
        now: chrono::DateTime<Utc>,
    ) -> sea_orm::Statement {
        // The session's course, as a sub-query (the session's row is not read yet).
        let course = || {
            scalar(
                Query::select()
                    .column(sessions::Column::CourseId)
                    .from(sessions::Entity)
                    .and_where(sessions::Column::Id.eq(session_id))
                    .to_owned(),
            )
        };
        let upcoming = Alias::new("upcoming");
        let active = |here: bool| {
            Query::select()
                .expr(Expr::col(bookings::Column::Id).count())
                .from(bookings::Entity)
                .and_where(bookings::Column::PersonId.eq(person_id))
                .and_where(Expr::col(bookings::Column::CourseId).eq(course()))
                .and_where(super::status_among(
                    bookings::Column::Status,
                    &[BookingStatus::Confirmed, BookingStatus::Waitlisted],
                ))
                // Correlated, so only this person's few bookings are looked up: as `IN (the
                // upcoming sessions)` both databases listed every scheduled session first.
                .and_where(Expr::exists(
                    Query::select()
                        .expr(Expr::val(1))
                        .from_as(sessions::Entity, upcoming.clone())
                        .and_where(
                            Expr::col((upcoming.clone(), sessions::Column::Id))
                                .equals((bookings::Entity, bookings::Column::SessionId)),
                        )
                        .and_where(
                            Expr::col((upcoming.clone(), sessions::Column::StartsAt)).gt(now),
                        )
                        .and_where(
                            Expr::col((upcoming.clone(), sessions::Column::Status))
                                .eq(SessionStatus::Scheduled),
                        )
                        .to_owned(),
                ))
                .and_where(if here {
                    bookings::Column::SessionId.eq(session_id)
                } else {
                    bookings::Column::SessionId.ne(session_id)
                })
                .to_owned()
        };
        let cap = Query::select()
            .column(courses::Column::MaxPlacesPerOrganisation)
            .from(courses::Entity)
            .and_where(Expr::col(courses::Column::Id).eq(course()))
            .to_owned();
        let query = booking_organisations(who, person_id)
            .expr_as(
                scalar(count_of(not_completed(course(), person_id))),
                "missing",
            )
            .expr_as(scalar(active(true)), "here")
            .expr_as(scalar(active(false)), "on_course")
            .expr_as(
                scalar(count_of(clashing(session_id, &[person_id]))),
                "clashes",
            )
            .expr_as(scalar(cap), "cap")
            .build(backend);
        // The membership sub-query's `LIMIT 1` as a number (see `db::sqlite_literal_limits`).
        crate::db::sqlite_literal_limits(query)
    }

    /// The standing read by [`Standing::statement`], from its row.
    fn of(row: Option<sea_orm::QueryResult>) -> ApiResult<(Option<organisations::Model>, Self)> {
        let Some(row) = row else {
            return Ok((None, Self::default()));
        };
        Ok((
            Some(organisations::Model::from_query_result(&row, "")?),
            Self {
                missing_prerequisites: row.try_get("", "missing")?,
                booked_here: row.try_get("", "here")?,
                booked_on_course: row.try_get("", "on_course")?,
                clashes: row.try_get("", "clashes")?,
                cap: row.try_get("", "cap")?,
            },
        ))
    }
}

/// The refusal naming the prerequisites `person` has not completed (read only when some are
/// missing).
async fn prerequisites_missing(
    db: &impl sea_orm::ConnectionTrait,
    person: &people::Model,
    course_id: Uuid,
) -> ApiResult<ApiError> {
    let mut titles: Vec<String> = courses::Entity::find()
        .filter(courses::Column::Id.in_subquery(not_completed(Expr::val(course_id), person.id)))
        .all(db)
        .await?
        .into_iter()
        .map(|c| format!("{} ({})", c.title, c.code))
        .collect();
    titles.sort();
    Ok(refused(
        ProblemKind::PrerequisitesMissing,
        format!("{} has not completed: {}.", person.name, titles.join(", ")),
    ))
}

/// Several people to book onto one session.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct NewBookings {
    /// The people to book, 1–100, each once, booked in this order (so the last may be
    /// waitlisted when places run out).
    pub person_ids: Vec<Uuid>,
}

/// One person's outcome in a batch booking.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct BookingOutcome {
    /// The person, as sent.
    pub person_id: Uuid,
    /// 201 when booked (confirmed or waitlisted); otherwise the refusal's status.
    pub status: u16,
    /// The booking made.
    pub booking: Option<Booking>,
    /// Why this person was not booked: the problem a single booking would have answered.
    pub problem: Option<crate::error::Problem>,
}

/// What a batch booking did, person by person.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct BatchBooking {
    /// One outcome per person, in the order sent.
    pub results: Vec<BookingOutcome>,
    /// How many got a place.
    pub confirmed: i64,
    /// How many are on the waitlist.
    pub waitlisted: i64,
    /// How many were refused.
    pub refused: i64,
}

/// Books each person in turn, each in its own transaction, under exactly the rules of [`create`].
pub async fn create_many(
    ctx: &Ctx,
    session_id: Uuid,
    input: NewBookings,
) -> ApiResult<BatchBooking> {
    crate::domain::batch::check_people("person_ids", &input.person_ids)?;
    let done = crate::domain::batch::each(&input.person_ids, |person_id| {
        create(ctx, session_id, NewBooking { person_id })
    })
    .await?;
    let mut batch = BatchBooking {
        results: Vec::with_capacity(done.len()),
        confirmed: 0,
        waitlisted: 0,
        refused: 0,
    };
    for (person_id, result) in done {
        batch.results.push(match result {
            Ok(booking) => {
                if booking.status == super::BookingStatusCode::Confirmed {
                    batch.confirmed += 1;
                } else {
                    batch.waitlisted += 1;
                }
                BookingOutcome {
                    person_id,
                    status: 201,
                    booking: Some(booking),
                    problem: None,
                }
            }
            Err(problem) => {
                batch.refused += 1;
                BookingOutcome {
                    person_id,
                    status: problem.status,
                    booking: None,
                    problem: Some(problem),
                }
            }
        });
    }
    Ok(batch)
}
