//! Completion records: one per person and course, from a session, a cascade session or an
//! import. They satisfy prerequisites, make champions and move trainers along their pipeline.

use crate::ctx::Ctx;
use crate::db::FirstRow as _;
use chrono::{DateTime, NaiveDate, Utc};
use entities::{completions, courses, enums::CompletionSource};
use poem_openapi::{Enum, Object};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set,
    sea_query::Query,
};
use uuid::Uuid;

use super::{
    people::{find_records_visible, produced_for},
    trainers,
};
use crate::{
    audit::{self, Change},
    auth::Principal,
    config::Config,
    error::{ApiError, ApiResult},
    pagination::{PageRequest, fetch_page},
};

/// How a completion came to be recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(
    remote = "entities::enums::CompletionSource",
    rename_all = "snake_case"
)]
pub enum CompletionSourceCode {
    /// Attendance at a scheduled session.
    Session,
    /// Named attendance at a cascade session.
    CascadeSession,
    /// Imported from another system (e.g. MECC e-learning done elsewhere).
    Imported,
}

/// A person's completion of a course.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Completion {
    /// The record's id.
    pub id: Uuid,
    /// Who completed the course.
    pub person_id: Uuid,
    /// The course completed.
    pub course_id: Uuid,
    /// The date of completion (the latest, when the course was completed again).
    pub completed_on: NaiveDate,
    pub source: CompletionSourceCode,
    /// The session or cascade session it came from.
    pub source_id: Option<Uuid>,
    /// The API key that recorded it (none when Cascade derived it).
    pub recorded_by_key_id: Option<Uuid>,
    /// When it was first recorded.
    pub created_at: DateTime<Utc>,
}

/// A completion done elsewhere, to import.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct NewCompletion {
    /// The person (a partner key: its own staff).
    pub person_id: Uuid,
    /// The course completed.
    pub course_id: Uuid,
    /// When, not in the future.
    pub completed_on: NaiveDate,
}

impl From<completions::Model> for Completion {
    fn from(m: completions::Model) -> Self {
        Self {
            id: m.id,
            person_id: m.person_id,
            course_id: m.course_id,
            completed_on: m.completed_on,
            source: m.source.into(),
            source_id: m.source_id,
            recorded_by_key_id: m.recorded_by_key_id,
            created_at: m.created_at,
        }
    }
}

/// Where a completion came from.
#[derive(Debug, Clone, Copy)]
pub struct Origin {
    pub source: CompletionSource,
    pub source_id: Option<Uuid>,
    pub key_id: Option<Uuid>,
    /// The organisation the completion is produced for (see `completions.organisation_id`).
    pub organisation_id: Option<Uuid>,
    /// Whether a certificate is issued for it (never for imported completions).
    pub certify: bool,
}

/// Records a completion inside the caller's transaction: creates it, or moves its date forward
/// when the course is completed again. Then records the trainer steps it proves.
pub async fn record(
    db: &crate::db::WriteTxn,
    config: &Config,
    person_id: Uuid,
    course: &courses::Model,
    completed_on: NaiveDate,
    origin: Origin,
    now: DateTime<Utc>,
) -> ApiResult<completions::Model> {
    let existing = completions::Entity::find()
        .filter(completions::Column::PersonId.eq(person_id))
        .filter(completions::Column::CourseId.eq(course.id))
        .first(db)
        .await?;
    let model = match existing {
        Some(current) if current.completed_on >= completed_on => current,
        Some(current) => {
            let mut model: completions::ActiveModel = current.into();
            model.completed_on = Set(completed_on);
            model.source = Set(origin.source);
            model.source_id = Set(origin.source_id);
            model.recorded_by_key_id = Set(origin.key_id);
            model.organisation_id = Set(origin.organisation_id);
            model.update(db).await?
        }
        None => {
            completions::ActiveModel {
                id: Set(Uuid::now_v7()),
                person_id: Set(person_id),
                course_id: Set(course.id),
                completed_on: Set(completed_on),
                source: Set(origin.source),
                source_id: Set(origin.source_id),
                recorded_by_key_id: Set(origin.key_id),
                organisation_id: Set(origin.organisation_id),
                created_at: Set(now),
            }
            .insert(db)
            .await?
        }
    };
    if model.completed_on == completed_on && model.source_id == origin.source_id {
        let data = serde_json::json!({
            "completion_id": model.id, "person_id": person_id, "course_id": course.id,
            "completed_on": model.completed_on, "source": model.source, "source_id": model.source_id,
        });
        let org = super::events::employer(db, person_id).await?;
        super::events::emit(db, "completion.recorded", org, model.id, data, now).await?;
    }
    if origin.certify
        && origin.source != CompletionSource::Imported
        && model.source_id == origin.source_id
    {
        super::certificates::issue_for_completion(db, config, &model, course, now).await?;
    }
    trainers::on_completion(db, person_id, course, &model, now).await?;
    Ok(model)
}

/// Imports a completion done elsewhere.
pub async fn import(ctx: &Ctx, config: &Config, input: NewCompletion) -> ApiResult<Completion> {
    let clock = &ctx.clock;
    let who = &ctx.who;
    let now = clock.now();
    let today = crate::domain::sessions::london_today(now);
    let txn = ctx.begin().await?;
    find_records_visible(&txn, who, input.person_id).await?;
    // One writer per person at a time, so two imports of one course make one record; and the
    // programme row, since a completion may derive trainer steps.
    entities::people::Entity::find_by_id(input.person_id)
        .lock_exclusive()
        .first(&txn)
        .await?;
    let course = courses::Entity::find_by_id(input.course_id)
        .first(&txn)
        .await?;
    if let Some(course) = &course {
        super::programmes::lock(&txn, course.programme_id).await?;
    }
    let mut errors = super::validation::FieldErrors::default();
    errors.check(course.is_some(), "course_id", "no such course");
    errors.check(
        input.completed_on <= today,
        "completed_on",
        "must not be in the future",
    );
    errors.finish()?;
    let Some(course) = course else {
        return Err(ApiError::not_found("Course"));
    };
    // A partner imports for the people it employs; the record is its organisation's.
    let organisation_id = match who.people_scope() {
        crate::auth::PeopleScope::Organisation(own) => Some(own),
        _ => super::events::employer(&txn, input.person_id).await?,
    };
    let origin = Origin {
        source: CompletionSource::Imported,
        source_id: None,
        key_id: Some(who.key_id),
        organisation_id,
        certify: false,
    };
    let model = record(
        &txn,
        config,
        input.person_id,
        &course,
        input.completed_on,
        origin,
        now,
    )
    .await?;
    audit::record(
        &txn,
        Change::new("completion", model.id, "import")
            .summary(format!(
                "course {} completed {}",
                course.id, input.completed_on
            ))
            .person(input.person_id),
    )
    .await?;
    txn.commit().await?;
    Ok(model.into())
}

/// Filters of the completion list.
#[derive(Debug, Default, Clone, Copy)]
pub struct CompletionFilter {
    pub person_id: Option<Uuid>,
    pub course_id: Option<Uuid>,
    pub programme_id: Option<Uuid>,
    pub source: Option<CompletionSource>,
}

pub async fn list(
    db: &impl ConnectionTrait,
    who: &Principal,
    filter: CompletionFilter,
    page: PageRequest,
) -> ApiResult<(Vec<Completion>, Option<String>)> {
    let mut select = completions::Entity::find();
    select = select.filter(produced_for(
        who,
        completions::Column::OrganisationId,
        completions::Column::PersonId,
    ));
    if let Some(person) = filter.person_id {
        select = select.filter(completions::Column::PersonId.eq(person));
    }
    if let Some(course) = filter.course_id {
        select = select.filter(completions::Column::CourseId.eq(course));
    }
    if let Some(programme) = filter.programme_id {
        select = select.filter(
            completions::Column::CourseId.in_subquery(
                Query::select()
                    .column(courses::Column::Id)
                    .from(courses::Entity)
                    .and_where(courses::Column::ProgrammeId.eq(programme))
                    .to_owned(),
            ),
        );
    }
    if let Some(source) = filter.source {
        select = select.filter(completions::Column::Source.eq(source));
    }
    fetch_page(
        db,
        select,
        completions::Column::Id,
        page,
        Into::into,
        |c: &Completion| c.id,
    )
    .await
}
