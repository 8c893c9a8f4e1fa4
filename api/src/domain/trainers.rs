//! Trainer progression: a per-programme pipeline of steps from champion to accredited trainer,
//! steps recorded with evidence (automatically where Cascade's own data proves them), and a
//! status that is computed whenever it is read, so it is always correct without a nightly job.

use std::collections::HashMap;

use chrono::{Months, NaiveDate};
use entities::{
    cascade_sessions, courses,
    enums::{CourseKind, StepKind},
    trainer_steps,
};
use poem_openapi::Enum;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::error::ApiResult;

pub mod pipeline;
pub mod steps;
pub mod views;

pub use pipeline::{PipelineStep, pipeline_of};

/// The code of the step that renews an accredited trainer's licence.
pub const RENEWED: &str = "renewed";
/// Cascade sessions an accredited trainer must deliver in each 12 months to stay active.
pub const MIN_DELIVERIES_PER_YEAR: usize = 2;

/// What proves a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(remote = "entities::enums::StepKind", rename_all = "snake_case")]
pub enum StepKindCode {
    /// Completing a champion course of the programme; recorded automatically.
    Champion,
    /// Recorded by a coordinator with evidence (e.g. a nomination).
    Manual,
    /// Completing a trainer course of the programme; recorded automatically.
    TrainerCourse,
    /// Co-delivering `min_sessions` cascade sessions with an accredited trainer; recorded
    /// automatically.
    CoDelivery,
    /// A sign-off by a coordinator or an accredited trainer of the programme.
    SignOff,
    /// Accreditation: starts a licence of `licence_months`; capped by the programme year's
    /// trainer target unless a coordinator records an override reason.
    Accreditation,
}

/// Where a trainer stands in a programme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum TrainerState {
    /// Part-way along the pipeline.
    InProgress,
    /// Accredited, licence current and delivering.
    Accredited,
    /// Was accredited; the licence expired or too few cascade sessions were delivered. A renewal
    /// step makes them accredited again.
    Lapsed,
}

/// A person's standing in one programme's pipeline on one date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// The last step of the unbroken run of pipeline steps reached.
    pub step: Option<String>,
    pub state: TrainerState,
    pub licence_expires_on: Option<NaiveDate>,
    /// Cascade sessions delivered (lead or co) in the 12 months up to the date.
    pub deliveries_last_year: usize,
}

/// The facts status is computed from: a person's recorded steps in a programme and the dates of
/// the cascade sessions they delivered there.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub steps: Vec<trainer_steps::Model>,
    pub deliveries: Vec<NaiveDate>,
    /// Instead of the dates: how many were delivered in the 12 months up to a date, counted by
    /// the database (`facts_on`).
    pub counted: Option<(NaiveDate, usize)>,
}

/// Computes a standing from facts, as of `on`. A pure function: the one place the rules of
/// progression and lapsing live.
pub fn standing(pipeline: &[PipelineStep], facts: &Facts, on: NaiveDate) -> Standing {
    let recorded = |code: &str| {
        facts
            .steps
            .iter()
            .any(|s| s.code == code && s.effective_on <= on)
    };
    let mut step = None;
    let mut accredited = false;
    for p in pipeline {
        if !recorded(&p.code) {
            break;
        }
        step = Some(p.code.clone());
        accredited = p.kind == StepKindCode::Accreditation;
    }
    let year_ago = on.checked_sub_months(Months::new(12)).unwrap_or(on);
    let deliveries_last_year = match facts.counted {
        Some((day, count)) if day == on => count,
        _ => facts
            .deliveries
            .iter()
            .filter(|d| **d > year_ago && **d <= on)
            .count(),
    };
    if !accredited {
        return Standing {
            step,
            state: TrainerState::InProgress,
            licence_expires_on: None,
            deliveries_last_year,
        };
    }
    let licences = facts
        .steps
        .iter()
        .filter(|s| s.effective_on <= on && s.licence_expires_on.is_some());
    let latest_start = licences.clone().map(|s| s.effective_on).max();
    let licence_expires_on = licences.filter_map(|s| s.licence_expires_on).max();
    let expired = licence_expires_on.is_none_or(|expires| on > expires);
    let idle = latest_start.is_some_and(|start| start <= year_ago)
        && deliveries_last_year < MIN_DELIVERIES_PER_YEAR;
    let state = if expired || idle {
        TrainerState::Lapsed
    } else {
        TrainerState::Accredited
    };
    Standing {
        step,
        state,
        licence_expires_on,
        deliveries_last_year,
    }
}

/// Loads the facts of many people in one programme with two queries.
pub async fn facts_of(
    db: &impl ConnectionTrait,
    programme_id: Uuid,
    people: &[Uuid],
) -> ApiResult<HashMap<Uuid, Facts>> {
    facts_between(db, programme_id, people, true).await
}

/// The facts `standing` needs on one date: the steps, and the deliveries of the 12 months up to
/// it counted from the reach rollup's `deliverer` lines (kept with every cascade session), so
/// the cost follows months and trainers, not delivery rows.
pub async fn facts_on(
    db: &impl ConnectionTrait,
    programme_id: Uuid,
    people: &[Uuid],
    on: NaiveDate,
) -> ApiResult<HashMap<Uuid, Facts>> {
    use super::reach::rollup;
    let year_ago = on.checked_sub_months(Months::new(12)).unwrap_or(on);
    let mut out = facts_between(db, programme_id, people, false).await?;
    for facts in out.values_mut() {
        facts.counted = Some((on, 0));
    }
    let first = year_ago.succ_opt().unwrap_or(year_ago);
    for line in rollup::lines(
        db,
        programme_id,
        rollup::PROGRAMME,
        first,
        on,
        &[rollup::DELIVERER],
    )
    .await?
    {
        let person = line.line.parse::<Uuid>().ok();
        if let Some(Facts {
            counted: Some((_, count)),
            ..
        }) = person.and_then(|p| out.get_mut(&p))
        {
            *count += usize::try_from(line.cascade_sessions).unwrap_or(0);
        }
    }
    Ok(out)
}

/// The steps and, with `dates`, every delivery date.
async fn facts_between(
    db: &impl ConnectionTrait,
    programme_id: Uuid,
    people: &[Uuid],
    dates: bool,
) -> ApiResult<HashMap<Uuid, Facts>> {
    use cascade_sessions::Column as C;
    let mut out: HashMap<Uuid, Facts> = people.iter().map(|p| (*p, Facts::default())).collect();
    for step in trainer_steps::Entity::find()
        .filter(trainer_steps::Column::ProgrammeId.eq(programme_id))
        .filter(trainer_steps::Column::PersonId.is_in(people.iter().copied()))
        .order_by_asc(trainer_steps::Column::EffectiveOn)
        .order_by_asc(trainer_steps::Column::Id)
        .all(db)
        .await?
    {
        out.entry(step.person_id).or_default().steps.push(step);
    }
    if !dates {
        return Ok(out);
    }
    // Each side (lead, co) on its own, so each reads its (trainer, delivered_on) index.
    for side in [C::LeadTrainerId, C::CoTrainerId] {
        let dates: Vec<(Uuid, NaiveDate)> = cascade_sessions::Entity::find()
            .select_only()
            .column(side)
            .column(C::DeliveredOn)
            .filter(C::ProgrammeId.eq(programme_id))
            .filter(side.is_in(people.iter().copied()))
            .into_tuple()
            .all(db)
            .await?;
        for (person, on) in dates {
            if let Some(facts) = out.get_mut(&person) {
                facts.deliveries.push(on);
            }
        }
    }
    Ok(out)
}

/// The standing of one person in one programme on a date.
pub async fn standing_of(
    db: &impl ConnectionTrait,
    programme_id: Uuid,
    person_id: Uuid,
    on: NaiveDate,
) -> ApiResult<Standing> {
    let pipeline = pipeline_of(db, programme_id).await?;
    let facts = facts_on(db, programme_id, &[person_id], on)
        .await?
        .remove(&person_id)
        .unwrap_or_default();
    Ok(standing(&pipeline, &facts, on))
}

/// Records the steps a completion proves: becoming a champion (champion course) or finishing
/// the trainer course (trainer course) of the course's programme.
pub async fn on_completion(
    db: &crate::db::WriteTxn,
    person_id: Uuid,
    course: &courses::Model,
    completion: &entities::completions::Model,
    now: chrono::DateTime<chrono::Utc>,
) -> ApiResult<()> {
    let kind = match course.kind {
        CourseKind::Champion => StepKind::Champion,
        CourseKind::Trainer => StepKind::TrainerCourse,
        _ => return Ok(()),
    };
    let pipeline = pipeline_of(db, course.programme_id).await?;
    let Some(step) = pipeline.iter().find(|p| StepKind::from(p.kind) == kind) else {
        return Ok(());
    };
    let evidence = format!(
        "Completed {} ({}) on {}",
        course.title, course.code, completion.completed_on
    );
    steps::record_automatic(
        db,
        person_id,
        course.programme_id,
        &step.code,
        completion.completed_on,
        evidence,
        now,
    )
    .await
}

/// Re-derives the co-delivery steps of the given people in a programme from its cascade
/// sessions (after a cascade session is recorded, corrected or deleted).
pub async fn refresh_co_delivery(
    db: &crate::db::WriteTxn,
    programme_id: Uuid,
    people: &[Uuid],
    now: chrono::DateTime<chrono::Utc>,
) -> ApiResult<()> {
    let pipeline = pipeline_of(db, programme_id).await?;
    let Some(step) = pipeline.iter().find(|p| p.kind == StepKindCode::CoDelivery) else {
        return Ok(());
    };
    let needed = step.min_sessions.unwrap_or(2).max(1) as usize;
    let sessions = cascade_sessions::Entity::find()
        .filter(cascade_sessions::Column::ProgrammeId.eq(programme_id))
        .filter(cascade_sessions::Column::CoTrainerId.is_not_null())
        .filter(
            sea_orm::Condition::any()
                .add(cascade_sessions::Column::LeadTrainerId.is_in(people.iter().copied()))
                .add(cascade_sessions::Column::CoTrainerId.is_in(people.iter().copied())),
        )
        .order_by_asc(cascade_sessions::Column::DeliveredOn)
        .all(db)
        .await?;
    let partners: Vec<Uuid> = sessions
        .iter()
        .flat_map(|s| [Some(s.lead_trainer_id), s.co_trainer_id])
        .flatten()
        .collect();
    let facts = facts_of(db, programme_id, &partners).await?;
    for person in people {
        let mut with_accredited = Vec::new();
        for s in &sessions {
            let other = if s.lead_trainer_id == *person {
                s.co_trainer_id
            } else if s.co_trainer_id == Some(*person) {
                Some(s.lead_trainer_id)
            } else {
                None
            };
            let Some(other) = other else { continue };
            let accredited = facts
                .get(&other)
                .map(|f| standing(&pipeline, f, s.delivered_on).state == TrainerState::Accredited)
                .unwrap_or(false);
            if accredited {
                with_accredited.push(s);
            }
        }
        let proven = (with_accredited.len() >= needed).then(|| {
            let nth = with_accredited[needed - 1];
            let evidence = format!(
                "Co-delivered {} cascade sessions with an accredited trainer (the {needed}th on {})",
                with_accredited.len(),
                nth.delivered_on
            );
            (nth.delivered_on, evidence)
        });
        steps::sync_automatic(db, *person, programme_id, &step.code, proven, now).await?;
    }
    Ok(())
}
