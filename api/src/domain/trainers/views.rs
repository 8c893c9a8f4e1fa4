//! Reading trainers: the list per programme, one person's progress with full history.

use chrono::{DateTime, NaiveDate, Utc};
use entities::{people, trainer_steps};
use poem_openapi::Object;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use super::{TrainerState, facts_on, pipeline_of, standing};
use crate::domain::people::records_scope;
use crate::{
    auth::Principal,
    clock::Clock,
    domain::{people::find_records_visible, sessions::london_today},
    error::ApiResult,
    pagination::{PageRequest, encode_cursor},
};

/// A recorded step.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TrainerStep {
    /// The record's id.
    pub id: Uuid,
    /// The programme.
    pub programme_id: Uuid,
    /// The step's code, or `renewed`.
    pub step: String,
    /// When the step was reached.
    pub effective_on: NaiveDate,
    /// What shows it.
    pub evidence: Option<String>,
    /// A link to the evidence.
    pub evidence_url: Option<String>,
    /// The accredited trainer who signed it off, for sign-off steps.
    pub signed_off_by_person_id: Option<Uuid>,
    /// The API key that recorded it; none when Cascade recorded it from its data.
    pub recorded_by_key_id: Option<Uuid>,
    /// Whether Cascade recorded it from completions or cascade sessions.
    pub automatic: bool,
    /// Why the trainer target or renewal rule was overridden.
    pub override_reason: Option<String>,
    /// For accreditation and renewal: the last day of the licence.
    pub licence_expires_on: Option<NaiveDate>,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
}

impl From<trainer_steps::Model> for TrainerStep {
    fn from(m: trainer_steps::Model) -> Self {
        Self {
            id: m.id,
            programme_id: m.programme_id,
            step: m.code,
            effective_on: m.effective_on,
            evidence: m.evidence,
            evidence_url: m.evidence_url,
            signed_off_by_person_id: m.signed_off_by_person_id,
            recorded_by_key_id: m.recorded_by_key_id,
            automatic: m.automatic,
            override_reason: m.override_reason,
            licence_expires_on: m.licence_expires_on,
            recorded_at: m.recorded_at,
        }
    }
}

/// A person's standing in one programme today.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TrainerSummary {
    /// The person.
    pub person_id: Uuid,
    /// Their name.
    pub name: String,
    /// The programme.
    pub programme_id: Uuid,
    /// The furthest pipeline step reached without a gap.
    pub step: Option<String>,
    pub state: TrainerState,
    /// The last day of the current licence, once accredited.
    pub licence_expires_on: Option<NaiveDate>,
    /// Cascade sessions delivered (lead or co) in the last 12 months.
    pub cascade_sessions_last_12_months: i32,
}

/// A person's progress in one programme, with every recorded step.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TrainerProgress {
    #[oai(flatten)]
    pub summary: TrainerSummary,
    /// Every step recorded, oldest first.
    pub history: Vec<TrainerStep>,
}

/// One page of trainers, with how many there are in each state.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TrainerPage {
    /// The trainers of this page.
    pub items: Vec<TrainerSummary>,
    /// The cursor of the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
    /// Everyone matching the filters (all pages).
    pub total: i32,
    /// Of those, how many are in progress, accredited and lapsed.
    pub in_progress: i32,
    /// Accredited and active.
    pub accredited: i32,
    /// Lapsed.
    pub lapsed: i32,
}

async fn summaries(
    db: &impl ConnectionTrait,
    programme_id: Uuid,
    people_ids: Vec<Uuid>,
    on: NaiveDate,
) -> ApiResult<Vec<(TrainerSummary, Vec<trainer_steps::Model>)>> {
    let pipeline = pipeline_of(db, programme_id).await?;
    let mut facts = facts_on(db, programme_id, &people_ids, on).await?;
    let names: std::collections::HashMap<Uuid, String> = people::Entity::find()
        .filter(people::Column::Id.is_in(people_ids.clone()))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p.name))
        .collect();
    let mut out = Vec::new();
    for person in people_ids {
        let f = facts.remove(&person).unwrap_or_default();
        let s = standing(&pipeline, &f, on);
        out.push((
            TrainerSummary {
                person_id: person,
                name: names.get(&person).cloned().unwrap_or_default(),
                programme_id,
                step: s.step,
                state: s.state,
                licence_expires_on: s.licence_expires_on,
                cascade_sessions_last_12_months: s.deliveries_last_year as i32,
            },
            f.steps,
        ));
    }
    Ok(out)
}

/// Everyone with a step in a programme's pipeline, filtered by state, with counts.
pub async fn list(
    db: &impl ConnectionTrait,
    clock: &Clock,
    who: &Principal,
    programme_id: Uuid,
    state: Option<TrainerState>,
    step: Option<&str>,
    page: PageRequest,
) -> ApiResult<TrainerPage> {
    crate::domain::programmes::find(db, programme_id).await?;
    let mut q = trainer_steps::Entity::find()
        .select_only()
        .column(trainer_steps::Column::PersonId)
        .distinct()
        .filter(trainer_steps::Column::ProgrammeId.eq(programme_id));
    q = q.filter(records_scope(who, trainer_steps::Column::PersonId));
    let mut people_ids: Vec<Uuid> = q.into_tuple().all(db).await?;
    people_ids.sort();
    let all = summaries(db, programme_id, people_ids, london_today(clock.now())).await?;
    let count = |s: TrainerState| all.iter().filter(|(t, _)| t.state == s).count() as i32;
    let (in_progress, accredited, lapsed) = (
        count(TrainerState::InProgress),
        count(TrainerState::Accredited),
        count(TrainerState::Lapsed),
    );
    let total = all.len() as i32;
    let mut items: Vec<TrainerSummary> = all
        .into_iter()
        .map(|(t, _)| t)
        .filter(|t| state.is_none_or(|s| t.state == s))
        .filter(|t| step.is_none_or(|s| t.step.as_deref() == Some(s)))
        .filter(|t| page.after.is_none_or(|after| t.person_id > after))
        .take(page.limit as usize + 1)
        .collect();
    let next_cursor = if items.len() as u64 > page.limit {
        items.truncate(page.limit as usize);
        items.last().map(|t| encode_cursor(t.person_id))
    } else {
        None
    };
    Ok(TrainerPage {
        items,
        next_cursor,
        total,
        in_progress,
        accredited,
        lapsed,
    })
}

/// One person's progress in every programme where they have a step.
pub async fn get(
    db: &impl ConnectionTrait,
    clock: &Clock,
    who: &Principal,
    person_id: Uuid,
) -> ApiResult<Vec<TrainerProgress>> {
    find_records_visible(db, who, person_id).await?;
    let mut programmes: Vec<Uuid> = trainer_steps::Entity::find()
        .select_only()
        .column(trainer_steps::Column::ProgrammeId)
        .distinct()
        .filter(trainer_steps::Column::PersonId.eq(person_id))
        .into_tuple()
        .all(db)
        .await?;
    programmes.sort();
    let today = london_today(clock.now());
    let mut out = Vec::new();
    for programme in programmes {
        for (summary, steps) in summaries(db, programme, vec![person_id], today).await? {
            out.push(TrainerProgress {
                summary,
                history: steps.into_iter().map(Into::into).collect(),
            });
        }
    }
    Ok(out)
}
