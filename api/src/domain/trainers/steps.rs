//! Recording steps: automatically from Cascade's data, or by hand with evidence, in order.

use crate::ctx::Ctx;
use crate::db::FirstRow as _;
use crate::error::refused;
use crate::problem::ProblemKind;
use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use entities::{programme_years, trainer_steps};
use poem_openapi::Object;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set,
};
use uuid::Uuid;

use super::{
    MIN_DELIVERIES_PER_YEAR, RENEWED, StepKindCode, TrainerState, facts_of, facts_on, pipeline_of,
    standing, views::TrainerStep,
};
use crate::{
    audit::{self, Change},
    config::Config,
    domain::{people::find_visible, sessions::london_today, validation::FieldErrors},
    error::{ApiError, ApiResult},
};

/// A step to record for a person.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct NewStep {
    /// The programme whose pipeline the step belongs to.
    pub programme_id: Uuid,
    /// The step's code in that pipeline (e.g. `nominated`, `observed`, `accredited`), or
    /// `renewed` to renew an accredited trainer's licence.
    pub step: String,
    /// When the step was reached (default today); not in the future.
    pub effective_on: Option<NaiveDate>,
    /// What shows the step was reached, 1–2,000 characters.
    pub evidence: String,
    /// A link to the evidence (http or https).
    pub evidence_url: Option<String>,
    /// For sign-off steps recorded by a coordinator: the accredited trainer who signed off, if
    /// not the coordinator. A trainer key signs off as itself.
    pub signed_off_by_person_id: Option<Uuid>,
    /// To accredit beyond the programme year's trainer target, or renew without the required
    /// deliveries: the coordinator's reason (up to 500 characters).
    pub override_reason: Option<String>,
}

/// The event of a step reached (automatic or recorded by hand).
async fn step_event(
    db: &crate::db::WriteTxn,
    step: &trainer_steps::Model,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let data = serde_json::json!({
        "person_id": step.person_id, "programme_id": step.programme_id, "step": step.code,
        "effective_on": step.effective_on, "automatic": step.automatic,
    });
    let org = crate::domain::events::employer(db, step.person_id).await?;
    crate::domain::events::emit(db, "trainer.status_changed", org, step.person_id, data, now).await
}

/// Records a step Cascade's data proves, unless it is already recorded.
pub async fn record_automatic(
    db: &crate::db::WriteTxn,
    person_id: Uuid,
    programme_id: Uuid,
    code: &str,
    effective_on: NaiveDate,
    evidence: String,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let exists = trainer_steps::Entity::find()
        .filter(trainer_steps::Column::PersonId.eq(person_id))
        .filter(trainer_steps::Column::ProgrammeId.eq(programme_id))
        .filter(trainer_steps::Column::Code.eq(code))
        .first(db)
        .await?
        .is_some();
    if exists {
        return Ok(());
    }
    let step = trainer_steps::ActiveModel {
        id: Set(Uuid::now_v7()),
        person_id: Set(person_id),
        programme_id: Set(programme_id),
        code: Set(code.to_owned()),
        effective_on: Set(effective_on),
        evidence: Set(Some(evidence)),
        evidence_url: Set(None),
        signed_off_by_person_id: Set(None),
        recorded_by_key_id: Set(None),
        automatic: Set(true),
        override_reason: Set(None),
        licence_expires_on: Set(None),
        recorded_at: Set(now),
    }
    .insert(db)
    .await?;
    step_event(db, &step, now).await?;
    Ok(())
}

/// Makes an automatic step match what the data now proves: records it, moves its date, or
/// withdraws it. A step that still holds is left as it is, so its history stays in order.
pub async fn sync_automatic(
    db: &crate::db::WriteTxn,
    person_id: Uuid,
    programme_id: Uuid,
    code: &str,
    proven: Option<(NaiveDate, String)>,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let existing = trainer_steps::Entity::find()
        .filter(trainer_steps::Column::PersonId.eq(person_id))
        .filter(trainer_steps::Column::ProgrammeId.eq(programme_id))
        .filter(trainer_steps::Column::Code.eq(code))
        .filter(trainer_steps::Column::Automatic.eq(true))
        .first(db)
        .await?;
    match (existing, proven) {
        (Some(step), None) => {
            trainer_steps::Entity::delete_by_id(step.id)
                .exec(db)
                .await?;
        }
        (Some(step), Some((on, evidence)))
            if step.effective_on != on || step.evidence.as_deref() != Some(&evidence) =>
        {
            let mut model: trainer_steps::ActiveModel = step.into();
            model.effective_on = Set(on);
            model.evidence = Set(Some(evidence));
            model.update(db).await?;
        }
        (None, Some((on, evidence))) => {
            record_automatic(db, person_id, programme_id, code, on, evidence, now).await?;
        }
        _ => {}
    }
    Ok(())
}

/// The UK financial year (April–March) a date falls in, by its first calendar year.
pub fn financial_year(date: NaiveDate) -> i32 {
    if date.month() >= 4 {
        date.year()
    } else {
        date.year() - 1
    }
}

/// People accredited and active in a programme on a date.
pub async fn active_trainers(
    db: &impl ConnectionTrait,
    programme_id: Uuid,
    on: NaiveDate,
) -> ApiResult<Vec<Uuid>> {
    let people: Vec<Uuid> = trainer_steps::Entity::find()
        .select_only()
        .column(trainer_steps::Column::PersonId)
        .distinct()
        .filter(trainer_steps::Column::ProgrammeId.eq(programme_id))
        .into_tuple()
        .all(db)
        .await?;
    let pipeline = pipeline_of(db, programme_id).await?;
    let facts = facts_on(db, programme_id, &people, on).await?;
    let mut active: Vec<Uuid> = facts
        .iter()
        .filter(|(_, f)| standing(&pipeline, f, on).state == TrainerState::Accredited)
        .map(|(p, _)| *p)
        .collect();
    active.sort();
    Ok(active)
}

/// Records a step by hand, refusing steps out of order, steps the data proves, and sign-offs or
/// accreditations that break the rules.
pub async fn record(
    ctx: &Ctx,
    config: &Config,
    person_id: Uuid,
    input: NewStep,
) -> ApiResult<TrainerStep> {
    let clock = &ctx.clock;
    let who = &ctx.who;
    let now = clock.now();
    let today = london_today(now);
    let effective_on = input.effective_on.unwrap_or(today);
    let mut errors = FieldErrors::default();
    let evidence = input.evidence.trim().to_owned();
    errors.check(
        !evidence.is_empty() && evidence.chars().count() <= 2000,
        "evidence",
        "must be 1 to 2000 characters",
    );
    if let Some(url) = &input.evidence_url {
        errors.check(
            (url.starts_with("https://") || url.starts_with("http://")) && url.len() <= 2000,
            "evidence_url",
            "must be an http or https link of at most 2000 characters",
        );
    }
    errors.check(
        effective_on <= today,
        "effective_on",
        "must not be in the future",
    );
    let override_reason = input
        .override_reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned);
    if let Some(reason) = &override_reason {
        errors.check(
            reason.chars().count() <= 500,
            "override_reason",
            "must be at most 500 characters",
        );
    }
    let txn = ctx.begin().await?;
    if who.signs_off_as_trainer() {
        // An accredited trainer may sign off anyone they observed, not only themselves.
        entities::people::Entity::find_by_id(person_id)
            .first(&txn)
            .await?
            .ok_or_else(|| ApiError::not_found("Person"))?;
    } else {
        find_visible(&txn, who, person_id).await?;
    }
    // Held until commit: steps in one programme (and so accreditations against its target) are
    // decided one at a time.
    let programme = crate::domain::programmes::lock(&txn, input.programme_id)
        .await
        .ok();
    errors.check(programme.is_some(), "programme_id", "no such programme");
    let pipeline = pipeline_of(&txn, input.programme_id).await?;
    let step = pipeline.iter().find(|p| p.code == input.step);
    errors.check(
        step.is_some() || input.step == RENEWED,
        "step",
        "is not a step of this programme's pipeline",
    );
    errors.finish()?;

    let is_coordinator = who.coordinates();
    let facts = facts_of(&txn, input.programme_id, &[person_id])
        .await?
        .remove(&person_id)
        .unwrap_or_default();
    let current = standing(&pipeline, &facts, effective_on);
    let mut licence_expires_on = None;
    let mut signed_off_by = input.signed_off_by_person_id;
    match step {
        None => {
            if !is_coordinator {
                return Err(ApiError::Forbidden(
                    "Only a coordinator may renew a licence.".into(),
                ));
            }
            let accreditation = pipeline
                .iter()
                .find(|p| p.kind == StepKindCode::Accreditation);
            let Some(accreditation) =
                accreditation.filter(|a| current.step.as_deref() == Some(a.code.as_str()))
            else {
                return Err(refused(
                    ProblemKind::StepOutOfOrder,
                    "Only an accredited (or lapsed) trainer can be renewed.",
                ));
            };
            if current.deliveries_last_year < MIN_DELIVERIES_PER_YEAR && override_reason.is_none() {
                return Err(refused(
                    ProblemKind::RenewalNeedsDeliveries,
                    format!(
                        "The trainer delivered {} cascade sessions in the last 12 months; renewal needs {MIN_DELIVERIES_PER_YEAR} or an override reason.",
                        current.deliveries_last_year
                    ),
                ));
            }
            licence_expires_on = effective_on.checked_add_months(Months::new(
                accreditation.licence_months.unwrap_or(12) as u32,
            ));
        }
        Some(step) => {
            // Steps the data proves are recorded automatically; a coordinator may record one by
            // hand only with a reason (e.g. the first trainers co-delivered with the licensing
            // provider, outside Cascade).
            let automatic = matches!(
                step.kind,
                StepKindCode::Champion | StepKindCode::TrainerCourse | StepKindCode::CoDelivery
            );
            if automatic && !(is_coordinator && override_reason.is_some()) {
                return Err(refused(
                    ProblemKind::StepAutomatic,
                    format!(
                        "`{}` is recorded automatically from completions and cascade sessions; a coordinator may record it by hand with an override reason.",
                        step.code
                    ),
                ));
            }
            if step.kind != StepKindCode::SignOff && !is_coordinator {
                return Err(ApiError::Forbidden(
                    "Only a coordinator may record this step.".into(),
                ));
            }
            if facts.steps.iter().any(|s| s.code == step.code) {
                return Err(refused(
                    ProblemKind::StepAlreadyRecorded,
                    format!("`{}` is already recorded.", step.code),
                ));
            }
            let position = pipeline
                .iter()
                .position(|p| p.code == step.code)
                .unwrap_or(0);
            let previous = position.checked_sub(1).map(|i| pipeline[i].code.clone());
            if current.step != previous {
                let reached = current
                    .step
                    .as_ref()
                    .and_then(|s| pipeline.iter().position(|p| &p.code == s))
                    .map_or(0, |i| i + 1);
                let missing = pipeline
                    .get(reached)
                    .map_or_else(String::new, |p| p.code.clone());
                return Err(refused(
                    ProblemKind::StepOutOfOrder,
                    format!("`{}` needs `{missing}` first.", step.code),
                ));
            }
            if step.kind == StepKindCode::SignOff {
                if !is_coordinator {
                    if signed_off_by.is_some_and(|p| Some(p) != who.person_id) {
                        return Err(ApiError::Forbidden(
                            "A trainer signs off only as themselves.".into(),
                        ));
                    }
                    signed_off_by = who.person_id;
                }
                if let Some(signer) = signed_off_by {
                    let signer_facts = facts_of(&txn, input.programme_id, &[signer])
                        .await?
                        .remove(&signer)
                        .unwrap_or_default();
                    if standing(&pipeline, &signer_facts, effective_on).state
                        != TrainerState::Accredited
                    {
                        return Err(refused(
                            ProblemKind::SignOffNotAccredited,
                            "A sign-off must come from a coordinator or an accredited trainer of the programme.",
                        ));
                    }
                }
            }
            if step.kind == StepKindCode::Accreditation {
                let target = programme_years::Entity::find_by_id((
                    input.programme_id,
                    financial_year(today),
                ))
                .first(&txn)
                .await?
                .and_then(|y| y.trainers_target);
                let active = active_trainers(&txn, input.programme_id, today).await?;
                if let Some(target) = target
                    && active.len() as i32 >= target
                    && override_reason.is_none()
                {
                    return Err(refused(
                        ProblemKind::TrainerTargetReached,
                        format!(
                            "The programme already has {} active trainers against a target of {target}; record an override reason to accredit more.",
                            active.len()
                        ),
                    ));
                }
                licence_expires_on = effective_on
                    .checked_add_months(Months::new(step.licence_months.unwrap_or(12) as u32));
            }
        }
    }
    let model = trainer_steps::ActiveModel {
        id: Set(Uuid::now_v7()),
        person_id: Set(person_id),
        programme_id: Set(input.programme_id),
        code: Set(input.step.clone()),
        effective_on: Set(effective_on),
        evidence: Set(Some(evidence)),
        evidence_url: Set(input.evidence_url.clone()),
        signed_off_by_person_id: Set(signed_off_by),
        recorded_by_key_id: Set(Some(who.key_id)),
        automatic: Set(false),
        override_reason: Set(override_reason),
        licence_expires_on: Set(licence_expires_on),
        recorded_at: Set(now),
    }
    .insert(&txn)
    .await?;
    if model.licence_expires_on.is_some() {
        crate::domain::certificates::issue_for_licence(&txn, config, &model, now).await?;
    }
    step_event(&txn, &model, now).await?;
    audit::record(
        &txn,
        Change::new("trainer_step", model.id, "record")
            .summary(format!(
                "step {} effective {}",
                model.code, model.effective_on
            ))
            .person(person_id),
    )
    .await?;
    txn.commit().await?;
    Ok(model.into())
}

/// The same step for several people (e.g. everyone observed at one session).
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct NewSteps {
    /// The people, 1–100, each once, recorded in this order (the trainer target counts them
    /// one by one).
    pub person_ids: Vec<Uuid>,
    /// The step recorded for each of them.
    pub step: NewStep,
}

/// One person's outcome in a batch of steps.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct StepOutcome {
    /// The person, as sent.
    pub person_id: Uuid,
    /// 201 when recorded; otherwise the refusal's status.
    pub status: u16,
    /// The step recorded.
    pub step: Option<TrainerStep>,
    /// Why it was not recorded for this person: the problem a single request would have answered.
    pub problem: Option<crate::error::Problem>,
}

/// What a batch of steps did, person by person.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct BatchSteps {
    /// One outcome per person, in the order sent.
    pub results: Vec<StepOutcome>,
    /// How many were recorded.
    pub recorded: i64,
    /// How many were refused.
    pub refused: i64,
}

/// Records the step for each person in turn, each in its own transaction, under exactly the
/// rules of [`record`].
pub async fn record_many(ctx: &Ctx, config: &Config, input: NewSteps) -> ApiResult<BatchSteps> {
    crate::domain::batch::check_people("person_ids", &input.person_ids)?;
    let done = crate::domain::batch::each(&input.person_ids, |person_id| {
        record(ctx, config, person_id, input.step.clone())
    })
    .await?;
    let recorded = done.iter().filter(|(_, r)| r.is_ok()).count() as i64;
    Ok(BatchSteps {
        refused: done.len() as i64 - recorded,
        recorded,
        results: done
            .into_iter()
            .map(|(person_id, result)| match result {
                Ok(step) => StepOutcome {
                    person_id,
                    status: 201,
                    step: Some(step),
                    problem: None,
                },
                Err(problem) => StepOutcome {
                    person_id,
                    status: problem.status,
                    step: None,
                    problem: Some(problem),
                },
            })
            .collect(),
    })
}

/// People who may facilitate (anyone with a step in any programme), active, by name: the
/// schedule form's choices. Two queries.
pub async fn facilitator_choices(db: &impl ConnectionTrait) -> ApiResult<Vec<(Uuid, String)>> {
    let ids: Vec<Uuid> = trainer_steps::Entity::find()
        .select_only()
        .column(trainer_steps::Column::PersonId)
        .distinct()
        .into_tuple()
        .all(db)
        .await?;
    let mut out: Vec<(Uuid, String)> = entities::people::Entity::find()
        .filter(entities::people::Column::Id.is_in(ids))
        .filter(entities::people::Column::Active.eq(true))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p.name))
        .collect();
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}
