//! Reach: how far the cascade goes — people reached by cascade sessions, per trainer, champion
//! cohort, partner, sector, locality and staff group — and a trainer's lineage from champion
//! course to the people they reached.

use crate::db::FirstRow as _;
use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;
use entities::{
    cascade_attendees, cascade_headcounts, cascade_sessions, completions, enums::CompletionSource,
    localities, organisations, people, sessions, staff_groups,
};
use poem_openapi::Object;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::{
    champions::champion_courses,
    people::find_records_visible,
    programmes,
    sessions::london_today,
    trainers::{
        steps::{active_trainers, financial_year},
        views::TrainerStep,
    },
};
use crate::{
    auth::{PeopleScope, Principal},
    clock::Clock,
    error::{ApiError, ApiResult},
};

/// One line of a breakdown.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ReachLine {
    /// What the line is for: an id, a sector code, or `unknown`.
    pub key: String,
    /// A readable name for it.
    pub name: String,
    /// Cascade sessions that reached people counted on this line.
    pub cascade_sessions: i32,
    /// People reached (named attendees plus headcounts).
    pub people_reached: i32,
}

/// The reach of a programme's cascade over a date range.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ReachReport {
    /// The programme.
    pub programme_id: Uuid,
    /// First day counted.
    pub from: NaiveDate,
    /// Last day counted.
    pub to: NaiveDate,
    /// Programme total: people reached (named + headcount).
    pub people_reached: i32,
    /// Programme total: named attendances.
    pub named: i32,
    /// Programme total: people counted by headcount.
    pub headcount: i32,
    /// Programme total: cascade sessions delivered.
    pub cascade_sessions: i32,
    /// Accredited, active trainers on the last day counted (or today, if earlier).
    pub active_trainers: i32,
    /// The multiplier: people reached per active trainer (none without active trainers).
    pub reach_per_trainer: Option<f64>,
    /// For a partner key: the organisation the breakdowns are limited to.
    pub breakdowns_for_organisation_id: Option<Uuid>,
    /// By the trainer who led the session.
    pub by_trainer: Vec<ReachLine>,
    /// By the lead trainer's champion cohort (the session they trained in as a champion).
    pub by_cohort: Vec<ReachLine>,
    /// By the attendee's employing organisation.
    pub by_partner: Vec<ReachLine>,
    /// By that organisation's sector.
    pub by_sector: Vec<ReachLine>,
    /// By where the session was delivered.
    pub by_locality: Vec<ReachLine>,
    /// By the attendee's staff group.
    pub by_staff_group: Vec<ReachLine>,
}

pub mod rollup;

/// Lines of one breakdown, largest first; keys that are ids are named by `name`.
fn breakdown(
    lines: impl Iterator<Item = (String, i64, i64)>,
    name: impl Fn(&str) -> String,
) -> Vec<ReachLine> {
    let mut out: Vec<ReachLine> = lines
        .map(|(key, sessions, reached)| ReachLine {
            name: if key == rollup::UNKNOWN {
                "Unknown".to_owned()
            } else {
                name(&key)
            },
            key,
            cascade_sessions: i32::try_from(sessions).unwrap_or(i32::MAX),
            people_reached: i32::try_from(reached).unwrap_or(i32::MAX),
        })
        .collect();
    out.sort_by(|a, b| {
        b.people_reached
            .cmp(&a.people_reached)
            .then_with(|| a.name.cmp(&b.name))
    });
    out
}

/// Each trainer's champion cohort in a programme: the session of their latest champion completion.
async fn cohorts(
    db: &impl ConnectionTrait,
    programme_id: Uuid,
    trainers: &[Uuid],
) -> ApiResult<HashMap<Uuid, Uuid>> {
    let rows = completions::Entity::find()
        .filter(completions::Column::PersonId.is_in(trainers.iter().copied()))
        .filter(completions::Column::Source.eq(CompletionSource::Session))
        .filter(completions::Column::CourseId.in_subquery(champion_courses(Some(programme_id))))
        .order_by_asc(completions::Column::CompletedOn)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|c| c.source_id.map(|s| (c.person_id, s)))
        .collect())
}

fn distinct(ids: impl Iterator<Item = Uuid>) -> Vec<Uuid> {
    ids.collect::<HashSet<_>>().into_iter().collect()
}

pub async fn report(
    db: &impl ConnectionTrait,
    clock: &Clock,
    who: &Principal,
    programme_id: Uuid,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> ApiResult<ReachReport> {
    programmes::find(db, programme_id).await?;
    let today = london_today(clock.now());
    let year = financial_year(today);
    let from = from.unwrap_or_else(|| NaiveDate::from_ymd_opt(year, 4, 1).unwrap_or(today));
    let to = to.unwrap_or_else(|| NaiveDate::from_ymd_opt(year + 1, 3, 31).unwrap_or(today));
    if to < from {
        return Err(ApiError::invalid("to", "must not be before `from`"));
    }
    let own = match who.people_scope() {
        PeopleScope::Organisation(org) => Some(org),
        _ => None,
    };
    use rollup::{LOCALITY, PARTNER, SECTOR, STAFF_GROUP, TOTAL, TRAINER};
    let total = rollup::lines(db, programme_id, rollup::PROGRAMME, from, to, &[TOTAL]).await?;
    let lines = rollup::lines(
        db,
        programme_id,
        own.unwrap_or(rollup::PROGRAMME),
        from,
        to,
        &[TRAINER, PARTNER, SECTOR, LOCALITY, STAFF_GROUP],
    )
    .await?;
    let of = |dimension: &'static str| {
        lines
            .iter()
            .filter(move |l| l.dimension == dimension)
            .map(|l| (l.line.clone(), l.cascade_sessions, l.named + l.headcount))
    };
    let ids = |dimension: &'static str| -> Vec<Uuid> {
        of(dimension)
            .filter_map(|(key, _, _)| key.parse().ok())
            .collect()
    };
    let (named, headcount, delivered) = total
        .first()
        .map_or((0, 0, 0), |t| (t.named, t.headcount, t.cascade_sessions));
    let clamp = |n: i64| i32::try_from(n).unwrap_or(i32::MAX);
    let people_reached = clamp(named + headcount);
    let active = active_trainers(db, programme_id, Ord::min(to, today))
        .await?
        .len() as i32;

    let leads = ids(TRAINER);
    let persons: HashMap<Uuid, String> = people::Entity::find()
        .filter(people::Column::Id.is_in(leads.iter().copied()))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p.name))
        .collect();
    // A cascade session has one lead trainer, so a cohort's line is the sum of its trainers'.
    let cohort_of = cohorts(db, programme_id, &leads).await?;
    let mut cohort_lines: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for (trainer, sessions, reached) in of(TRAINER) {
        let cohort = trainer
            .parse::<Uuid>()
            .ok()
            .and_then(|t| cohort_of.get(&t))
            .map_or_else(|| rollup::UNKNOWN.to_owned(), Uuid::to_string);
        let line = cohort_lines.entry(cohort).or_default();
        line.0 += sessions;
        line.1 += reached;
    }
    let orgs: HashMap<Uuid, String> = organisations::Entity::find()
        .filter(organisations::Column::Id.is_in(ids(PARTNER)))
        .all(db)
        .await?
        .into_iter()
        .map(|o| (o.id, o.name))
        .collect();
    let groups: HashMap<Uuid, String> = staff_groups::Entity::find()
        .filter(staff_groups::Column::Id.is_in(ids(STAFF_GROUP)))
        .all(db)
        .await?
        .into_iter()
        .map(|g| (g.id, g.name))
        .collect();
    let places: HashMap<Uuid, String> = localities::Entity::find()
        .filter(localities::Column::Id.is_in(ids(LOCALITY)))
        .all(db)
        .await?
        .into_iter()
        .map(|l| (l.id, l.name))
        .collect();
    let cohort_sessions: HashMap<Uuid, sessions::Model> = sessions::Entity::find()
        .filter(sessions::Column::Id.is_in(distinct(cohort_of.values().copied())))
        .all(db)
        .await?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    let named_by = |names: &HashMap<Uuid, String>, k: &str| {
        k.parse::<Uuid>()
            .ok()
            .and_then(|id| names.get(&id))
            .cloned()
            .unwrap_or_else(|| k.to_owned())
    };
    Ok(ReachReport {
        programme_id,
        from,
        to,
        people_reached,
        named: clamp(named),
        headcount: clamp(headcount),
        cascade_sessions: clamp(delivered),
        active_trainers: active,
        reach_per_trainer: (active > 0)
            .then(|| (f64::from(people_reached) / f64::from(active) * 100.0).round() / 100.0),
        breakdowns_for_organisation_id: own,
        by_trainer: breakdown(of(TRAINER), |k| named_by(&persons, k)),
        by_cohort: breakdown(cohort_lines.into_iter().map(|(k, (s, r))| (k, s, r)), |k| {
            k.parse::<Uuid>()
                .ok()
                .and_then(|id| cohort_sessions.get(&id))
                .map_or_else(
                    || k.to_owned(),
                    |s| format!("Cohort of {}", london_today(s.starts_at)),
                )
        }),
        by_partner: breakdown(of(PARTNER), |k| named_by(&orgs, k)),
        by_sector: breakdown(of(SECTOR), str::to_owned),
        by_locality: breakdown(of(LOCALITY), |k| named_by(&places, k)),
        by_staff_group: breakdown(of(STAFF_GROUP), |k| named_by(&groups, k)),
    })
}

fn sector_code(sector: entities::enums::Sector) -> &'static str {
    use entities::enums::Sector::*;
    match sector {
        Council => "council",
        Health => "health",
        Police => "police",
        School => "school",
        Voluntary => "voluntary",
        Other => "other",
    }
}

/// Where a trainer came from: their champion completion.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct LineageChampion {
    /// The champion course.
    pub course_id: Uuid,
    /// When they completed it.
    pub completed_on: NaiveDate,
    /// The session they trained in (their cohort); none for imported completions.
    pub cohort_session_id: Option<Uuid>,
}

/// One cascade session in a trainer's lineage.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct LineageSession {
    /// The cascade session.
    pub id: Uuid,
    /// When it was delivered.
    pub delivered_on: NaiveDate,
    /// True when the trainer led it, false when they co-delivered.
    pub led: bool,
    /// People it reached.
    pub people_reached: i32,
}

/// A trainer's lineage in one programme: champion course → progression → cascades → reach.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Lineage {
    /// The trainer.
    pub person_id: Uuid,
    /// The programme.
    pub programme_id: Uuid,
    /// Their champion completion, if any.
    pub champion: Option<LineageChampion>,
    /// Their progression steps, oldest first.
    pub steps: Vec<TrainerStep>,
    /// The cascade sessions they delivered or co-delivered, oldest first.
    pub cascade_sessions: Vec<LineageSession>,
    /// People reached by the sessions they led.
    pub people_reached: i32,
}

pub async fn lineage(
    db: &impl ConnectionTrait,
    who: &Principal,
    person_id: Uuid,
    programme_id: Uuid,
) -> ApiResult<Lineage> {
    find_records_visible(db, who, person_id).await?;
    programmes::find(db, programme_id).await?;
    let champion = completions::Entity::find()
        .filter(completions::Column::PersonId.eq(person_id))
        .filter(completions::Column::CourseId.in_subquery(champion_courses(Some(programme_id))))
        .order_by_desc(completions::Column::CompletedOn)
        .first(db)
        .await?
        .map(|c| LineageChampion {
            course_id: c.course_id,
            completed_on: c.completed_on,
            cohort_session_id: c
                .source_id
                .filter(|_| c.source == CompletionSource::Session),
        });
    let steps = entities::trainer_steps::Entity::find()
        .filter(entities::trainer_steps::Column::PersonId.eq(person_id))
        .filter(entities::trainer_steps::Column::ProgrammeId.eq(programme_id))
        .order_by_asc(entities::trainer_steps::Column::EffectiveOn)
        .order_by_asc(entities::trainer_steps::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    let delivered = cascade_sessions::Entity::find()
        .filter(cascade_sessions::Column::ProgrammeId.eq(programme_id))
        .filter(
            sea_orm::Condition::any()
                .add(cascade_sessions::Column::LeadTrainerId.eq(person_id))
                .add(cascade_sessions::Column::CoTrainerId.eq(person_id)),
        )
        .order_by_asc(cascade_sessions::Column::DeliveredOn)
        .order_by_asc(cascade_sessions::Column::Id)
        .all(db)
        .await?;
    let ids: Vec<Uuid> = delivered.iter().map(|s| s.id).collect();
    let mut reached: HashMap<Uuid, i32> = HashMap::new();
    for a in cascade_attendees::Entity::find()
        .filter(cascade_attendees::Column::CascadeSessionId.is_in(ids.clone()))
        .all(db)
        .await?
    {
        *reached.entry(a.cascade_session_id).or_default() += 1;
    }
    for h in cascade_headcounts::Entity::find()
        .filter(cascade_headcounts::Column::CascadeSessionId.is_in(ids))
        .all(db)
        .await?
    {
        *reached.entry(h.cascade_session_id).or_default() += h.count;
    }
    let cascade_sessions: Vec<LineageSession> = delivered
        .iter()
        .map(|s| LineageSession {
            id: s.id,
            delivered_on: s.delivered_on,
            led: s.lead_trainer_id == person_id,
            people_reached: reached.get(&s.id).copied().unwrap_or(0),
        })
        .collect();
    let people_reached = cascade_sessions
        .iter()
        .filter(|s| s.led)
        .map(|s| s.people_reached)
        .sum();
    Ok(Lineage {
        person_id,
        programme_id,
        champion,
        steps,
        cascade_sessions,
        people_reached,
    })
}
