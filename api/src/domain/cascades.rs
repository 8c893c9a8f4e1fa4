//! Cascade sessions: light-touch sessions trainers deliver to the wider workforce, with named
//! attendance (people in the system, who get completion records) and/or headcounts by
//! organisation and staff group.

use crate::auth::DeliveryScope;
use crate::ctx::Ctx;
use crate::error::refused;
use crate::problem::ProblemKind;
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

/// Checks the input's fields and references, collecting every error.
async fn check(
    db: &impl ConnectionTrait,
    input: &CascadeSessionInput,
    today: NaiveDate,
) -> ApiResult<courses::Model> {
    let mut errors = FieldErrors::default();
    let course = courses::Entity::find_by_id(input.course_id).one(db).await?;
    match &course {
        None => errors.add("course_id", "no such course"),
        Some(c) if c.kind != CourseKind::Cascade => {
            errors.add("course_id", "is not a cascade course")
        }
        Some(_) => {}
    }
    let trainers: HashSet<Uuid> = [Some(input.lead_trainer_id), input.co_trainer_id]
        .into_iter()
        .flatten()
        .collect();
    let found = people::Entity::find()
        .filter(people::Column::Id.is_in(trainers.iter().copied()))
        .count(db)
        .await?;
    errors.check(
        found as usize == trainers.len(),
        "lead_trainer_id",
        "names someone who is not a person",
    );
    errors.check(
        input.co_trainer_id != Some(input.lead_trainer_id),
        "co_trainer_id",
        "must differ from the lead trainer",
    );
    errors.check(
        input.delivered_on <= today,
        "delivered_on",
        "a return cannot be for a future date",
    );
    let time_ok =
        input.start.len() == 5 && chrono::NaiveTime::parse_from_str(&input.start, "%H:%M").is_ok();
    errors.check(time_ok, "start", "must be a time as HH:MM");
    errors.check(
        (15..=480).contains(&input.duration_minutes),
        "duration_minutes",
        "must be between 15 and 480",
    );
    if let Some(notes) = &input.notes {
        errors.check(
            notes.chars().count() <= 2000,
            "notes",
            "must be at most 2000 characters",
        );
    }
    if let Some(locality) = input.locality_id {
        let ok = localities::Entity::find_by_id(locality)
            .one(db)
            .await?
            .is_some();
        errors.check(ok, "locality_id", "no such locality");
    }
    errors.check(
        input.attendee_ids.len() <= 500,
        "attendee_ids",
        "must list at most 500 people",
    );
    let unique: HashSet<Uuid> = input.attendee_ids.iter().copied().collect();
    errors.check(
        unique.len() == input.attendee_ids.len(),
        "attendee_ids",
        "names the same person twice",
    );
    if !unique.is_empty() {
        let found = people::Entity::find()
            .filter(people::Column::Id.is_in(unique.iter().copied()))
            .count(db)
            .await?;
        errors.check(
            found as usize == unique.len(),
            "attendee_ids",
            "names someone who is not a person",
        );
    }
    errors.check(
        input.headcounts.len() <= 100,
        "headcounts",
        "must list at most 100 rows",
    );
    let mut pairs = HashSet::new();
    for (i, h) in input.headcounts.iter().enumerate() {
        errors.check(
            h.count >= 1 && h.count <= 10_000,
            &format!("headcounts[{i}].count"),
            "must be between 1 and 10000",
        );
        errors.check(
            pairs.insert((h.organisation_id, h.staff_group_id)),
            &format!("headcounts[{i}]"),
            "repeats an organisation and staff group",
        );
    }
    let orgs: HashSet<Uuid> = input.headcounts.iter().map(|h| h.organisation_id).collect();
    if !orgs.is_empty() {
        let found = organisations::Entity::find()
            .filter(organisations::Column::Id.is_in(orgs.iter().copied()))
            .count(db)
            .await?;
        errors.check(
            found as usize == orgs.len(),
            "headcounts",
            "names an organisation that does not exist",
        );
    }
    let groups: HashSet<Uuid> = input
        .headcounts
        .iter()
        .filter_map(|h| h.staff_group_id)
        .collect();
    if !groups.is_empty() {
        let found = staff_groups::Entity::find()
            .filter(staff_groups::Column::Id.is_in(groups.iter().copied()))
            .count(db)
            .await?;
        errors.check(
            found as usize == groups.len(),
            "headcounts",
            "names a staff group that does not exist",
        );
    }
    errors.check(
        !input.attendee_ids.is_empty() || !input.headcounts.is_empty(),
        "attendee_ids",
        "a cascade session needs named attendees, headcounts, or both",
    );
    errors.finish()?;
    course.ok_or_else(|| ApiError::not_found("Course"))
}

/// The trainers must be eligible on the day: one accredited and active; the other, if any,
/// accredited or already in the programme's pipeline.
async fn check_eligible(
    db: &impl ConnectionTrait,
    programme_id: Uuid,
    input: &CascadeSessionInput,
) -> ApiResult<()> {
    let pipeline = pipeline_of(db, programme_id).await?;
    let trainers: Vec<Uuid> = [Some(input.lead_trainer_id), input.co_trainer_id]
        .into_iter()
        .flatten()
        .collect();
    let facts = facts_of(db, programme_id, &trainers).await?;
    let standing_of = |p: &Uuid| {
        facts
            .get(p)
            .map(|f| standing(&pipeline, f, input.delivered_on))
    };
    let accredited = |p: &Uuid| standing_of(p).is_some_and(|s| s.state == TrainerState::Accredited);
    let in_pipeline = |p: &Uuid| standing_of(p).is_some_and(|s| s.step.is_some());
    let ok = match input.co_trainer_id {
        None => accredited(&input.lead_trainer_id),
        Some(co) => {
            (accredited(&input.lead_trainer_id) && (accredited(&co) || in_pipeline(&co)))
                || (accredited(&co) && in_pipeline(&input.lead_trainer_id))
        }
    };
    if ok {
        Ok(())
    } else {
        Err(refused(
            ProblemKind::TrainerNotEligible,
            format!(
                "On {} no accredited, active trainer of the programme delivered this session (a trainer in progression may co-deliver with one).",
                input.delivered_on
            ),
        ))
    }
}

/// Writes the attendance rows, and completion records for `newly_named` people.
async fn write_attendance(
    db: &impl ConnectionTrait,
    config: &Config,
    id: Uuid,
    course: &courses::Model,
    input: &CascadeSessionInput,
    newly_named: &HashSet<Uuid>,
    who: &Principal,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    if !input.attendee_ids.is_empty() {
        cascade_attendees::Entity::insert_many(input.attendee_ids.iter().map(|p| {
            cascade_attendees::ActiveModel {
                cascade_session_id: Set(id),
                person_id: Set(*p),
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
            organisation_id: super::events::employer(db, *person).await?,
            certify: true,
        };
        record(db, config, *person, course, input.delivered_on, origin, now).await?;
    }
    Ok(())
}

/// Removes a session's attendance rows. The completions it gave people who are no longer named
/// (all but `still_named`) are deleted and their certificates revoked.
async fn clear_attendance(
    db: &impl ConnectionTrait,
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
        .one(db)
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
) -> ApiResult<CascadeSession> {
    let clock = &ctx.clock;
    let who = &ctx.who;
    let now = clock.now();
    who.require_cascade_deliverer(input.lead_trainer_id, input.co_trainer_id)?;
    let txn = ctx.begin().await?;
    let current = find_correctable(&txn, who, id, now).await?;
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
    txn.commit().await?;
    Ok(view)
}

/// Deletes a cascade session within the correction window, with the completions it gave.
pub async fn delete(ctx: &Ctx, id: Uuid) -> ApiResult<()> {
    let clock = &ctx.clock;
    let who = &ctx.who;
    let now = clock.now();
    let txn = ctx.begin().await?;
    let current = find_correctable(&txn, who, id, now).await?;
    programmes::lock(&txn, current.programme_id).await?;
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

async fn views(
    db: &impl ConnectionTrait,
    rows: Vec<cascade_sessions::Model>,
) -> ApiResult<Vec<CascadeSession>> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut attendees: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for a in cascade_attendees::Entity::find()
        .filter(cascade_attendees::Column::CascadeSessionId.is_in(ids.clone()))
        .all(db)
        .await?
    {
        attendees
            .entry(a.cascade_session_id)
            .or_default()
            .push(a.person_id);
    }
    let mut counts: HashMap<Uuid, Vec<Headcount>> = HashMap::new();
    for h in cascade_headcounts::Entity::find()
        .filter(cascade_headcounts::Column::CascadeSessionId.is_in(ids))
        .all(db)
        .await?
    {
        counts
            .entry(h.cascade_session_id)
            .or_default()
            .push(Headcount {
                organisation_id: h.organisation_id,
                staff_group_id: h.staff_group_id,
                count: h.count,
            });
    }
    Ok(rows
        .into_iter()
        .map(|m| {
            let mut attendee_ids = attendees.remove(&m.id).unwrap_or_default();
            attendee_ids.sort();
            let headcounts = counts.remove(&m.id).unwrap_or_default();
            let people_reached =
                attendee_ids.len() as i32 + headcounts.iter().map(|h| h.count).sum::<i32>();
            CascadeSession {
                id: m.id,
                course_id: m.course_id,
                programme_id: m.programme_id,
                lead_trainer_id: m.lead_trainer_id,
                co_trainer_id: m.co_trainer_id,
                delivered_on: m.delivered_on,
                start: m.start_time,
                duration_minutes: m.duration_minutes,
                locality_id: m.locality_id,
                mode: m.mode.into(),
                notes: m.notes,
                attendee_ids,
                headcounts,
                people_reached,
                correctable_until: m.created_at + Duration::days(CORRECTION_DAYS),
                created_at: m.created_at,
                updated_at: m.updated_at,
            }
        })
        .collect())
}

async fn get_in(db: &impl ConnectionTrait, id: Uuid) -> ApiResult<CascadeSession> {
    let row = cascade_sessions::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("Cascade session"))?;
    Ok(views(db, vec![row]).await?.remove(0))
}

/// A trainer key reaches only the sessions it delivered (404 for others).
pub async fn get(
    db: &impl ConnectionTrait,
    who: &Principal,
    id: Uuid,
) -> ApiResult<CascadeSession> {
    let view = get_in(db, id).await?;
    if !who.reaches_cascade(view.lead_trainer_id, view.co_trainer_id) {
        return Err(ApiError::not_found("Cascade session"));
    }
    Ok(view)
}

/// Filters of the cascade session list.
#[derive(Debug, Default, Clone, Copy)]
pub struct CascadeFilter {
    pub programme_id: Option<Uuid>,
    pub trainer_id: Option<Uuid>,
    pub locality_id: Option<Uuid>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

pub async fn list(
    db: &impl ConnectionTrait,
    who: &Principal,
    filter: CascadeFilter,
    page: PageRequest,
) -> ApiResult<(Vec<CascadeSession>, Option<String>)> {
    let mut select = cascade_sessions::Entity::find();
    let trainer = match who.delivery_scope() {
        DeliveryScope::DeliveredBy(me) => Some(me),
        DeliveryScope::All | DeliveryScope::Nothing => None,
    };
    for person in [trainer, filter.trainer_id].into_iter().flatten() {
        select = select.filter(
            sea_orm::Condition::any()
                .add(cascade_sessions::Column::LeadTrainerId.eq(person))
                .add(cascade_sessions::Column::CoTrainerId.eq(person)),
        );
    }
    if let Some(programme) = filter.programme_id {
        select = select.filter(cascade_sessions::Column::ProgrammeId.eq(programme));
    }
    if let Some(locality) = filter.locality_id {
        select = select.filter(cascade_sessions::Column::LocalityId.eq(locality));
    }
    if let Some(from) = filter.from {
        select = select.filter(cascade_sessions::Column::DeliveredOn.gte(from));
    }
    if let Some(to) = filter.to {
        select = select.filter(cascade_sessions::Column::DeliveredOn.lte(to));
    }
    let (rows, next) = fetch_page(
        db,
        select,
        cascade_sessions::Column::Id,
        page,
        |m| m,
        |m: &cascade_sessions::Model| m.id,
    )
    .await?;
    Ok((views(db, rows).await?, next))
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
