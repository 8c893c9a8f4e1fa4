//! A programme's trainer pipeline: read and changed by coordinators; a programme without its own
//! uses the default (Five to Thrive's).

use crate::ctx::Ctx;
use crate::db::FirstRow as _;
use crate::versions::{self, Resource};
use entities::pipeline_steps;
use poem_openapi::Object;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use uuid::Uuid;

use super::{RENEWED, StepKindCode};
use crate::{
    audit::{self, Change},
    domain::{programmes, validation::FieldErrors},
    error::ApiResult,
};

/// One step of a trainer pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct PipelineStep {
    /// The step's code: 2–40 lower-case letters, digits or underscores (e.g. `observed`).
    pub code: String,
    pub kind: StepKindCode,
    /// For `co_delivery`: cascade sessions to co-deliver with an accredited trainer (1–20).
    pub min_sessions: Option<i32>,
    /// For `accreditation`: licence length in months (1–60).
    pub licence_months: Option<i32>,
}

/// A programme's pipeline.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Pipeline {
    /// The programme.
    pub programme_id: Uuid,
    /// True when the programme uses the default pipeline (it has not set its own).
    pub default: bool,
    /// The steps in order.
    pub steps: Vec<PipelineStep>,
}

/// A pipeline to set.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct PipelineInput {
    /// The steps in order (1–12).
    pub steps: Vec<PipelineStep>,
}

fn step(
    code: &str,
    kind: StepKindCode,
    min_sessions: Option<i32>,
    licence_months: Option<i32>,
) -> PipelineStep {
    PipelineStep {
        code: code.to_owned(),
        kind,
        min_sessions,
        licence_months,
    }
}

/// Five to Thrive's pipeline, the default for every programme.
pub fn default_pipeline() -> Vec<PipelineStep> {
    vec![
        step("champion", StepKindCode::Champion, None, None),
        step("nominated", StepKindCode::Manual, None, None),
        step(
            "trainer_course_completed",
            StepKindCode::TrainerCourse,
            None,
            None,
        ),
        step("co_delivered", StepKindCode::CoDelivery, Some(2), None),
        step("observed", StepKindCode::SignOff, None, None),
        step("accredited", StepKindCode::Accreditation, None, Some(12)),
    ]
}

pub async fn pipeline_of(
    db: &impl ConnectionTrait,
    programme_id: Uuid,
) -> ApiResult<Vec<PipelineStep>> {
    let rows = pipeline_steps::Entity::find()
        .filter(pipeline_steps::Column::ProgrammeId.eq(programme_id))
        .order_by_asc(pipeline_steps::Column::Position)
        .all(db)
        .await?;
    if rows.is_empty() {
        return Ok(default_pipeline());
    }
    Ok(rows
        .into_iter()
        .map(|r| PipelineStep {
            code: r.code,
            kind: r.kind.into(),
            min_sessions: r.min_sessions,
            licence_months: r.licence_months,
        })
        .collect())
}

pub async fn get(db: &impl ConnectionTrait, programme_id: Uuid) -> ApiResult<Pipeline> {
    programmes::find(db, programme_id).await?;
    let custom = pipeline_steps::Entity::find()
        .filter(pipeline_steps::Column::ProgrammeId.eq(programme_id))
        .first(db)
        .await?
        .is_some();
    Ok(Pipeline {
        programme_id,
        default: !custom,
        steps: pipeline_of(db, programme_id).await?,
    })
}

/// Replaces a programme's pipeline. Automatic steps keep their meaning; statuses are recomputed
/// from recorded steps on the next read.
pub async fn put(
    ctx: &Ctx,
    programme_id: Uuid,
    input: PipelineInput,
) -> ApiResult<(Pipeline, Option<i64>)> {
    let mut errors = FieldErrors::default();
    errors.check(
        (1..=12).contains(&input.steps.len()),
        "steps",
        "must list 1 to 12 steps",
    );
    let mut seen = std::collections::HashSet::new();
    for (i, s) in input.steps.iter().enumerate() {
        let field = |name: &str| format!("steps[{i}].{name}");
        let code_ok = (2..=40).contains(&s.code.len())
            && s.code
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && s.code != RENEWED;
        errors.check(
            code_ok,
            &field("code"),
            "must be 2–40 lower-case letters, digits or underscores, and not `renewed`",
        );
        errors.check(seen.insert(s.code.clone()), &field("code"), "appears twice");
        match s.kind {
            StepKindCode::CoDelivery => errors.check(
                s.min_sessions.is_some_and(|n| (1..=20).contains(&n)),
                &field("min_sessions"),
                "a co_delivery step needs min_sessions between 1 and 20",
            ),
            _ => errors.check(
                s.min_sessions.is_none(),
                &field("min_sessions"),
                "only a co_delivery step has min_sessions",
            ),
        }
        match s.kind {
            StepKindCode::Accreditation => {
                errors.check(
                    s.licence_months.is_some_and(|n| (1..=60).contains(&n)),
                    &field("licence_months"),
                    "an accreditation step needs licence_months between 1 and 60",
                );
                errors.check(
                    i + 1 == input.steps.len(),
                    &field("kind"),
                    "accreditation must be the last step",
                );
            }
            _ => errors.check(
                s.licence_months.is_none(),
                &field("licence_months"),
                "only an accreditation step has licence_months",
            ),
        }
        if s.kind == StepKindCode::Champion {
            errors.check(i == 0, &field("kind"), "the champion step must come first");
        }
    }
    for kind in [
        StepKindCode::Champion,
        StepKindCode::TrainerCourse,
        StepKindCode::CoDelivery,
        StepKindCode::Accreditation,
    ] {
        errors.check(
            input.steps.iter().filter(|s| s.kind == kind).count() <= 1,
            "steps",
            "each automatic kind and accreditation may appear at most once",
        );
    }
    errors.finish()?;
    let txn = ctx.begin().await?;
    programmes::lock(&txn, programme_id).await?;
    let resource = Resource::Programme(programme_id);
    ctx.precondition.claim(&txn, resource).await?;
    pipeline_steps::Entity::delete_many()
        .filter(pipeline_steps::Column::ProgrammeId.eq(programme_id))
        .exec(&txn)
        .await?;
    pipeline_steps::Entity::insert_many(input.steps.iter().enumerate().map(|(i, s)| {
        pipeline_steps::ActiveModel {
            programme_id: Set(programme_id),
            position: Set(i as i32 + 1),
            code: Set(s.code.clone()),
            kind: Set(s.kind.into()),
            min_sessions: Set(s.min_sessions),
            licence_months: Set(s.licence_months),
        }
    }))
    .exec(&txn)
    .await?;
    let pipeline = get(&txn, programme_id).await?;
    audit::record(
        &txn,
        Change::new("programme", programme_id, "put_pipeline")
            .summary(format!("{} step(s)", input.steps.len())),
    )
    .await?;
    let version = versions::version(&txn, resource).await?;
    txn.commit().await?;
    Ok((pipeline, version))
}
