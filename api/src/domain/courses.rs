//! Courses: what is taught, to whom, for how long, what must come first, how long a certificate
//! lasts and how places are reserved for a sector.

use crate::ctx::Ctx;
use crate::db::FirstRow as _;
use crate::versions::{self, Resource};
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use entities::{course_audiences, course_prerequisites, courses, enums::CourseKind, staff_groups};
use poem_openapi::{Enum, Object, types::MaybeUndefined};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Set,
    sea_query::Query,
};
use uuid::Uuid;
use validator::Validate;

use super::{
    organisations::SectorCode,
    programmes,
    validation::{FieldErrors, check_code, check_text, clean_text, ensure_free},
};
use crate::{
    audit::{self, Change},
    error::{ApiError, ApiResult},
    pagination::{PageRequest, fetch_page},
};

mod rules;
use rules::*;

/// What kind of training a course is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(remote = "entities::enums::CourseKind", rename_all = "snake_case")]
pub enum CourseKindCode {
    /// Trains champions of a programme (e.g. Five to Thrive champion training).
    Champion,
    /// Trains champions to become trainers.
    Trainer,
    /// The light-touch version trainers deliver to the wider workforce.
    Cascade,
    /// An introductory briefing.
    Briefing,
    /// Detailed practitioner training.
    Practitioner,
    /// A leadership cohort.
    Leadership,
    /// Self-paced e-learning.
    Elearning,
}

/// Places of each session held for one sector until shortly before the session.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct ReservedPlacePolicy {
    /// The sector the places are held for (usually `voluntary`).
    pub sector: SectorCode,
    /// The share of each session's capacity held, in basis points: 1000 = 10%. A session holds
    /// ceil(capacity × share) places.
    pub share_bp: i32,
    /// Days before the first sitting when unused reserved places become general (default 14).
    #[oai(default = "default_release_days")]
    pub release_days_before_start: i32,
}

fn default_release_days() -> i32 {
    14
}

/// A course of a programme.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Course {
    /// The course's id.
    pub id: Uuid,
    /// The programme the course belongs to.
    pub programme_id: Uuid,
    /// Short unique code, e.g. `ftt-champion`.
    pub code: String,
    /// The course title as shown on certificates and calendars.
    pub title: String,
    /// What the course covers, for people choosing it.
    pub description: String,
    pub kind: CourseKindCode,
    /// Total taught time in minutes, across all sittings.
    pub duration_minutes: i32,
    /// Continuing-professional-development hours a completion earns.
    pub cpd_hours: f64,
    /// Places a new session of this course offers unless it says otherwise.
    pub default_capacity: i32,
    /// The staff groups the course is meant for; empty means everyone.
    pub audience_staff_group_ids: Vec<Uuid>,
    /// Courses a person must have completed before booking this one.
    pub prerequisite_course_ids: Vec<Uuid>,
    /// How many months a certificate stays valid; none means it does not expire.
    pub certificate_validity_months: Option<i32>,
    /// Places held for one sector; none means every place is general.
    pub reserved_places: Option<ReservedPlacePolicy>,
    /// The most places one organisation may hold in one session; none means no cap.
    pub max_places_per_organisation: Option<i32>,
    /// The share of a session's sittings a person must attend to complete it, in percent.
    pub completion_threshold_percent: i32,
    /// Inactive courses keep their history but cannot be scheduled.
    pub active: bool,
    /// When the course was added.
    pub created_at: DateTime<Utc>,
    /// When the course last changed.
    pub updated_at: DateTime<Utc>,
}

/// A course to add.
#[derive(Debug, Clone, Object, Validate)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct NewCourse {
    /// The programme the course belongs to.
    pub programme_id: Uuid,
    /// Unique code: 2–40 lower-case letters, digits or hyphens.
    pub code: String,
    /// 1–200 characters.
    pub title: String,
    /// Up to 5,000 characters.
    #[oai(default)]
    #[validate(length(max = 5000, message = "must be at most 5000 characters"))]
    pub description: String,
    /// What kind of training the course is.
    pub kind: CourseKindCode,
    /// 15 to 10,080 minutes (a week).
    #[validate(range(
        min = 15,
        max = 10080,
        message = "must be between 15 and 10080 minutes"
    ))]
    pub duration_minutes: i32,
    /// 0 to 200 hours, in quarters of an hour.
    pub cpd_hours: f64,
    /// 1 to 1,000 places.
    #[validate(range(min = 1, max = 1000, message = "must be between 1 and 1000"))]
    pub default_capacity: i32,
    /// Staff groups the course is meant for (at most 50); empty means everyone.
    #[oai(default)]
    #[validate(length(max = 50, message = "must list at most 50 staff groups"))]
    pub audience_staff_group_ids: Vec<Uuid>,
    /// Courses that must be completed first (at most 20).
    #[oai(default)]
    #[validate(length(max = 20, message = "must list at most 20 courses"))]
    pub prerequisite_course_ids: Vec<Uuid>,
    /// 1 to 120 months; omit when certificates do not expire.
    pub certificate_validity_months: Option<i32>,
    /// Places held for one sector; omit for none.
    pub reserved_places: Option<ReservedPlacePolicy>,
    /// At least 1; omit for no cap.
    pub max_places_per_organisation: Option<i32>,
    /// The share of sittings a person must attend to complete the course, 1–100 percent
    /// (default 100: every sitting).
    pub completion_threshold_percent: Option<i32>,
}

/// Changes to a course; omitted fields stay as they are, `null` clears an optional setting, and
/// a list replaces the current one.
#[derive(Debug, Clone, Object, Validate)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct CourseChanges {
    /// New unique code: 2–40 lower-case letters, digits or hyphens.
    pub code: Option<String>,
    /// New title, 1–200 characters.
    pub title: Option<String>,
    /// New description, up to 5,000 characters.
    #[validate(length(max = 5000, message = "must be at most 5000 characters"))]
    pub description: Option<String>,
    /// New kind.
    pub kind: Option<CourseKindCode>,
    /// New total duration: 15 to 10,080 minutes.
    #[validate(range(
        min = 15,
        max = 10080,
        message = "must be between 15 and 10080 minutes"
    ))]
    pub duration_minutes: Option<i32>,
    /// New CPD hours: 0 to 200, in quarters of an hour.
    pub cpd_hours: Option<f64>,
    /// New default capacity of new sessions: 1 to 1,000.
    #[validate(range(min = 1, max = 1000, message = "must be between 1 and 1000"))]
    pub default_capacity: Option<i32>,
    /// Replaces the audience staff groups (at most 50; empty means everyone).
    #[validate(length(max = 50, message = "must list at most 50 staff groups"))]
    pub audience_staff_group_ids: Option<Vec<Uuid>>,
    /// Replaces the prerequisite courses (at most 20).
    #[validate(length(max = 20, message = "must list at most 20 courses"))]
    pub prerequisite_course_ids: Option<Vec<Uuid>>,
    /// New certificate validity (1 to 120 months); `null` means certificates do not expire.
    pub certificate_validity_months: MaybeUndefined<i32>,
    /// New reserved-place policy; `null` makes every place general.
    pub reserved_places: MaybeUndefined<ReservedPlacePolicy>,
    /// New per-organisation cap (at least 1); `null` removes the cap.
    pub max_places_per_organisation: MaybeUndefined<i32>,
    /// New completion threshold, 1–100 percent of sittings.
    pub completion_threshold_percent: Option<i32>,
    /// Set false to retire the course, true to bring it back.
    pub active: Option<bool>,
}

pub async fn create(ctx: &Ctx, input: NewCourse) -> ApiResult<Course> {
    let now = ctx.now();
    let title = clean_text(&input.title);
    let mut errors = FieldErrors::of(&input);
    check_code(&mut errors, "code", &input.code);
    check_text(&mut errors, "title", &title, 200);
    check_settings(
        &mut errors,
        &Settings {
            cpd_hours: Some(input.cpd_hours),
            completion_threshold_percent: input.completion_threshold_percent,
            certificate_validity_months: input.certificate_validity_months,
            reserved_places: input.reserved_places.as_ref(),
            max_places_per_organisation: input.max_places_per_organisation,
        },
    );
    let id = Uuid::now_v7();
    let txn = ctx.begin().await?;
    match programmes::find(&txn, input.programme_id).await {
        Ok(_) => {}
        Err(ApiError::NotFound(_)) => errors.add("programme_id", "no such programme"),
        Err(other) => return Err(other),
    }
    check_links(
        &txn,
        &mut errors,
        id,
        Some(&input.audience_staff_group_ids),
        Some(&input.prerequisite_course_ids),
    )
    .await?;
    errors.finish()?;
    ensure_code_free(&txn, &input.code, None).await?;
    let policy = input.reserved_places.as_ref();
    courses::ActiveModel {
        id: Set(id),
        programme_id: Set(input.programme_id),
        code: Set(input.code),
        title: Set(title),
        description: Set(input.description.trim().to_owned()),
        kind: Set(input.kind.into()),
        duration_minutes: Set(input.duration_minutes),
        cpd_hours: Set(input.cpd_hours),
        default_capacity: Set(input.default_capacity),
        certificate_validity_months: Set(input.certificate_validity_months),
        reserved_sector: Set(policy.map(|p| p.sector.into())),
        reserved_share_bp: Set(policy.map_or(0, |p| p.share_bp)),
        reserved_release_days: Set(
            policy.map_or(default_release_days(), |p| p.release_days_before_start)
        ),
        max_places_per_organisation: Set(input.max_places_per_organisation),
        completion_threshold_percent: Set(input.completion_threshold_percent.unwrap_or(100)),
        active: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    replace_links(
        &txn,
        id,
        Some(&input.audience_staff_group_ids),
        Some(&input.prerequisite_course_ids),
    )
    .await?;
    let course = get(&txn, id).await?;
    audit::record(
        &txn,
        Change::new("course", id, "create").summary(format!("course {}", course.code)),
    )
    .await?;
    txn.commit().await?;
    Ok(course)
}

pub async fn update(
    ctx: &Ctx,
    id: Uuid,
    changes: CourseChanges,
) -> ApiResult<(Course, Option<i64>)> {
    let now = ctx.now();
    let summary = audit::changed(&changes);
    let txn = ctx.begin().await?;
    let current = courses::Entity::find_by_id(id)
        .first(&txn)
        .await?
        .ok_or_else(|| ApiError::not_found("Course"))?;
    ctx.precondition.claim(&txn, Resource::Course(id)).await?;
    let title = changes.title.as_deref().map(clean_text);
    let mut errors = FieldErrors::of(&changes);
    if let Some(code) = &changes.code {
        check_code(&mut errors, "code", code);
    }
    if let Some(title) = &title {
        check_text(&mut errors, "title", title, 200);
    }
    check_settings(
        &mut errors,
        &Settings {
            cpd_hours: changes.cpd_hours,
            completion_threshold_percent: changes.completion_threshold_percent,
            certificate_validity_months: changes.certificate_validity_months.value().copied(),
            reserved_places: changes.reserved_places.value(),
            max_places_per_organisation: changes.max_places_per_organisation.value().copied(),
        },
    );
    check_links(
        &txn,
        &mut errors,
        id,
        changes.audience_staff_group_ids.as_deref(),
        changes.prerequisite_course_ids.as_deref(),
    )
    .await?;
    errors.finish()?;
    if let Some(code) = &changes.code {
        ensure_code_free(&txn, code, Some(id)).await?;
    }
    let mut model: courses::ActiveModel = current.into();
    if let Some(code) = changes.code.clone() {
        model.code = Set(code);
    }
    if let Some(title) = title {
        model.title = Set(title);
    }
    if let Some(description) = &changes.description {
        model.description = Set(description.trim().to_owned());
    }
    if let Some(kind) = changes.kind {
        model.kind = Set(kind.into());
    }
    if let Some(minutes) = changes.duration_minutes {
        model.duration_minutes = Set(minutes);
    }
    if let Some(hours) = changes.cpd_hours {
        model.cpd_hours = Set(hours);
    }
    if let Some(capacity) = changes.default_capacity {
        model.default_capacity = Set(capacity);
    }
    match &changes.certificate_validity_months {
        MaybeUndefined::Undefined => {}
        value => model.certificate_validity_months = Set(value.value().copied()),
    }
    match &changes.reserved_places {
        MaybeUndefined::Undefined => {}
        MaybeUndefined::Null => {
            model.reserved_sector = Set(None);
            model.reserved_share_bp = Set(0);
        }
        MaybeUndefined::Value(policy) => {
            model.reserved_sector = Set(Some(policy.sector.into()));
            model.reserved_share_bp = Set(policy.share_bp);
            model.reserved_release_days = Set(policy.release_days_before_start);
        }
    }
    match &changes.max_places_per_organisation {
        MaybeUndefined::Undefined => {}
        value => model.max_places_per_organisation = Set(value.value().copied()),
    }
    if let Some(percent) = changes.completion_threshold_percent {
        model.completion_threshold_percent = Set(percent);
    }
    if let Some(active) = changes.active {
        model.active = Set(active);
    }
    model.updated_at = Set(now);
    model.update(&txn).await?;
    replace_links(
        &txn,
        id,
        changes.audience_staff_group_ids.as_deref(),
        changes.prerequisite_course_ids.as_deref(),
    )
    .await?;
    let course = get(&txn, id).await?;
    audit::record(&txn, Change::new("course", id, "update").summary(summary)).await?;
    let version = versions::version(&txn, Resource::Course(id)).await?;
    txn.commit().await?;
    Ok((course, version))
}

pub async fn get(db: &impl ConnectionTrait, id: Uuid) -> ApiResult<Course> {
    let model = courses::Entity::find_by_id(id)
        .first(db)
        .await?
        .ok_or_else(|| ApiError::not_found("Course"))?;
    Ok(with_links(db, vec![model]).await?.remove(0))
}

/// Builds course views for a page of rows with two queries, whatever the page size.
async fn with_links(
    db: &impl ConnectionTrait,
    rows: Vec<courses::Model>,
) -> ApiResult<Vec<Course>> {
    let ids: Vec<Uuid> = rows.iter().map(|c| c.id).collect();
    let mut audiences: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for a in course_audiences::Entity::find()
        .filter(course_audiences::Column::CourseId.is_in(ids.clone()))
        .all(db)
        .await?
    {
        audiences
            .entry(a.course_id)
            .or_default()
            .push(a.staff_group_id);
    }
    let mut prereqs: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for p in course_prerequisites::Entity::find()
        .filter(course_prerequisites::Column::CourseId.is_in(ids))
        .all(db)
        .await?
    {
        prereqs
            .entry(p.course_id)
            .or_default()
            .push(p.prerequisite_id);
    }
    Ok(rows
        .into_iter()
        .map(|m| {
            let mut audience = audiences.remove(&m.id).unwrap_or_default();
            audience.sort();
            let mut prerequisite = prereqs.remove(&m.id).unwrap_or_default();
            prerequisite.sort();
            Course {
                id: m.id,
                programme_id: m.programme_id,
                code: m.code,
                title: m.title,
                description: m.description,
                kind: m.kind.into(),
                duration_minutes: m.duration_minutes,
                cpd_hours: m.cpd_hours,
                default_capacity: m.default_capacity,
                audience_staff_group_ids: audience,
                prerequisite_course_ids: prerequisite,
                certificate_validity_months: m.certificate_validity_months,
                reserved_places: m.reserved_sector.map(|sector| ReservedPlacePolicy {
                    sector: sector.into(),
                    share_bp: m.reserved_share_bp,
                    release_days_before_start: m.reserved_release_days,
                }),
                max_places_per_organisation: m.max_places_per_organisation,
                completion_threshold_percent: m.completion_threshold_percent,
                active: m.active,
                created_at: m.created_at,
                updated_at: m.updated_at,
            }
        })
        .collect())
}

/// Filters of the course list.
#[derive(Debug, Default, Clone, Copy)]
pub struct CourseFilter {
    pub programme_id: Option<Uuid>,
    pub kind: Option<CourseKind>,
    pub audience_staff_group_id: Option<Uuid>,
    pub active: Option<bool>,
}

pub async fn list(
    db: &impl ConnectionTrait,
    filter: CourseFilter,
    page: PageRequest,
) -> ApiResult<(Vec<Course>, Option<String>)> {
    let mut select = courses::Entity::find();
    if let Some(programme) = filter.programme_id {
        select = select.filter(courses::Column::ProgrammeId.eq(programme));
    }
    if let Some(kind) = filter.kind {
        select = select.filter(courses::Column::Kind.eq(kind));
    }
    if let Some(group) = filter.audience_staff_group_id {
        select = select.filter(
            courses::Column::Id.in_subquery(
                Query::select()
                    .column(course_audiences::Column::CourseId)
                    .from(course_audiences::Entity)
                    .and_where(course_audiences::Column::StaffGroupId.eq(group))
                    .to_owned(),
            ),
        );
    }
    if let Some(active) = filter.active {
        select = select.filter(courses::Column::Active.eq(active));
    }
    let (rows, next) = fetch_page(
        db,
        select,
        courses::Column::Id,
        page,
        |m| m,
        |m: &courses::Model| m.id,
    )
    .await?;
    Ok((with_links(db, rows).await?, next))
}

/// The titles of courses, by id, in one query (for pages that list sessions or bookings).
pub async fn titles(
    db: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = Uuid>,
) -> ApiResult<std::collections::HashMap<Uuid, String>> {
    Ok(courses::Entity::find()
        .filter(courses::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|c| (c.id, c.title))
        .collect())
}

/// Active courses as (id, title), by title: the choices of a session search.
pub async fn bookable_titles(db: &impl ConnectionTrait) -> ApiResult<Vec<(Uuid, String)>> {
    use sea_orm::{QueryOrder, QuerySelect};
    Ok(courses::Entity::find()
        .select_only()
        .columns([courses::Column::Id, courses::Column::Title])
        .filter(courses::Column::Active.eq(true))
        .order_by_asc(courses::Column::Title)
        .limit(500)
        .into_tuple()
        .all(db)
        .await?)
}

/// Active cascade courses, by title, in one query (the trainer's cascade form).
pub async fn cascade_titles(db: &impl ConnectionTrait) -> ApiResult<Vec<(Uuid, String)>> {
    use sea_orm::{QueryOrder, QuerySelect};
    Ok(courses::Entity::find()
        .select_only()
        .columns([courses::Column::Id, courses::Column::Title])
        .filter(courses::Column::Active.eq(true))
        .filter(courses::Column::Kind.eq(entities::enums::CourseKind::Cascade))
        .order_by_asc(courses::Column::Title)
        .limit(500)
        .into_tuple()
        .all(db)
        .await?)
}
