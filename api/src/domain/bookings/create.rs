//! Booking a place: every rule is checked inside one transaction that holds the person's and
//! the session's rows, so concurrent requests (and several replicas) cannot overbook or give a
//! reserved place to the wrong sector.

use crate::ctx::Ctx;
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
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    sea_query::{Expr, ExprTrait, Query},
};
use uuid::Uuid;

use super::{
    Booking,
    places::{clashing_people, confirmed_by_organisation, place_for},
    views,
};
use crate::{
    audit::{self, Change},
    auth::{PeopleScope, Principal},
    clock::Clock,
    domain::{
        people::find_visible,
        sessions::{
            Availability, lock,
            waitlist::{promote, save_counts, sittings_of},
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

/// The organisation a place is booked for: a partner books for itself; otherwise the person's
/// primary (else first) active membership.
async fn booking_organisation(
    db: &impl sea_orm::ConnectionTrait,
    who: &Principal,
    person: &people::Model,
) -> ApiResult<organisations::Model> {
    let mut q = memberships::Entity::find()
        .filter(memberships::Column::PersonId.eq(person.id))
        .filter(memberships::Column::Active.eq(true));
    if let PeopleScope::Organisation(own) = who.people_scope() {
        q = q.filter(memberships::Column::OrganisationId.eq(own));
    }
    let membership = q
        .order_by_desc(memberships::Column::IsPrimary)
        .order_by_asc(memberships::Column::Id)
        .one(db)
        .await?
        .ok_or_else(|| {
            refused(
                ProblemKind::NoOrganisation,
                format!(
                    "{} has no current membership of an organisation to book for.",
                    person.name
                ),
            )
        })?;
    let org = organisations::Entity::find_by_id(membership.organisation_id)
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("Organisation"))?;
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
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("Session"))?;
    let organisation = booking_organisation(db, who, person).await?;
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
    find_visible(txn, who, input.person_id).await?;
    // Person first, then session: every booking locks in this order, so two never deadlock.
    let person = people::Entity::find_by_id(input.person_id)
        .lock_exclusive()
        .one(txn)
        .await?
        .ok_or_else(|| ApiError::not_found("Person"))?;
    let mut session = lock(txn, session_id).await?;

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
    let organisation = booking_organisation(txn, who, &person).await?;
    check_prerequisites(txn, &person, session.course_id).await?;
    check_not_booked(txn, &person, &session, now).await?;
    let times = sittings_of(txn, session.id).await?;
    if !clashing_people(txn, session.id, &times, &[person.id])
        .await?
        .is_empty()
    {
        return Err(refused(
            ProblemKind::ScheduleClash,
            format!(
                "{} already holds a place on a session at an overlapping time.",
                person.name
            ),
        ));
    }
    let course = courses::Entity::find_by_id(session.course_id)
        .one(txn)
        .await?
        .ok_or_else(|| ApiError::not_found("Course"))?;
    if let Some(cap) = course.max_places_per_organisation {
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
    let id = Uuid::now_v7();
    let booking = bookings::ActiveModel {
        id: Set(id),
        session_id: Set(session.id),
        course_id: Set(session.course_id),
        person_id: Set(person.id),
        organisation_id: Set(organisation.id),
        status: Set(status),
        place: Set(place),
        waitlist_seq: Set(seq),
        booked_by_key_id: Set(Some(who.key_id).filter(|k| !k.is_nil())),
        booked_at: Set(now),
        confirmed_at: Set(place.map(|_| now)),
        promoted_at: Set(None),
        cancelled_at: Set(None),
        cancel_reason: Set(None),
        late_cancellation: Set(false),
        charge_waived_reason: Set(None),
        charge_waived_at: Set(None),
        charge_waived_by_key_id: Set(None),
        updated_at: Set(now),
    }
    .insert(txn)
    .await?;
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
    let view = views(txn, vec![booking]).await?.remove(0);
    audit::record(
        txn,
        Change::new("booking", view.id, "create")
            .summary(format!("session {session_id}: {:?}", status).to_lowercase())
            .person(input.person_id),
    )
    .await?;
    Ok(view)
}

async fn check_prerequisites(
    db: &impl sea_orm::ConnectionTrait,
    person: &people::Model,
    course_id: Uuid,
) -> ApiResult<()> {
    let required: Vec<Uuid> = course_prerequisites::Entity::find()
        .filter(course_prerequisites::Column::CourseId.eq(course_id))
        .all(db)
        .await?
        .into_iter()
        .map(|p| p.prerequisite_id)
        .collect();
    if required.is_empty() {
        return Ok(());
    }
    let done: Vec<Uuid> = completions::Entity::find()
        .filter(completions::Column::PersonId.eq(person.id))
        .filter(completions::Column::CourseId.is_in(required.clone()))
        .all(db)
        .await?
        .into_iter()
        .map(|c| c.course_id)
        .collect();
    let missing: Vec<Uuid> = required.into_iter().filter(|c| !done.contains(c)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut titles: Vec<String> = courses::Entity::find()
        .filter(courses::Column::Id.is_in(missing))
        .all(db)
        .await?
        .into_iter()
        .map(|c| format!("{} ({})", c.title, c.code))
        .collect();
    titles.sort();
    Err(refused(
        ProblemKind::PrerequisitesMissing,
        format!("{} has not completed: {}.", person.name, titles.join(", ")),
    ))
}

/// Refuses a second active booking on this session, or on another upcoming session of the course.
async fn check_not_booked(
    db: &impl sea_orm::ConnectionTrait,
    person: &people::Model,
    session: &sessions::Model,
    now: chrono::DateTime<Utc>,
) -> ApiResult<()> {
    let active = bookings::Entity::find()
        .filter(bookings::Column::PersonId.eq(person.id))
        .filter(bookings::Column::CourseId.eq(session.course_id))
        .filter(
            bookings::Column::Status.is_in([BookingStatus::Confirmed, BookingStatus::Waitlisted]),
        )
        .filter(
            bookings::Column::SessionId.in_subquery(
                Query::select()
                    .column(sessions::Column::Id)
                    .from(sessions::Entity)
                    .and_where(Expr::col(sessions::Column::StartsAt).gt(now))
                    .and_where(Expr::col(sessions::Column::Status).eq(SessionStatus::Scheduled))
                    .to_owned(),
            ),
        )
        .all(db)
        .await?;
    if active.iter().any(|b| b.session_id == session.id) {
        return Err(refused(
            ProblemKind::AlreadyBooked,
            format!(
                "{} is already booked or waiting on this session.",
                person.name
            ),
        ));
    }
    if !active.is_empty() {
        return Err(refused(
            ProblemKind::AlreadyBookedOnCourse,
            format!(
                "{} is already booked or waiting on another upcoming session of this course.",
                person.name
            ),
        ));
    }
    Ok(())
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
