//! A session that already took place, recorded after the fact in one request (a partnership
//! that adopts Cascade mid-year records the year so far): the session, its bookings, its
//! register and its completion, in one transaction — all of it or none. The live rules run
//! unchanged, each at the moment it would have run: the session is scheduled and its people
//! booked a minute before the first sitting (so booking windows, reserved-place releases and
//! "in the future" checks hold as they did then), and the register is taken and the session
//! completed when the last sitting ended. So champions, trainer steps, reach, funding and
//! charges follow exactly as for a live session. Certificates are issued only when asked for
//! (they were not issued at the time). Every audit record of the request says "recorded after
//! the fact"; the records carry the times of the session, the audit log the time of entry.

use crate::ctx::Ctx;
use std::collections::HashSet;

use chrono::{Duration, Utc};
use poem_openapi::Object;
use uuid::Uuid;

use super::{NewSession, Session, SittingInput, Venue, parse_sittings};
use crate::{
    clock::Clock,
    config::Config,
    domain::{
        attendance::{self, AttendanceInput, AttendanceMark},
        bookings::{self, BookingStatusCode, NewBooking},
        validation::FieldErrors,
    },
    error::{ApiError, ApiResult},
};

/// The most attendees one past session may list (a session's largest capacity).
const MAX_ATTENDEES: usize = 1000;

/// A session that already took place, with who held a place and what they attended.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct PastSession {
    /// The course it ran (active).
    pub course_id: Uuid,
    /// One to 20 sittings, all ended; they may not overlap.
    pub sittings: Vec<SittingInput>,
    /// Where it took place; a session needs a venue, an online link, or both.
    pub venue: Option<Venue>,
    /// The joining link (http or https), for an online session.
    pub online_url: Option<String>,
    /// Places, 1–1,000 (default: the course's default capacity); at least the attendees.
    pub capacity: Option<i32>,
    /// Trainers who delivered it: active people, at most 20.
    #[oai(default)]
    pub facilitator_ids: Vec<Uuid>,
    /// Everyone who held a place, 1–1,000, each once.
    pub attendees: Vec<PastAttendee>,
    /// Whether the completions get certificates (default `false`: none were issued at the
    /// time).
    #[oai(default)]
    pub issue_certificates: bool,
}

/// One person who held a place on a past session.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct PastAttendee {
    /// The person (booked for their employing organisation, as a live booking would be).
    pub person_id: Uuid,
    /// The sittings they attended, by number (1 = the first); empty for a no-show.
    #[oai(default)]
    pub attended_sittings: Vec<i32>,
}

/// A refusal of one attendee's booking, naming the attendee.
fn for_attendee(i: usize, person: Uuid, err: ApiError) -> ApiError {
    match err {
        ApiError::Rule { kind, detail } => ApiError::Rule {
            kind,
            detail: format!("attendees[{i}] ({person}): {detail}"),
        },
        ApiError::NotFound(_) => ApiError::invalid(
            format!("attendees[{i}].person_id"),
            "no such person, or not one you may book",
        ),
        other => other,
    }
}

/// Records a past session, its bookings, register and completion in one transaction.
pub async fn record(ctx: &Ctx, config: &Config, input: PastSession) -> ApiResult<Session> {
    let clock = &ctx.clock;
    let who = &ctx.who;
    let now = clock.now();
    let mut errors = FieldErrors::default();
    // The sittings' instants (their own checks run when the session is created, below).
    let parsed = parse_sittings(
        &mut FieldErrors::default(),
        &input.sittings,
        chrono::DateTime::<Utc>::MIN_UTC,
    );
    let sitting_count = input.sittings.len() as i32;
    if !parsed.0.is_empty() && parsed.ends_at() > now {
        errors.add(
            "sittings",
            "must all have ended: schedule a session that is still to come with POST /sessions",
        );
    }
    errors.check(
        (1..=MAX_ATTENDEES).contains(&input.attendees.len()),
        "attendees",
        &format!("must list 1 to {MAX_ATTENDEES} people"),
    );
    let mut seen = HashSet::new();
    for (i, a) in input.attendees.iter().enumerate() {
        errors.check(
            seen.insert(a.person_id),
            &format!("attendees[{i}].person_id"),
            "lists this person twice",
        );
        errors.check(
            a.attended_sittings
                .iter()
                .all(|n| (1..=sitting_count).contains(n)),
            &format!("attendees[{i}].attended_sittings"),
            &format!("must be sitting numbers from 1 to {sitting_count}"),
        );
    }
    errors.finish()?;
    let (starts_at, ends_at) = (parsed.starts_at(), parsed.ends_at());
    let before = Clock::manual(starts_at - Duration::minutes(1));
    let after = Clock::manual(ends_at);

    let txn = ctx.after_the_fact().begin().await?;
    let session = super::create_in(
        &txn,
        &before,
        NewSession {
            course_id: input.course_id,
            sittings: input.sittings,
            venue: input.venue,
            online_url: input.online_url,
            capacity: input.capacity,
            facilitator_ids: input.facilitator_ids,
            audience_staff_group_ids: Vec::new(),
            booking_opens_at: None,
            booking_closes_at: Some(starts_at),
            late_cancellation_days: Some(0),
            reserved_release_days: None,
        },
    )
    .await?;
    let mut marks = Vec::new();
    for (i, a) in input.attendees.iter().enumerate() {
        let booking = bookings::create_in(
            &txn,
            &before,
            who,
            session.id,
            NewBooking {
                person_id: a.person_id,
            },
            bookings::Arrival::Booked,
        )
        .await
        .map_err(|e| for_attendee(i, a.person_id, e))?;
        if booking.status != BookingStatusCode::Confirmed {
            return Err(ApiError::invalid(
                "capacity",
                format!(
                    "is {}, fewer than the {} attendees",
                    session.availability.capacity,
                    input.attendees.len()
                ),
            ));
        }
        marks.extend((1..=sitting_count).map(|n| AttendanceMark {
            booking_id: booking.id,
            sitting: n,
            present: a.attended_sittings.contains(&n),
        }));
    }
    attendance::record_in(
        &txn,
        &after,
        who,
        &crate::versions::Precondition::none(),
        session.id,
        AttendanceInput { marks },
    )
    .await?;
    let done = attendance::complete_in(
        &txn,
        config,
        &after,
        who,
        session.id,
        input.issue_certificates,
    )
    .await?;
    txn.commit().await?;
    Ok(done)
}
