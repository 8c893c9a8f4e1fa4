//! Cascade sessions: light-touch sessions trainers deliver to the wider workforce, with named
//! attendance (people in the system, who get completion records) and/or headcounts by
//! organisation and staff group.

use crate::auth::DeliveryScope;
use crate::ctx::Ctx;
use crate::db::FirstRow as _;
use crate::error::refused;
use crate::problem::ProblemKind;
use crate::versions::{self, Resource};
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use entities::{
    cascade_attendees, cascade_headcounts, cascade_sessions, completions, courses,
    enums::{CompletionSource, CourseKind},
    localities, organisations, people, staff_groups,
};
use poem_openapi::{Enum, Object};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QuerySelect, Set,
};
use uuid::Uuid;

use super::{
    completions::{Origin, record},
    programmes,
    reach::rollup,
    sessions::london_today,
    trainers::{self, TrainerState, facts_of, pipeline_of, standing},
    validation::FieldErrors,
};
use crate::{
    audit::{self, Change},
    auth::Principal,
    config::Config,
    error::{ApiError, ApiResult},
    pagination::{PageRequest, fetch_page},
};

mod rules;
mod views;
use rules::*;
pub use views::*;

/// Days after recording during which a cascade session can be corrected or deleted.
pub const CORRECTION_DAYS: i64 = 30;

/// How a cascade session was delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(remote = "entities::enums::DeliveryMode", rename_all = "snake_case")]
pub enum DeliveryModeCode {
    InPerson,
    Online,
}

/// People reached without a named list: a count for one organisation and staff group.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct Headcount {
    /// The organisation the people work for.
    pub organisation_id: Uuid,
    /// Their staff group, if known.
    pub staff_group_id: Option<Uuid>,
    /// How many attended (at least 1).
    pub count: i32,
}

/// A delivered cascade session.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CascadeSession {
    /// The record's id.
    pub id: Uuid,
    /// The cascade course delivered.
    pub course_id: Uuid,
    /// The course's programme.
    pub programme_id: Uuid,
    /// The trainer who led it.
    pub lead_trainer_id: Uuid,
    /// A second trainer, for co-delivery.
    pub co_trainer_id: Option<Uuid>,
    /// The date it was delivered.
    pub delivered_on: NaiveDate,
    /// Local start time in Europe/London, `HH:MM`.
    pub start: String,
    /// Length in minutes.
    pub duration_minutes: i32,
    /// Where it was delivered.
    pub locality_id: Option<Uuid>,
    pub mode: DeliveryModeCode,
    /// Notes from the trainer.
    pub notes: Option<String>,
    /// Named attendees (they receive completion records).
    pub attendee_ids: Vec<Uuid>,
    /// Attendees counted without names.
    pub headcounts: Vec<Headcount>,
    /// Named attendees plus headcounts.
    pub people_reached: i32,
    /// Until when it can be corrected or deleted.
    pub correctable_until: DateTime<Utc>,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// When it was last corrected.
    pub updated_at: DateTime<Utc>,
}

/// A cascade session to record (or, for a correction, its full new content).
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct CascadeSessionInput {
    /// A course of kind `cascade`.
    pub course_id: Uuid,
    /// The trainer who led it: accredited and active on the day, unless the co-trainer is.
    pub lead_trainer_id: Uuid,
    /// A co-trainer: with an accredited trainer, someone in progression co-delivers.
    pub co_trainer_id: Option<Uuid>,
    /// The day it was delivered; not in the future.
    pub delivered_on: NaiveDate,
    /// Local start time in Europe/London, `HH:MM`.
    pub start: String,
    /// 15 to 480 minutes.
    pub duration_minutes: i32,
    /// Where it was delivered.
    pub locality_id: Option<Uuid>,
    pub mode: DeliveryModeCode,
    /// Up to 2,000 characters.
    pub notes: Option<String>,
    /// Named attendees (at most 500), each once.
    #[oai(default)]
    pub attendee_ids: Vec<Uuid>,
    /// Headcounts by organisation and staff group (at most 100 rows).
    #[oai(default)]
    pub headcounts: Vec<Headcount>,
}

/// Writes the attendance rows, and completion records for `newly_named` people.
async fn write_attendance(
    db: &crate::db::WriteTxn,
    config: &Config,
    id: Uuid,
    course: &courses::Model,
    input: &CascadeSessionInput,
    newly_named: &HashSet<Uuid>,
    who: &Principal,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let placed = super::reach::rollup::placed(db, &input.attendee_ids).await?;
    let place = |p: &Uuid| placed.get(p).copied().unwrap_or_default();
    if !input.attendee_ids.is_empty() {
        cascade_attendees::Entity::insert_many(input.attendee_ids.iter().map(|p| {
            cascade_attendees::ActiveModel {
                cascade_session_id: Set(id),
                person_id: Set(*p),
                organisation_id: Set(place(p).0),
                staff_group_id: Set(place(p).1),
            }
        }))
        .exec(db)
        .await?;
    }
    if !input.headcounts.is_empty() {
        cascade_headcounts::Entity::insert_many(input.headcounts.iter().map(|h| {
            cascade_headcounts::ActiveModel {
                id: Set(Uuid::now_v7()),
                cascade_session_id: Set(id),
                organisation_id: Set(h.organisation_id),
                staff_group_id: Set(h.staff_group_id),
                count: Set(h.count),
            }
        }))
        .exec(db)
        .await?;
    }
    for person in input
        .attendee_ids
        .iter()
        .filter(|p| newly_named.contains(p))
    {
        // A named attendee's completion belongs to their employer at the time.
        let origin = Origin {
            source: CompletionSource::CascadeSession,
            source_id: Some(id),
            key_id: Some(who.key_id),
            organisation_id: place(person).0,
            certify: true,
        };
        record(db, config, *person, course, input.delivered_on, origin, now).await?;
    }
    Ok(())
}

/// Removes a session's attendance rows. The completions it gave people who are no longer named
/// (all but `still_named`) are deleted and their certificates revoked.
async fn clear_attendance(
    db: &crate::db::WriteTxn,
    id: Uuid,
    still_named: &HashSet<Uuid>,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    cascade_attendees::Entity::delete_many()
        .filter(cascade_attendees::Column::CascadeSessionId.eq(id))
        .exec(db)
        .await?;
    cascade_headcounts::Entity::delete_many()
        .filter(cascade_headcounts::Column::CascadeSessionId.eq(id))
        .exec(db)
        .await?;
    let withdrawn: Vec<completions::Model> = completions::Entity::find()
        .filter(completions::Column::Source.eq(CompletionSource::CascadeSession))
        .filter(completions::Column::SourceId.eq(id))
        .all(db)
        .await?
        .into_iter()
        .filter(|c| !still_named.contains(&c.person_id))
        .collect();
    if withdrawn.is_empty() {
        return Ok(());
    }
    let keys: Vec<String> = withdrawn
        .iter()
        .map(|c| format!("completion:{}:{}", c.id, c.completed_on))
        .collect();
    let revoked: Vec<entities::certificates::Model> = entities::certificates::Entity::find()
        .filter(entities::certificates::Column::OriginKey.is_in(keys.clone()))
        .filter(entities::certificates::Column::RevokedAt.is_null())
        .all(db)
        .await?;
    entities::certificates::Entity::update_many()
        .col_expr(
            entities::certificates::Column::RevokedAt,
            sea_orm::sea_query::Expr::value(now),
        )
        .col_expr(
            entities::certificates::Column::RevokeReason,
            sea_orm::sea_query::Expr::value("The cascade session's attendance was corrected."),
        )
        .filter(entities::certificates::Column::OriginKey.is_in(keys))
        .filter(entities::certificates::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    for mut c in revoked {
        c.revoked_at = Some(now);
        c.revoke_reason = Some("The cascade session's attendance was corrected.".into());
        super::certificates::certificate_event(db, "certificate.revoked", &c, now).await?;
    }
    completions::Entity::delete_many()
        .filter(completions::Column::Id.is_in(withdrawn.iter().map(|c| c.id)))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn create(
    ctx: &Ctx,
    config: &Config,
    input: CascadeSessionInput,
) -> ApiResult<CascadeSession> {
    let clock = &ctx.clock;
    let who = &ctx.who;
    let now = clock.now();
    who.require_cascade_deliverer(input.lead_trainer_id, input.co_trainer_id)?;
    let txn = ctx.begin().await?;
    let course = check(&txn, &input, london_today(now)).await?;
    programmes::lock(&txn, course.programme_id).await?;
    check_eligible(&txn, course.programme_id, &input).await?;
    let id = Uuid::now_v7();
    cascade_sessions::ActiveModel {
        id: Set(id),
        course_id: Set(course.id),
        programme_id: Set(course.programme_id),
        lead_trainer_id: Set(input.lead_trainer_id),
        co_trainer_id: Set(input.co_trainer_id),
        delivered_on: Set(input.delivered_on),
        start_time: Set(input.start.clone()),
        duration_minutes: Set(input.duration_minutes),
        locality_id: Set(input.locality_id),
        mode: Set(input.mode.into()),
        notes: Set(input.notes.clone()),
        recorded_by_key_id: Set(Some(who.key_id)),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    let everyone: HashSet<Uuid> = input.attendee_ids.iter().copied().collect();
    write_attendance(&txn, config, id, &course, &input, &everyone, who, now).await?;
    rollup::apply(&txn, &[id], 1).await?;
    let trainers: Vec<Uuid> = [Some(input.lead_trainer_id), input.co_trainer_id]
        .into_iter()
        .flatten()
        .collect();
    trainers::refresh_co_delivery(&txn, course.programme_id, &trainers, now).await?;
    let view = get_in(&txn, id).await?;
    audit::record(
        &txn,
        Change::new("cascade_session", id, "create").summary(summary(course.id, &input)),
    )
    .await?;
    txn.commit().await?;
    Ok(view)
}

async fn find_correctable(
    db: &impl ConnectionTrait,
    who: &Principal,
    id: Uuid,
    now: DateTime<Utc>,
) -> ApiResult<cascade_sessions::Model> {
    let current = cascade_sessions::Entity::find_by_id(id)
        .lock_exclusive()
        .first(db)
        .await?
        .ok_or_else(|| ApiError::not_found("Cascade session"))?;
    who.require_cascade_deliverer(current.lead_trainer_id, current.co_trainer_id)?;
    if now > current.created_at + Duration::days(CORRECTION_DAYS) {
        return Err(refused(
            ProblemKind::CorrectionWindowClosed,
            format!(
                "Cascade sessions can be corrected for {CORRECTION_DAYS} days after they are recorded."
            ),
        ));
    }
    Ok(current)
}

/// Replaces a cascade session's content within the correction window.
pub async fn update(
    ctx: &Ctx,
    config: &Config,
    id: Uuid,
    input: CascadeSessionInput,
) -> ApiResult<(CascadeSession, Option<i64>)> {
    let clock = &ctx.clock;
    let who = &ctx.who;
    let now = clock.now();
    who.require_cascade_deliverer(input.lead_trainer_id, input.co_trainer_id)?;
    let txn = ctx.begin().await?;
    let current = find_correctable(&txn, who, id, now).await?;
    ctx.precondition
        .claim(&txn, Resource::CascadeSession(id))
        .await?;
    let course = check(&txn, &input, london_today(now)).await?;
    // Both programmes (when a correction moves the session), always in id order.
    let mut affected = vec![current.programme_id, course.programme_id];
    affected.sort();
    affected.dedup();
    for programme in &affected {
        programmes::lock(&txn, *programme).await?;
    }
    check_eligible(&txn, course.programme_id, &input).await?;
    let named_before: HashSet<Uuid> = cascade_attendees::Entity::find()
        .filter(cascade_attendees::Column::CascadeSessionId.eq(id))
        .all(&txn)
        .await?
        .into_iter()
        .map(|a| a.person_id)
        .collect();
    let named_now: HashSet<Uuid> = input.attendee_ids.iter().copied().collect();
    // A correction that moves the session to another course or day re-records everyone.
    let unchanged = current.course_id == course.id && current.delivered_on == input.delivered_on;
    let still_named: HashSet<Uuid> = if unchanged {
        named_before.intersection(&named_now).copied().collect()
    } else {
        HashSet::new()
    };
    let newly_named: HashSet<Uuid> = named_now.difference(&still_named).copied().collect();
    rollup::apply(&txn, &[id], -1).await?;
    clear_attendance(&txn, id, &still_named, now).await?;
    let mut model: cascade_sessions::ActiveModel = current.clone().into();
    model.course_id = Set(course.id);
    model.programme_id = Set(course.programme_id);
    model.lead_trainer_id = Set(input.lead_trainer_id);
    model.co_trainer_id = Set(input.co_trainer_id);
    model.delivered_on = Set(input.delivered_on);
    model.start_time = Set(input.start.clone());
    model.duration_minutes = Set(input.duration_minutes);
    model.locality_id = Set(input.locality_id);
    model.mode = Set(input.mode.into());
    model.notes = Set(input.notes.clone());
    model.updated_at = Set(now);
    model.update(&txn).await?;
    write_attendance(&txn, config, id, &course, &input, &newly_named, who, now).await?;
    rollup::apply(&txn, &[id], 1).await?;
    let trainers: Vec<Uuid> = [
        Some(current.lead_trainer_id),
        current.co_trainer_id,
        Some(input.lead_trainer_id),
        input.co_trainer_id,
    ]
    .into_iter()
    .flatten()
    .collect();
    trainers::refresh_co_delivery(&txn, current.programme_id, &trainers, now).await?;
    if current.programme_id != course.programme_id {
        trainers::refresh_co_delivery(&txn, course.programme_id, &trainers, now).await?;
    }
    let view = get_in(&txn, id).await?;
    audit::record(
        &txn,
        Change::new("cascade_session", id, "correct").summary(summary(course.id, &input)),
    )
    .await?;
    let version = versions::version(&txn, Resource::CascadeSession(id)).await?;
    txn.commit().await?;
    Ok((view, version))
}

/// Deletes a cascade session within the correction window, with the completions it gave.
pub async fn delete(ctx: &Ctx, id: Uuid) -> ApiResult<()> {
    let clock = &ctx.clock;
    let who = &ctx.who;
    let now = clock.now();
    let txn = ctx.begin().await?;
    let current = find_correctable(&txn, who, id, now).await?;
    programmes::lock(&txn, current.programme_id).await?;
    rollup::apply(&txn, &[id], -1).await?;
    clear_attendance(&txn, id, &HashSet::new(), now).await?;
    cascade_sessions::Entity::delete_by_id(id)
        .exec(&txn)
        .await?;
    let trainers: Vec<Uuid> = [Some(current.lead_trainer_id), current.co_trainer_id]
        .into_iter()
        .flatten()
        .collect();
    trainers::refresh_co_delivery(&txn, current.programme_id, &trainers, now).await?;
    audit::record(
        &txn,
        Change::new("cascade_session", id, "delete").summary(format!(
            "course {}, delivered {}",
            current.course_id, current.delivered_on
        )),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// What the audit log says of a recorded or corrected cascade session: counts, never names.
fn summary(course_id: Uuid, input: &CascadeSessionInput) -> String {
    format!(
        "course {course_id}, delivered {}, {} named attendee(s), {} headcount group(s)",
        input.delivered_on,
        input.attendee_ids.len(),
        input.headcounts.len()
    )
}

/// Named attendees by work email, in one query: the ids found, and the addresses nobody has.
/// For the trainer's form, which takes the addresses a sign-in sheet lists.
pub async fn attendees_by_email(
    db: &impl ConnectionTrait,
    emails: &[String],
) -> ApiResult<(Vec<Uuid>, Vec<String>)> {
    use crate::domain::validation::Email;
    let keys: Vec<String> = emails.iter().map(|e| Email::key_of(e)).collect();
    let found: HashMap<String, Uuid> = entities::people::Entity::find()
        .filter(entities::people::Column::EmailKey.is_in(keys.clone()))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.email_key, p.id))
        .collect();
    let mut ids = Vec::new();
    let mut unknown = Vec::new();
    for (email, key) in emails.iter().zip(keys) {
        match found.get(&key) {
            Some(id) if !ids.contains(id) => ids.push(*id),
            Some(_) => {}
            None => unknown.push(email.clone()),
        }
    }
    Ok((ids, unknown))
}
