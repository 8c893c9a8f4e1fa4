//! Reach: how far the cascade goes — people reached by cascade sessions, per trainer, champion
//! cohort, partner, sector, locality and staff group — and a trainer's lineage from champion
//! course to the people they reached.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;
use entities::{
    cascade_attendees, cascade_headcounts, cascade_sessions, completions, enums::CompletionSource,
    localities, memberships, organisations, people, sessions, staff_groups,
};
use poem_openapi::Object;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    sea_query::{Expr, ExprTrait, IntoColumnRef, Query, SelectStatement},
};
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

/// People reached on one dimension set: a named attendee (1) or a headcount row (n).
struct Unit {
    session: Uuid,
    count: i32,
    trainer: Uuid,
    cohort: Option<Uuid>,
    organisation: Option<Uuid>,
    staff_group: Option<Uuid>,
    locality: Option<Uuid>,
}

fn breakdown(
    units: &[&Unit],
    key: impl Fn(&Unit) -> Option<String>,
    name: impl Fn(&str) -> String,
) -> Vec<ReachLine> {
    let mut lines: BTreeMap<String, (HashSet<Uuid>, i32)> = BTreeMap::new();
    for u in units {
        let k = key(u).unwrap_or_else(|| "unknown".to_owned());
        let line = lines.entry(k).or_default();
        line.0.insert(u.session);
        line.1 += u.count;
    }
    let mut out: Vec<ReachLine> = lines
        .into_iter()
        .map(|(k, (sessions, reached))| ReachLine {
            name: if k == "unknown" {
                "Unknown".to_owned()
            } else {
                name(&k)
            },
            key: k,
            cascade_sessions: sessions.len() as i32,
            people_reached: reached,
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

/// People reached, counted in the database, by cascade session, organisation and staff group.
#[derive(Debug, FromQueryResult)]
struct Group {
    cascade_session_id: Uuid,
    organisation_id: Option<Uuid>,
    staff_group_id: Option<Uuid>,
    people: i64,
}

/// The programme's cascade sessions delivered in the period, as a subquery.
fn delivered_between(programme_id: Uuid, from: NaiveDate, to: NaiveDate) -> SelectStatement {
    Query::select()
        .column(cascade_sessions::Column::Id)
        .from(cascade_sessions::Entity)
        .and_where(cascade_sessions::Column::ProgrammeId.eq(programme_id))
        .and_where(cascade_sessions::Column::DeliveredOn.gte(from))
        .and_where(cascade_sessions::Column::DeliveredOn.lte(to))
        .to_owned()
}

/// Named attendees grouped by session, their employing (primary) organisation and staff group.
/// The grouping happens in the database: rows come back one per session, organisation and
/// staff group, not one per attendee.
fn attendee_groups(programme_id: Uuid, from: NaiveDate, to: NaiveDate) -> SelectStatement {
    use cascade_attendees::Column as A;
    Query::select()
        .column((cascade_attendees::Entity, A::CascadeSessionId))
        .column((memberships::Entity, memberships::Column::OrganisationId))
        .column((people::Entity, people::Column::StaffGroupId))
        .expr_as(
            Expr::col((cascade_attendees::Entity, A::PersonId)).count(),
            "people",
        )
        .from(cascade_attendees::Entity)
        .inner_join(
            people::Entity,
            Expr::col((people::Entity, people::Column::Id))
                .equals((cascade_attendees::Entity, A::PersonId)),
        )
        .left_join(
            memberships::Entity,
            Expr::col((memberships::Entity, memberships::Column::PersonId))
                .equals((cascade_attendees::Entity, A::PersonId))
                .and(Expr::col((memberships::Entity, memberships::Column::IsPrimary)).eq(true)),
        )
        .and_where(
            Expr::col((cascade_attendees::Entity, A::CascadeSessionId))
                .in_subquery(delivered_between(programme_id, from, to)),
        )
        .group_by_columns([
            (cascade_attendees::Entity, A::CascadeSessionId).into_column_ref(),
            (memberships::Entity, memberships::Column::OrganisationId).into_column_ref(),
            (people::Entity, people::Column::StaffGroupId).into_column_ref(),
        ])
        .to_owned()
}

/// Headcount rows summed by session, organisation and staff group.
fn headcount_groups(programme_id: Uuid, from: NaiveDate, to: NaiveDate) -> SelectStatement {
    use cascade_headcounts::Column as H;
    Query::select()
        .column(H::CascadeSessionId)
        .column(H::OrganisationId)
        .column(H::StaffGroupId)
        .expr_as(Expr::col(H::Count).sum(), "people")
        .from(cascade_headcounts::Entity)
        .and_where(
            Expr::col(H::CascadeSessionId).in_subquery(delivered_between(programme_id, from, to)),
        )
        .group_by_columns([H::CascadeSessionId, H::OrganisationId, H::StaffGroupId])
        .to_owned()
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
    let delivered = cascade_sessions::Entity::find()
        .filter(cascade_sessions::Column::ProgrammeId.eq(programme_id))
        .filter(cascade_sessions::Column::DeliveredOn.gte(from))
        .filter(cascade_sessions::Column::DeliveredOn.lte(to))
        .all(db)
        .await?;
    let leads: Vec<Uuid> = delivered
        .iter()
        .map(|s| s.lead_trainer_id)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let persons: HashMap<Uuid, people::Model> = people::Entity::find()
        .filter(people::Column::Id.is_in(leads.iter().copied()))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let cohort_of = cohorts(db, programme_id, &leads).await?;
    let by_session: HashMap<Uuid, &cascade_sessions::Model> =
        delivered.iter().map(|s| (s.id, s)).collect();

    let mut units = Vec::new();
    let mut named = 0;
    let mut headcount = 0;
    for (group, is_named) in [
        (attendee_groups(programme_id, from, to), true),
        (headcount_groups(programme_id, from, to), false),
    ] {
        for g in Group::find_by_statement(db.get_database_backend().build(&group))
            .all(db)
            .await?
        {
            let Some(s) = by_session.get(&g.cascade_session_id) else {
                continue;
            };
            let count = i32::try_from(g.people).unwrap_or(i32::MAX);
            if is_named {
                named += count;
            } else {
                headcount += count;
            }
            units.push(Unit {
                session: s.id,
                count,
                trainer: s.lead_trainer_id,
                cohort: cohort_of.get(&s.lead_trainer_id).copied(),
                organisation: g.organisation_id,
                staff_group: g.staff_group_id,
                locality: s.locality_id,
            });
        }
    }
    let people_reached = named + headcount;
    let active = active_trainers(db, programme_id, Ord::min(to, today))
        .await?
        .len() as i32;

    let own = match who.people_scope() {
        PeopleScope::Organisation(org) => Some(org),
        _ => None,
    };
    let visible: Vec<&Unit> = units
        .iter()
        .filter(|u| own.is_none_or(|org| u.organisation == Some(org)))
        .collect();

    let orgs: HashMap<Uuid, organisations::Model> = organisations::Entity::find()
        .filter(
            organisations::Column::Id
                .is_in(distinct(visible.iter().filter_map(|u| u.organisation))),
        )
        .all(db)
        .await?
        .into_iter()
        .map(|o| (o.id, o))
        .collect();
    let groups: HashMap<Uuid, String> = staff_groups::Entity::find()
        .filter(
            staff_groups::Column::Id.is_in(distinct(visible.iter().filter_map(|u| u.staff_group))),
        )
        .all(db)
        .await?
        .into_iter()
        .map(|g| (g.id, g.name))
        .collect();
    let places: HashMap<Uuid, String> = localities::Entity::find()
        .filter(localities::Column::Id.is_in(distinct(visible.iter().filter_map(|u| u.locality))))
        .all(db)
        .await?
        .into_iter()
        .map(|l| (l.id, l.name))
        .collect();
    let cohort_sessions: HashMap<Uuid, sessions::Model> = sessions::Entity::find()
        .filter(sessions::Column::Id.is_in(distinct(visible.iter().filter_map(|u| u.cohort))))
        .all(db)
        .await?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    let by_id = |k: &str| k.parse::<Uuid>().ok();
    Ok(ReachReport {
        programme_id,
        from,
        to,
        people_reached,
        named,
        headcount,
        cascade_sessions: delivered.len() as i32,
        active_trainers: active,
        reach_per_trainer: (active > 0)
            .then(|| (f64::from(people_reached) / f64::from(active) * 100.0).round() / 100.0),
        breakdowns_for_organisation_id: own,
        by_trainer: breakdown(
            &visible,
            |u| Some(u.trainer.to_string()),
            |k| {
                by_id(k)
                    .and_then(|id| persons.get(&id))
                    .map_or_else(|| k.to_owned(), |p| p.name.clone())
            },
        ),
        by_cohort: breakdown(
            &visible,
            |u| u.cohort.map(|c| c.to_string()),
            |k| {
                by_id(k)
                    .and_then(|id| cohort_sessions.get(&id))
                    .map_or_else(
                        || k.to_owned(),
                        |s| format!("Cohort of {}", london_today(s.starts_at)),
                    )
            },
        ),
        by_partner: breakdown(
            &visible,
            |u| u.organisation.map(|o| o.to_string()),
            |k| {
                by_id(k)
                    .and_then(|id| orgs.get(&id))
                    .map_or_else(|| k.to_owned(), |o| o.name.clone())
            },
        ),
        by_sector: breakdown(
            &visible,
            |u| {
                u.organisation
                    .and_then(|o| orgs.get(&o))
                    .map(|o| sector_code(o.sector).to_owned())
            },
            str::to_owned,
        ),
        by_locality: breakdown(
            &visible,
            |u| u.locality.map(|l| l.to_string()),
            |k| {
                by_id(k)
                    .and_then(|id| places.get(&id))
                    .cloned()
                    .unwrap_or_else(|| k.to_owned())
            },
        ),
        by_staff_group: breakdown(
            &visible,
            |u| u.staff_group.map(|g| g.to_string()),
            |k| {
                by_id(k)
                    .and_then(|id| groups.get(&id))
                    .cloned()
                    .unwrap_or_else(|| k.to_owned())
            },
        ),
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
        .one(db)
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
