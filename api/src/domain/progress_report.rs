//! The progress report of a programme year: each target against the actual to date and a
//! forecast from confirmed bookings in scheduled sessions; and the reserved-places report.

use crate::db::FirstRow as _;
use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use entities::{
    bookings, completions, courses,
    enums::{BookingStatus, CourseKind, Place, Sector, SessionStatus},
    localities, memberships, organisations, people, programme_years, sessions, staff_groups,
};
use poem_openapi::Object;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::{
    champions::champion_courses,
    funding::year_bounds,
    organisations::SectorCode,
    partners_report::{champions_trained, total_costs},
    programmes,
    sessions::london_today,
    trainers::steps::active_trainers,
};
use crate::{
    clock::Clock,
    error::{ApiError, ApiResult},
};

/// One target of the year.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TargetLine {
    /// `champion_sessions`, `champions_trained`, `active_trainers`, `reserved_share_bp` or
    /// `cascade_reach`.
    pub target: String,
    /// A readable name.
    pub name: String,
    /// The year's target, if set.
    pub target_value: Option<i64>,
    /// Achieved to date.
    pub actual: i64,
    /// Achieved to date plus what confirmed bookings in scheduled sessions will add.
    pub forecast: i64,
}

/// A count on one line of a breakdown.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CountLine {
    /// An id, a sector code, or `unknown`.
    pub key: String,
    /// A readable name.
    pub name: String,
    /// How many.
    pub count: i64,
}

/// Progress of a programme year against its targets.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ProgressReport {
    /// The programme.
    pub programme_id: Uuid,
    /// Its name.
    pub programme_name: String,
    /// The programme year (2026 = April 2026 to March 2027).
    pub year: i32,
    /// The targets, actuals and forecasts.
    pub targets: Vec<TargetLine>,
    /// Sessions of the programme completed in the year.
    pub sessions_delivered: i64,
    /// Sessions of the programme still scheduled in the year.
    pub sessions_planned: i64,
    /// Champions trained in the year, by their employer's sector.
    pub champions_by_sector: Vec<CountLine>,
    /// By locality.
    pub champions_by_locality: Vec<CountLine>,
    /// By staff group.
    pub champions_by_staff_group: Vec<CountLine>,
    /// All costs of the year, in pence.
    pub total_costs_pence: i64,
    /// Total costs ÷ champions trained, in pence (rounded).
    pub cost_per_champion_pence: Option<i64>,
    /// Total costs ÷ people reached by cascades, in pence (rounded).
    pub cost_per_person_reached_pence: Option<i64>,
}

fn ratio(total: i64, count: i64) -> Option<i64> {
    (count > 0).then(|| (total * 2 + count) / (count * 2))
}

fn counts(
    items: impl Iterator<Item = Option<String>>,
    names: &HashMap<String, String>,
) -> Vec<CountLine> {
    let mut map: BTreeMap<String, i64> = BTreeMap::new();
    for key in items {
        *map.entry(key.unwrap_or_else(|| "unknown".into()))
            .or_default() += 1;
    }
    let mut out: Vec<CountLine> = map
        .into_iter()
        .map(|(key, count)| CountLine {
            name: names.get(&key).cloned().unwrap_or_else(|| {
                if key == "unknown" {
                    "Unknown".into()
                } else {
                    key.clone()
                }
            }),
            key,
            count,
        })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then(a.name.cmp(&b.name)));
    out
}

pub fn sector_code(sector: Sector) -> &'static str {
    match sector {
        Sector::Council => "council",
        Sector::Health => "health",
        Sector::Police => "police",
        Sector::School => "school",
        Sector::Voluntary => "voluntary",
        Sector::Other => "other",
    }
}

/// People reached by the programme's cascade sessions delivered in the range (`to` excluded),
/// from the reach rollup.
async fn reach(
    db: &impl ConnectionTrait,
    programme_id: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> ApiResult<i64> {
    use super::reach::rollup;
    let Some(last) = to.pred_opt().filter(|last| *last >= from) else {
        return Ok(0);
    };
    Ok(rollup::lines(
        db,
        programme_id,
        rollup::PROGRAMME,
        from,
        last,
        &[rollup::TOTAL],
    )
    .await?
    .first()
    .map_or(0, |t| t.named + t.headcount))
}

struct Year {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    sessions: Vec<sessions::Model>,
    champion_sessions: Vec<sessions::Model>,
}

async fn year_sessions(
    db: &impl ConnectionTrait,
    programme_id: Uuid,
    year: i32,
) -> ApiResult<Year> {
    let (start, end) = year_bounds(year);
    let sessions = sessions::Entity::find()
        .filter(sessions::Column::ProgrammeId.eq(programme_id))
        .filter(sessions::Column::StartsAt.gte(start))
        .filter(sessions::Column::StartsAt.lt(end))
        .filter(sessions::Column::Status.ne(SessionStatus::Cancelled))
        .all(db)
        .await?;
    let champion: HashSet<Uuid> = courses::Entity::find()
        .filter(courses::Column::ProgrammeId.eq(programme_id))
        .filter(courses::Column::Kind.eq(CourseKind::Champion))
        .all(db)
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect();
    let champion_sessions = sessions
        .iter()
        .filter(|s| champion.contains(&s.course_id))
        .cloned()
        .collect();
    Ok(Year {
        start,
        end,
        sessions,
        champion_sessions,
    })
}

fn check(year: i32) -> ApiResult<()> {
    if (2000..=2100).contains(&year) {
        Ok(())
    } else {
        Err(ApiError::invalid("year", "must be between 2000 and 2100"))
    }
}

pub async fn progress(
    db: &impl ConnectionTrait,
    clock: &Clock,
    programme_id: Uuid,
    year: i32,
) -> ApiResult<ProgressReport> {
    check(year)?;
    let programme = programmes::find(db, programme_id).await?;
    let targets = programme_years::Entity::find_by_id((programme_id, year))
        .first(db)
        .await?;
    let y = year_sessions(db, programme_id, year).await?;
    let (from, to) = (london_today(y.start), london_today(y.end));
    let today = london_today(clock.now());

    let delivered = |s: &&sessions::Model| s.status == SessionStatus::Completed;
    let planned = |s: &&sessions::Model| s.status == SessionStatus::Scheduled;
    let champion_sessions_done = y.champion_sessions.iter().filter(delivered).count() as i64;
    let champion_sessions_planned = y.champion_sessions.iter().filter(planned).count() as i64;

    // Champions trained in the year, and who is booked to become one.
    let champion_rows = completions::Entity::find()
        .filter(completions::Column::CourseId.in_subquery(champion_courses(Some(programme_id))))
        .filter(completions::Column::CompletedOn.gte(from))
        .filter(completions::Column::CompletedOn.lt(to))
        .all(db)
        .await?;
    let champions: HashSet<Uuid> = champion_rows.iter().map(|c| c.person_id).collect();
    let upcoming: Vec<Uuid> = y
        .champion_sessions
        .iter()
        .filter(planned)
        .map(|s| s.id)
        .collect();
    let confirmed = bookings::Entity::find()
        .filter(bookings::Column::SessionId.is_in(upcoming))
        .filter(bookings::Column::Status.eq(BookingStatus::Confirmed))
        .all(db)
        .await?;
    let will_be: HashSet<Uuid> = confirmed
        .iter()
        .map(|b| b.person_id)
        .filter(|p| !champions.contains(p))
        .collect();
    let trained = champions_trained(db, programme_id, year).await?;

    let trainers = active_trainers(db, programme_id, today.min(to.pred_opt().unwrap_or(to)))
        .await?
        .len() as i64;
    let reserved = reserved_places(db, programme_id, year, clock.now()).await?;
    let reached = reach(db, programme_id, from, to).await?;
    let costs = total_costs(db, programme_id, year, trained).await?;

    // Breakdowns of the champions trained.
    let ids: Vec<Uuid> = champions.iter().copied().collect();
    let persons: Vec<people::Model> = people::Entity::find()
        .filter(people::Column::Id.is_in(ids.clone()))
        .all(db)
        .await?;
    let employers: HashMap<Uuid, Uuid> = memberships::Entity::find()
        .filter(memberships::Column::PersonId.is_in(ids))
        .filter(memberships::Column::IsPrimary.eq(true))
        .all(db)
        .await?
        .into_iter()
        .map(|m| (m.person_id, m.organisation_id))
        .collect();
    let sectors: HashMap<Uuid, Sector> = organisations::Entity::find()
        .filter(organisations::Column::Id.is_in(employers.values().copied()))
        .all(db)
        .await?
        .into_iter()
        .map(|o| (o.id, o.sector))
        .collect();
    let place_names: HashMap<String, String> = localities::Entity::find()
        .filter(localities::Column::Id.is_in(persons.iter().filter_map(|p| p.locality_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|l| (l.id.to_string(), l.name))
        .collect();
    let group_names: HashMap<String, String> = staff_groups::Entity::find()
        .filter(staff_groups::Column::Id.is_in(persons.iter().filter_map(|p| p.staff_group_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|g| (g.id.to_string(), g.name))
        .collect();

    let target = |t: Option<i32>| t.map(i64::from);
    let t = targets.as_ref();
    Ok(ProgressReport {
        programme_id,
        programme_name: programme.name,
        year,
        targets: vec![
            TargetLine {
                target: "champion_sessions".into(),
                name: "Champion sessions".into(),
                target_value: t.and_then(|t| target(t.champion_sessions_target)),
                actual: champion_sessions_done,
                forecast: champion_sessions_done + champion_sessions_planned,
            },
            TargetLine {
                target: "champions_trained".into(),
                name: "Champions trained".into(),
                target_value: t.and_then(|t| target(t.champions_target)),
                actual: trained,
                forecast: trained + will_be.len() as i64,
            },
            TargetLine {
                target: "active_trainers".into(),
                name: "Active trainers".into(),
                target_value: t.and_then(|t| target(t.trainers_target)),
                actual: trainers,
                forecast: trainers,
            },
            TargetLine {
                target: "reserved_share_bp".into(),
                name: "Reserved-sector share of champion places (basis points)".into(),
                target_value: t.and_then(|t| target(t.reserved_share_bp)),
                // To date: places attended on sessions held; forecast: every place held.
                actual: reserved.totals.share_attended_bp,
                forecast: reserved.totals.share_received_bp,
            },
            TargetLine {
                target: "cascade_reach".into(),
                name: "People reached by cascades".into(),
                target_value: t.and_then(|t| target(t.reach_target)),
                actual: reached,
                forecast: reached,
            },
        ],
        sessions_delivered: y.sessions.iter().filter(delivered).count() as i64,
        sessions_planned: y.sessions.iter().filter(planned).count() as i64,
        champions_by_sector: counts(
            persons.iter().map(|p| {
                employers
                    .get(&p.id)
                    .and_then(|o| sectors.get(o))
                    .map(|s| sector_code(*s).to_owned())
            }),
            &HashMap::new(),
        ),
        champions_by_locality: counts(
            persons.iter().map(|p| p.locality_id.map(|l| l.to_string())),
            &place_names,
        ),
        champions_by_staff_group: counts(
            persons
                .iter()
                .map(|p| p.staff_group_id.map(|g| g.to_string())),
            &group_names,
        ),
        total_costs_pence: costs,
        cost_per_champion_pence: ratio(costs, trained),
        cost_per_person_reached_pence: ratio(costs, reached),
    })
}

/// Reserved places of one session.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ReservedLine {
    /// The session (none on the totals line).
    pub session_id: Option<Uuid>,
    /// When it starts (none on the totals line).
    pub starts_at: Option<DateTime<Utc>>,
    /// The sector places were held for.
    pub sector: Option<SectorCode>,
    /// The session's places.
    pub capacity: i64,
    /// Places held for the sector: ceil(capacity × share).
    pub reserved_offered: i64,
    /// Reserved places the sector took (and still holds or held to the end).
    pub taken_by_sector: i64,
    /// Reserved places not taken by the sector that went to general use: counted once the
    /// release time has passed (until then they are still held for the sector).
    pub released_to_general: i64,
    /// Places the sector's people held in all, reserved or general.
    pub sector_places: i64,
    /// Places held by anyone.
    pub places_held: i64,
    /// The sector's share of the places held, in basis points (rounded): what the year will give
    /// the sector if everyone booked comes (the progress report's forecast).
    pub share_received_bp: i64,
    /// Places the sector's people attended (fully or in part) on sessions already held.
    pub sector_attended: i64,
    /// Places attended by anyone on sessions already held.
    pub places_attended: i64,
    /// The sector's share of the places attended, in basis points (rounded): what the sector has
    /// had to date (the progress report's actual).
    pub share_attended_bp: i64,
}

/// Reserved places of a programme year, per session and in total, against the target share.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ReservedReport {
    /// The programme.
    pub programme_id: Uuid,
    /// The programme year.
    pub year: i32,
    /// The year's target share for the reserved sector, in basis points.
    pub target_share_bp: Option<i64>,
    /// One line per session with reserved places.
    pub sessions: Vec<ReservedLine>,
    /// The year's totals.
    pub totals: ReservedLine,
}

fn held(status: BookingStatus) -> bool {
    matches!(
        status,
        BookingStatus::Confirmed
            | BookingStatus::Attended
            | BookingStatus::Partial
            | BookingStatus::NoShow
    )
}

pub async fn reserved_places(
    db: &impl ConnectionTrait,
    programme_id: Uuid,
    year: i32,
    now: DateTime<Utc>,
) -> ApiResult<ReservedReport> {
    check(year)?;
    programmes::find(db, programme_id).await?;
    let target = programme_years::Entity::find_by_id((programme_id, year))
        .first(db)
        .await?
        .and_then(|y| y.reserved_share_bp)
        .map(i64::from);
    let y = year_sessions(db, programme_id, year).await?;
    let with_reserve: Vec<&sessions::Model> = y
        .sessions
        .iter()
        .filter(|s| s.reserved_sector.is_some())
        .collect();
    let ids: Vec<Uuid> = with_reserve.iter().map(|s| s.id).collect();
    let rows = bookings::Entity::find()
        .filter(bookings::Column::SessionId.is_in(ids))
        .all(db)
        .await?;
    let sectors: HashMap<Uuid, Sector> = organisations::Entity::find()
        .filter(organisations::Column::Id.is_in(rows.iter().map(|b| b.organisation_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|o| (o.id, o.sector))
        .collect();
    let share = |part: i64, whole: i64| {
        if whole > 0 {
            (part * 20_000 + whole) / (whole * 2)
        } else {
            0
        }
    };
    let lines: Vec<ReservedLine> = with_reserve
        .iter()
        .map(|s| {
            let mine: Vec<&bookings::Model> = rows
                .iter()
                .filter(|b| b.session_id == s.id && held(b.status))
                .collect();
            let offered = i64::from(super::sessions::reserved_places_for(
                s.capacity,
                s.reserved_share_bp,
            ));
            let taken = mine
                .iter()
                .filter(|b| b.place == Some(Place::Reserved))
                .count() as i64;
            let sector_places = mine
                .iter()
                .filter(|b| sectors.get(&b.organisation_id).copied() == s.reserved_sector)
                .count() as i64;
            let places_held = mine.len() as i64;
            let attended: Vec<&&bookings::Model> = mine
                .iter()
                .filter(|b| matches!(b.status, BookingStatus::Attended | BookingStatus::Partial))
                .collect();
            let sector_attended = attended
                .iter()
                .filter(|b| sectors.get(&b.organisation_id).copied() == s.reserved_sector)
                .count() as i64;
            let places_attended = attended.len() as i64;
            ReservedLine {
                session_id: Some(s.id),
                starts_at: Some(s.starts_at),
                sector: s.reserved_sector.map(Into::into),
                capacity: i64::from(s.capacity),
                reserved_offered: offered,
                taken_by_sector: taken,
                // The one rule for when held places stop being held: availability's.
                released_to_general: if super::sessions::availability::Availability::of(s, now)
                    .reserved_places
                    > 0
                {
                    0
                } else {
                    (offered - taken).max(0)
                },
                sector_places,
                places_held,
                share_received_bp: share(sector_places, places_held),
                sector_attended,
                places_attended,
                share_attended_bp: share(sector_attended, places_attended),
            }
        })
        .collect();
    let sum = |f: fn(&ReservedLine) -> i64| lines.iter().map(f).sum::<i64>();
    let (sector_places, places_held) = (sum(|l| l.sector_places), sum(|l| l.places_held));
    let (sector_attended, places_attended) =
        (sum(|l| l.sector_attended), sum(|l| l.places_attended));
    let totals = ReservedLine {
        session_id: None,
        starts_at: None,
        sector: None,
        capacity: sum(|l| l.capacity),
        reserved_offered: sum(|l| l.reserved_offered),
        taken_by_sector: sum(|l| l.taken_by_sector),
        released_to_general: sum(|l| l.released_to_general),
        sector_places,
        places_held,
        share_received_bp: share(sector_places, places_held),
        sector_attended,
        places_attended,
        share_attended_bp: share(sector_attended, places_attended),
    };
    Ok(ReservedReport {
        programme_id,
        year,
        target_share_bp: target,
        sessions: lines,
        totals,
    })
}

/// The board's summary: progress bars, the partner table and the reserved share, then the
/// dashboard's charts.
pub async fn board(
    db: &impl ConnectionTrait,
    clock: &Clock,
    who: &crate::auth::Principal,
    programme_id: Uuid,
    year: i32,
) -> ApiResult<crate::render::board_pdf::Board> {
    use crate::render::board_pdf::{Board, PartnerRow};
    let super::dashboard::Dashboard {
        progress,
        partners,
        targets,
        charts,
        ..
    } = super::dashboard::load(db, clock, who, programme_id, year).await?;
    let reserved = reserved_places(db, programme_id, year, clock.now()).await?;
    let percent = |bp: i64| format!("{:.1}%", bp as f64 / 100.0);
    Ok(Board {
        title: format!(
            "{} — programme year {}/{:02}",
            progress.programme_name,
            year,
            (year + 1) % 100
        ),
        subtitle: format!(
            "Progress at {}: {} sessions delivered, {} planned",
            london_today(clock.now()),
            progress.sessions_delivered,
            progress.sessions_planned
        ),
        targets,
        charts,
        partners: partners
            .partners
            .iter()
            .chain(std::iter::once(&partners.totals))
            .map(|p| PartnerRow {
                name: p.name.clone(),
                contribution_pence: p.contribution_pence,
                used: p.used,
                fair_share: p.fair_share_places,
                balance_pence: p.balance_pence,
            })
            .collect(),
        reserved: format!(
            "Reserved-sector share of champion places: {} received (target {}); {} of {} reserved places taken by the sector.",
            percent(reserved.totals.share_received_bp),
            reserved
                .target_share_bp
                .map_or_else(|| "not set".to_owned(), percent),
            reserved.totals.taken_by_sector,
            reserved.totals.reserved_offered
        ),
    })
}
