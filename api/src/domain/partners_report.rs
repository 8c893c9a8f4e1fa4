//! The partner report: what each partner paid, what its staff used, what non-attendance cost
//! it, and its balance — with every apportionment by largest remainder so parts sum to the whole.

use crate::db::FirstRow as _;
use std::collections::{BTreeMap, HashMap, HashSet};

use entities::{bookings, completions, enums::BookingStatus, organisations, programme_years};
use poem_openapi::Object;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QuerySelect,
};
use uuid::Uuid;

use super::{
    champions::champion_courses,
    funding::{
        apportion, charges_of, contributions_of, costs_of, listing_order, offered_in_year,
        offered_sessions, session_ids, year_bounds,
    },
    organisations::SectorCode,
    programmes,
    sessions::london_today,
};
use crate::{
    auth::{PeopleScope, Principal},
    error::{ApiError, ApiResult},
};

/// One partner's line.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PartnerLine {
    /// The partner (none on the totals line).
    pub organisation_id: Option<Uuid>,
    /// Its name (`Total` on the totals line).
    pub name: String,
    /// Its sector.
    pub sector: Option<SectorCode>,
    /// What it contributed, in pence.
    pub contribution_pence: i64,
    /// Its share of the contributions, in basis points.
    pub share_bp: i64,
    /// Its fair share of the places offered: share × places offered, by largest remainder.
    pub fair_share_places: i64,
    /// Places its staff held (confirmed, attended, partly attended or no-show).
    pub booked: i64,
    /// Of those, attended (fully or partly).
    pub attended: i64,
    /// Of those, not attended at all.
    pub no_show: i64,
    /// Places given up late.
    pub late_cancelled: i64,
    /// Places used (= booked).
    pub used: i64,
    /// Used minus fair share: above zero it used more than it paid for.
    pub over_under: i64,
    /// Late-cancellation and no-show charges owed, in pence (waived ones excluded).
    pub charges_pence: i64,
    /// Its part of the year's costs, in proportion to places used, in pence.
    pub cost_consumed_pence: i64,
    /// Contribution − cost consumed − charges, in pence.
    pub balance_pence: i64,
}

/// The partner report of a programme year.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PartnerReport {
    /// The programme.
    pub programme_id: Uuid,
    /// The programme year (2026 = April 2026 to March 2027).
    pub year: i32,
    /// Places offered by the year's sessions that were not cancelled.
    pub places_offered: i64,
    /// All costs: session and other costs plus the licence fee for each champion trained.
    pub total_costs_pence: i64,
    /// Champions trained in the year (for the licence fee).
    pub champions_trained: i64,
    /// Total costs ÷ places used, rounded to the penny (informational; each partner's cost is
    /// apportioned exactly).
    pub cost_per_place_pence: Option<i64>,
    /// For a partner key: the organisation the lines are limited to.
    pub for_organisation_id: Option<Uuid>,
    /// One line per partner (contributors and organisations whose staff booked), by name.
    pub partners: Vec<PartnerLine>,
    /// The programme totals.
    pub totals: PartnerLine,
}

/// Distinct people who completed a champion course of the programme in the year.
pub async fn champions_trained(
    db: &impl ConnectionTrait,
    programme_id: uuid::Uuid,
    year: i32,
) -> ApiResult<i64> {
    let (start, end) = year_bounds(year);
    let rows = completions::Entity::find()
        .filter(completions::Column::CourseId.in_subquery(champion_courses(Some(programme_id))))
        .filter(completions::Column::CompletedOn.gte(london_today(start)))
        .filter(completions::Column::CompletedOn.lt(london_today(end)))
        .all(db)
        .await?;
    Ok(rows
        .iter()
        .map(|c| c.person_id)
        .collect::<HashSet<_>>()
        .len() as i64)
}

/// All costs of the year: recorded costs plus the licence fee per champion trained.
pub async fn total_costs(
    db: &impl ConnectionTrait,
    programme_id: Uuid,
    year: i32,
    champions: i64,
) -> ApiResult<i64> {
    let recorded: i64 = costs_of(db, programme_id, year)
        .await?
        .iter()
        .map(|c| c.amount_pence)
        .sum();
    let fee = programme_years::Entity::find_by_id((programme_id, year))
        .first(db)
        .await?
        .and_then(|y| y.licence_fee_per_champion_pence)
        .unwrap_or(0);
    Ok(recorded + fee * champions)
}

/// Bookings on one organisation's behalf in one state, on the year's offered sessions.
#[derive(Debug, FromQueryResult)]
struct Held {
    organisation_id: Uuid,
    status: BookingStatus,
    late_cancellation: bool,
    places: i64,
}

/// The year's bookings counted in the database by organisation and state (the offered sessions
/// are a subquery, so no list of ids is sent however many sessions the year holds).
async fn held_places(
    db: &impl ConnectionTrait,
    programme_id: Uuid,
    year: i32,
) -> ApiResult<Vec<Held>> {
    Ok(bookings::Entity::find()
        .select_only()
        .column(bookings::Column::OrganisationId)
        .column(bookings::Column::Status)
        .column(bookings::Column::LateCancellation)
        .column_as(bookings::Column::Id.count(), "places")
        .filter(
            bookings::Column::SessionId
                .in_subquery(session_ids(offered_in_year(programme_id, year))),
        )
        .group_by(bookings::Column::OrganisationId)
        .group_by(bookings::Column::Status)
        .group_by(bookings::Column::LateCancellation)
        .into_model::<Held>()
        .all(db)
        .await?)
}

pub async fn report(
    db: &impl ConnectionTrait,
    who: &Principal,
    programme_id: Uuid,
    year: i32,
) -> ApiResult<PartnerReport> {
    programmes::find(db, programme_id).await?;
    if !(2000..=2100).contains(&year) {
        return Err(ApiError::invalid("year", "must be between 2000 and 2100"));
    }
    let contributions = contributions_of(db, programme_id, year).await?;
    let sessions = offered_sessions(db, programme_id, year).await?;
    let places_offered: i64 = sessions.iter().map(|s| i64::from(s.capacity)).sum();
    let held = held_places(db, programme_id, year).await?;
    let charges = charges_of(db, programme_id, year).await?;
    let champions = champions_trained(db, programme_id, year).await?;
    let costs = total_costs(db, programme_id, year, champions).await?;

    #[derive(Default)]
    struct Use {
        booked: i64,
        attended: i64,
        no_show: i64,
        late: i64,
        charges: i64,
    }
    let mut use_by: BTreeMap<Uuid, Use> = BTreeMap::new();
    for c in &contributions {
        use_by.entry(c.organisation_id).or_default();
    }
    for h in &held {
        let u = use_by.entry(h.organisation_id).or_default();
        match h.status {
            BookingStatus::Confirmed => u.booked += h.places,
            BookingStatus::Attended | BookingStatus::Partial => {
                u.booked += h.places;
                u.attended += h.places;
            }
            BookingStatus::NoShow => {
                u.booked += h.places;
                u.no_show += h.places;
            }
            BookingStatus::Cancelled if h.late_cancellation => u.late += h.places,
            _ => {}
        }
    }
    for c in &charges {
        use_by.entry(c.organisation_id).or_default().charges += c.amount_pence;
    }
    let orgs: HashMap<Uuid, organisations::Model> = organisations::Entity::find()
        .filter(organisations::Column::Id.is_in(use_by.keys().copied()))
        .all(db)
        .await?
        .into_iter()
        .map(|o| (o.id, o))
        .collect();
    // Listing order (name, then id) is the tie-break order of every apportionment below, so a
    // finance officer rebuilds each line from the CSV in the order it lists them.
    let names: HashMap<Uuid, String> = orgs.iter().map(|(id, o)| (*id, o.name.clone())).collect();
    let mut ids: Vec<Uuid> = use_by.keys().copied().collect();
    ids.sort_by(|a, b| listing_order(&names, *a, *b));
    let contribution_of = |id: &Uuid| {
        contributions
            .iter()
            .find(|c| c.organisation_id == *id)
            .map_or(0, |c| c.amount_pence)
    };
    let amounts: Vec<i64> = ids.iter().map(contribution_of).collect();
    let shares = apportion(10_000, &amounts);
    let fair = apportion(places_offered, &amounts);
    let used: Vec<i64> = ids.iter().map(|id| use_by[id].booked).collect();
    let consumed = apportion(costs, &used);
    let total_used: i64 = used.iter().sum();

    let mut lines: Vec<PartnerLine> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let u = &use_by[id];
            let org = orgs.get(id);
            PartnerLine {
                organisation_id: Some(*id),
                name: org.map_or_else(String::new, |o| o.name.clone()),
                sector: org.map(|o| o.sector.into()),
                contribution_pence: amounts[i],
                share_bp: shares[i],
                fair_share_places: fair[i],
                booked: u.booked,
                attended: u.attended,
                no_show: u.no_show,
                late_cancelled: u.late,
                used: u.booked,
                over_under: u.booked - fair[i],
                charges_pence: u.charges,
                cost_consumed_pence: consumed[i],
                balance_pence: amounts[i] - consumed[i] - u.charges,
            }
        })
        .collect();
    let sum = |f: fn(&PartnerLine) -> i64| lines.iter().map(f).sum::<i64>();
    let totals = PartnerLine {
        organisation_id: None,
        name: "Total".into(),
        sector: None,
        contribution_pence: sum(|l| l.contribution_pence),
        share_bp: sum(|l| l.share_bp),
        fair_share_places: sum(|l| l.fair_share_places),
        booked: sum(|l| l.booked),
        attended: sum(|l| l.attended),
        no_show: sum(|l| l.no_show),
        late_cancelled: sum(|l| l.late_cancelled),
        used: sum(|l| l.used),
        over_under: sum(|l| l.over_under),
        charges_pence: sum(|l| l.charges_pence),
        cost_consumed_pence: sum(|l| l.cost_consumed_pence),
        balance_pence: sum(|l| l.balance_pence),
    };
    let own = match who.people_scope() {
        PeopleScope::Organisation(org) => Some(org),
        _ => None,
    };
    if let Some(org) = own {
        lines.retain(|l| l.organisation_id == Some(org));
    }
    Ok(PartnerReport {
        programme_id,
        year,
        places_offered,
        total_costs_pence: costs,
        champions_trained: champions,
        cost_per_place_pence: (total_used > 0).then(|| (costs * 2 + total_used) / (total_used * 2)),
        for_organisation_id: own,
        partners: lines,
        totals,
    })
}
