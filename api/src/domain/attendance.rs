//! Attendance per sitting, and closing a session: each confirmed booking becomes attended,
//! partial or no-show, and attended ones become completion records.

use crate::auth::DeliveryScope;
use crate::ctx::Ctx;
use crate::db::FirstRow as _;
use crate::error::refused;
use crate::problem::ProblemKind;
use crate::versions::{self, Resource};
use std::collections::{HashMap, HashSet};

use entities::{
    attendance, bookings, courses,
    enums::{BookingStatus, CompletionSource, SessionStatus},
    session_facilitators, sessions, sittings,
};
use poem_openapi::Object;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
    sea_query::OnConflict,
};
use uuid::Uuid;

use super::{
    completions::{self, Origin},
    sessions::{self as session_rules, Session, lock, london_today, waitlist::cancel_all},
    validation::FieldErrors,
};
use crate::{
    audit::{self, Change},
    auth::Principal,
    clock::Clock,
    config::Config,
    error::{ApiError, ApiResult},
};

/// One mark: a booking's presence at one sitting.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct AttendanceMark {
    /// A confirmed booking of the session.
    pub booking_id: Uuid,
    /// The sitting's position, from 1.
    pub sitting: i32,
    /// True for present, false for absent.
    pub present: bool,
}

/// Marks to record; a mark sent again replaces the earlier one.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct AttendanceInput {
    /// 1 to 5,000 marks.
    pub marks: Vec<AttendanceMark>,
}

/// One booking's row of the register.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RegisterRow {
    /// The booking.
    pub booking_id: Uuid,
    /// The person booked.
    pub person_id: Uuid,
    /// The booking's status (confirmed until the session is completed).
    pub status: super::bookings::BookingStatusCode,
    /// Per sitting, in order: true present, false absent, null not yet marked.
    pub sittings: Vec<Option<bool>>,
}

/// A session's register.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Register {
    /// The session.
    pub session_id: Uuid,
    /// The number of sittings.
    pub sittings: i32,
    /// The share of sittings needed to complete, in percent (from the course).
    pub completion_threshold_percent: i32,
    /// One row per booking that holds (or held) a place.
    pub rows: Vec<RegisterRow>,
}

/// Coordinators, and trainer keys of the session's facilitators, may keep its register
/// (the rule: [`Principal::require_register_keeper`]).
pub(crate) async fn require_register_keeper(
    db: &impl ConnectionTrait,
    who: &Principal,
    session_id: Uuid,
) -> ApiResult<()> {
    let facilitates = match who.delivery_scope() {
        DeliveryScope::DeliveredBy(me) => {
            session_facilitators::Entity::find_by_id((session_id, me))
                .first(db)
                .await?
                .is_some()
        }
        DeliveryScope::All | DeliveryScope::Nothing => false,
    };
    who.require_register_keeper(facilitates)
}

pub async fn register(
    db: &impl ConnectionTrait,
    who: &Principal,
    session_id: Uuid,
) -> ApiResult<Register> {
    let session = sessions::Entity::find_by_id(session_id)
        .first(db)
        .await?
        .ok_or_else(|| ApiError::not_found("Session"))?;
    require_register_keeper(db, who, session_id).await?;
    let course = courses::Entity::find_by_id(session.course_id)
        .first(db)
        .await?;
    let sittings = sittings::Entity::find()
        .filter(sittings::Column::SessionId.eq(session_id))
        .order_by_asc(sittings::Column::Position)
        .all(db)
        .await?;
    let booked = bookings::Entity::find()
        .filter(bookings::Column::SessionId.eq(session_id))
        .filter(bookings::Column::Status.is_in([
            BookingStatus::Confirmed,
            BookingStatus::Attended,
            BookingStatus::Partial,
            BookingStatus::NoShow,
        ]))
        .order_by_asc(bookings::Column::Id)
        .all(db)
        .await?;
    let marks: HashMap<(Uuid, Uuid), bool> = attendance::Entity::find()
        .filter(attendance::Column::BookingId.is_in(booked.iter().map(|b| b.id)))
        .all(db)
        .await?
        .into_iter()
        .map(|a| ((a.booking_id, a.sitting_id), a.present))
        .collect();
    Ok(Register {
        session_id,
        sittings: sittings.len() as i32,
        completion_threshold_percent: course.map_or(100, |c| c.completion_threshold_percent),
        rows: booked
            .into_iter()
            .map(|b| RegisterRow {
                booking_id: b.id,
                person_id: b.person_id,
                status: b.status.into(),
                sittings: sittings
                    .iter()
                    .map(|s| marks.get(&(b.id, s.id)).copied())
                    .collect(),
            })
            .collect(),
    })
}

/// Records marks (all or nothing). Only for confirmed bookings, sittings that have started, and
/// a session not yet completed or cancelled.
pub async fn record(
    ctx: &Ctx,
    session_id: Uuid,
    input: AttendanceInput,
) -> ApiResult<(Register, Option<i64>)> {
    let clock = &ctx.clock;
    let who = &ctx.who;
    let txn = ctx.begin().await?;
    let register = record_in(&txn, clock, who, &ctx.precondition, session_id, input).await?;
    let version = versions::version(&txn, Resource::Session(session_id)).await?;
    txn.commit().await?;
    Ok((register, version))
}

/// [`record`] inside the caller's write transaction.
pub(crate) async fn record_in(
    txn: &crate::db::WriteTxn,
    clock: &Clock,
    who: &Principal,
    precondition: &versions::Precondition,
    session_id: Uuid,
    input: AttendanceInput,
) -> ApiResult<Register> {
    let now = clock.now();
    let mut errors = FieldErrors::default();
    errors.check(
        (1..=5000).contains(&input.marks.len()),
        "marks",
        "must list 1 to 5000 marks",
    );
    errors.finish()?;
    let session = lock(txn, session_id).await?;
    require_register_keeper(txn, who, session_id).await?;
    if session.status != SessionStatus::Scheduled {
        return Err(refused(
            ProblemKind::SessionNotScheduled,
            "The session is no longer open for attendance.",
        ));
    }
    // The register is the session's: `If-Match` names the session's version.
    precondition
        .claim(txn, Resource::Session(session_id))
        .await?;
    let sittings: HashMap<i32, sittings::Model> = sittings::Entity::find()
        .filter(sittings::Column::SessionId.eq(session_id))
        .all(txn)
        .await?
        .into_iter()
        .map(|s| (s.position, s))
        .collect();
    let confirmed: HashSet<Uuid> = bookings::Entity::find()
        .filter(bookings::Column::SessionId.eq(session_id))
        .filter(bookings::Column::Status.eq(BookingStatus::Confirmed))
        .all(txn)
        .await?
        .into_iter()
        .map(|b| b.id)
        .collect();
    let mut errors = FieldErrors::default();
    let mut rows = Vec::new();
    let mut seen = HashSet::new();
    for (i, mark) in input.marks.iter().enumerate() {
        errors.check(
            confirmed.contains(&mark.booking_id),
            &format!("marks[{i}].booking_id"),
            "is not a confirmed booking of this session",
        );
        match sittings.get(&mark.sitting) {
            None => errors.add(
                format!("marks[{i}].sitting"),
                "the session has no such sitting",
            ),
            Some(s) if s.starts_at > now => {
                errors.add(format!("marks[{i}].sitting"), "has not started yet")
            }
            Some(s) => {
                errors.check(
                    seen.insert((mark.booking_id, s.id)),
                    &format!("marks[{i}]"),
                    "marks the same booking and sitting twice",
                );
                rows.push(attendance::ActiveModel {
                    booking_id: Set(mark.booking_id),
                    sitting_id: Set(s.id),
                    present: Set(mark.present),
                    recorded_by_key_id: Set(Some(who.key_id)),
                    recorded_at: Set(now),
                });
            }
        }
    }
    errors.finish()?;
    attendance::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::columns([attendance::Column::BookingId, attendance::Column::SittingId])
                .update_columns([
                    attendance::Column::Present,
                    attendance::Column::RecordedByKeyId,
                    attendance::Column::RecordedAt,
                ])
                .to_owned(),
        )
        .exec(txn)
        .await?;
    let register = register(txn, who, session_id).await?;
    audit::record(
        txn,
        Change::new("session", session_id, "register")
            .summary(format!("{} attendance mark(s) recorded", input.marks.len())),
    )
    .await?;
    Ok(register)
}

/// Closes a session once its last sitting has ended: confirmed bookings become `attended`
/// (present at the course's threshold share of sittings, which records a completion), `partial`
/// or `no_show` (present at none); anyone still waiting is cancelled.
pub async fn complete(ctx: &Ctx, config: &Config, session_id: Uuid) -> ApiResult<Session> {
    let clock = &ctx.clock;
    let who = &ctx.who;
    let txn = ctx.begin().await?;
    let view = complete_in(&txn, config, clock, who, session_id, true).await?;
    txn.commit().await?;
    Ok(view)
}

/// [`complete`] inside the caller's write transaction; `certify` says whether completions get
/// their certificates (a session recorded after the fact may leave them out).
pub(crate) async fn complete_in(
    txn: &crate::db::WriteTxn,
    config: &Config,
    clock: &Clock,
    who: &Principal,
    session_id: Uuid,
    certify: bool,
) -> ApiResult<Session> {
    let now = clock.now();
    let session = lock(txn, session_id).await?;
    require_register_keeper(txn, who, session_id).await?;
    if session.status != SessionStatus::Scheduled {
        return Err(refused(
            ProblemKind::SessionNotScheduled,
            "The session is already completed or cancelled.",
        ));
    }
    if now < session.ends_at {
        return Err(refused(
            ProblemKind::SessionNotFinished,
            "The session's last sitting has not ended yet.",
        ));
    }
    let course = courses::Entity::find_by_id(session.course_id)
        .first(txn)
        .await?
        .ok_or_else(|| ApiError::not_found("Course"))?;
    super::programmes::lock(txn, course.programme_id).await?;
    let sitting_count = sittings::Entity::find()
        .filter(sittings::Column::SessionId.eq(session_id))
        .all(txn)
        .await?
        .len() as i64;
    let confirmed = bookings::Entity::find()
        .filter(bookings::Column::SessionId.eq(session_id))
        .filter(bookings::Column::Status.eq(BookingStatus::Confirmed))
        .all(txn)
        .await?;
    let mut present: HashMap<Uuid, i64> = HashMap::new();
    for mark in attendance::Entity::find()
        .filter(attendance::Column::BookingId.is_in(confirmed.iter().map(|b| b.id)))
        .filter(attendance::Column::Present.eq(true))
        .all(txn)
        .await?
    {
        *present.entry(mark.booking_id).or_default() += 1;
    }
    let completed_on = london_today(session.ends_at);
    let threshold = i64::from(course.completion_threshold_percent);
    for booking in confirmed {
        let attended = present.get(&booking.id).copied().unwrap_or(0);
        let status = if attended * 100 >= threshold * sitting_count && attended > 0 {
            BookingStatus::Attended
        } else if attended == 0 {
            BookingStatus::NoShow
        } else {
            BookingStatus::Partial
        };
        let person = booking.person_id;
        let organisation_id = booking.organisation_id;
        let mut model: bookings::ActiveModel = booking.into();
        model.status = Set(status);
        model.updated_at = Set(now);
        model.update(txn).await?;
        if status == BookingStatus::Attended {
            let origin = Origin {
                source: CompletionSource::Session,
                source_id: Some(session_id),
                key_id: Some(who.key_id),
                organisation_id: Some(organisation_id),
                certify,
            };
            completions::record(txn, config, person, &course, completed_on, origin, now).await?;
        }
    }
    cancel_all(
        txn,
        session_id,
        &[BookingStatus::Waitlisted],
        "session_completed",
        now,
    )
    .await?;
    sessions::ActiveModel {
        id: Set(session_id),
        status: Set(SessionStatus::Completed),
        waitlist_count: Set(0),
        updated_at: Set(now),
        ..Default::default()
    }
    .update(txn)
    .await?;
    let view = session_rules::get(txn, clock, session_id).await?;
    audit::record(
        txn,
        Change::new("session", session_id, "complete").summary("session completed"),
    )
    .await?;
    Ok(view)
}
