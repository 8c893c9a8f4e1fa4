//! Funding of a programme year: partners' contributions and the shares derived from them, costs,
//! and the charges for late cancellations and no-shows, computed from bookings (never typed in).
//!
//! Every apportionment uses the largest-remainder method: each part gets the floor of its exact
//! quota, and the units left over go one each to the largest remainders (ties to the earlier
//! part), so the parts always add up to the whole.

use crate::ctx::Ctx;
use crate::db::FirstRow as _;
use crate::problem::ProblemKind;
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use entities::{
    bookings, contributions, costs, courses,
    enums::{BookingStatus, SessionStatus},
    organisations, programme_years, sessions,
};
use poem_openapi::{Enum, Object};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, Set,
    sea_query::{OnConflict, Query, SelectStatement},
};
use uuid::Uuid;

use super::{bookings::find_reachable as find_booking, programmes, sessions::london_midnight};
use crate::{
    audit::{self, Change},
    auth::Principal,
    error::{ApiError, ApiResult},
};

mod charges;
pub use charges::*;

/// Organisations' names, for listing partners in the order apportionment breaks ties by.
pub async fn names_of(
    db: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = Uuid>,
) -> ApiResult<HashMap<Uuid, String>> {
    Ok(entities::organisations::Entity::find()
        .filter(entities::organisations::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|o| (o.id, o.name))
        .collect())
}

/// The order partners are listed in — by name, then id — which is also the order in which
/// apportionment gives out its spare pennies (or places, or basis points) on a tie.
pub fn listing_order(names: &HashMap<Uuid, String>, a: Uuid, b: Uuid) -> std::cmp::Ordering {
    let name = |id: &Uuid| names.get(id).map_or("", String::as_str);
    name(&a).cmp(name(&b)).then(a.cmp(&b))
}

/// Splits `total` in proportion to `weights` by largest remainder: each part is the whole part of
/// its exact share, and what is left goes one unit each to the largest fractions; equal fractions
/// go to the earlier weight (callers pass partners in listing order). All zero weights give
/// zeros.
pub fn apportion(total: i64, weights: &[i64]) -> Vec<i64> {
    let sum: i128 = weights.iter().map(|w| i128::from((*w).max(0))).sum();
    if sum == 0 || total == 0 {
        return vec![0; weights.len()];
    }
    let mut parts: Vec<i64> = Vec::with_capacity(weights.len());
    let mut remainders: Vec<(i128, usize)> = Vec::with_capacity(weights.len());
    for (i, w) in weights.iter().enumerate() {
        let exact = i128::from(total) * i128::from((*w).max(0));
        parts.push((exact / sum) as i64);
        remainders.push((exact % sum, i));
    }
    let left = total - parts.iter().sum::<i64>();
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, i) in remainders.into_iter().take(left.max(0) as usize) {
        parts[i] += 1;
    }
    parts
}

/// The first and last instants of a programme year (April to March, London time).
pub fn year_bounds(year: i32) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = NaiveDate::from_ymd_opt(year, 4, 1).unwrap_or_default();
    let end = NaiveDate::from_ymd_opt(year.saturating_add(1), 4, 1).unwrap_or_default();
    (london_midnight(start), london_midnight(end))
}

/// A partner's contribution to a programme year.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Contribution {
    /// The partner.
    pub organisation_id: Uuid,
    /// Its contribution, in pence.
    pub amount_pence: i64,
    /// Its share of all contributions, in basis points (largest remainder: shares sum to 10,000).
    pub share_bp: i64,
}

/// A contribution to set.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct ContributionInput {
    /// The amount in pence, 0 to 10,000,000,000 (£100m).
    pub amount_pence: i64,
}

/// What a cost is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum CostCategory {
    /// A session's trainer.
    Trainer,
    /// A session's venue.
    Venue,
    /// A session's materials.
    Materials,
    /// Anything else (describe it).
    Other,
}

impl CostCategory {
    fn code(self) -> &'static str {
        match self {
            Self::Trainer => "trainer",
            Self::Venue => "venue",
            Self::Materials => "materials",
            Self::Other => "other",
        }
    }

    fn parse(code: &str) -> Self {
        match code {
            "trainer" => Self::Trainer,
            "venue" => Self::Venue,
            "materials" => Self::Materials,
            _ => Self::Other,
        }
    }
}

/// A cost of a programme year.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Cost {
    /// The cost's id.
    pub id: Uuid,
    pub category: CostCategory,
    /// The session it was for (trainer, venue and materials costs).
    pub session_id: Option<Uuid>,
    /// The amount in pence.
    pub amount_pence: i64,
    /// What it was.
    pub description: String,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
}

/// A cost to record.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct NewCost {
    pub category: CostCategory,
    /// Required for trainer, venue and materials costs: a session of the programme in the year.
    pub session_id: Option<Uuid>,
    /// The amount in pence, 1 to 10,000,000,000.
    pub amount_pence: i64,
    /// What it was, up to 500 characters (required for `other`).
    #[oai(default)]
    pub description: String,
}

pub async fn check_year(db: &impl ConnectionTrait, programme_id: Uuid, year: i32) -> ApiResult<()> {
    programmes::find(db, programme_id).await?;
    super::programme_years::check_year(year)
}

pub async fn contributions_of(
    db: &impl ConnectionTrait,
    programme_id: Uuid,
    year: i32,
) -> ApiResult<Vec<Contribution>> {
    let rows = contributions::Entity::find()
        .filter(contributions::Column::ProgrammeId.eq(programme_id))
        .filter(contributions::Column::Year.eq(year))
        .all(db)
        .await?;
    let names = names_of(db, rows.iter().map(|r| r.organisation_id)).await?;
    let mut rows = rows;
    rows.sort_by(|a, b| listing_order(&names, a.organisation_id, b.organisation_id));
    let amounts: Vec<i64> = rows.iter().map(|r| r.amount_pence).collect();
    let shares = apportion(10_000, &amounts);
    Ok(rows
        .into_iter()
        .zip(shares)
        .map(|(r, share_bp)| Contribution {
            organisation_id: r.organisation_id,
            amount_pence: r.amount_pence,
            share_bp,
        })
        .collect())
}

pub async fn list_contributions(
    db: &impl ConnectionTrait,
    programme_id: Uuid,
    year: i32,
) -> ApiResult<Vec<Contribution>> {
    check_year(db, programme_id, year).await?;
    contributions_of(db, programme_id, year).await
}

/// Sets a partner's contribution (an upsert: replicas setting it at once both succeed).
pub async fn put_contribution(
    ctx: &Ctx,
    programme_id: Uuid,
    year: i32,
    organisation_id: Uuid,
    input: ContributionInput,
) -> ApiResult<Vec<Contribution>> {
    let clock = &ctx.clock;
    if !(0..=10_000_000_000).contains(&input.amount_pence) {
        return Err(ApiError::invalid(
            "amount_pence",
            "must be between 0 and 10000000000",
        ));
    }
    let txn = ctx.begin().await?;
    check_year(&txn, programme_id, year).await?;
    organisations::Entity::find_by_id(organisation_id)
        .first(&txn)
        .await?
        .ok_or_else(|| ApiError::not_found("Organisation"))?;
    contributions::Entity::insert(contributions::ActiveModel {
        programme_id: Set(programme_id),
        year: Set(year),
        organisation_id: Set(organisation_id),
        amount_pence: Set(input.amount_pence),
        updated_at: Set(clock.now()),
    })
    .on_conflict(
        OnConflict::columns([
            contributions::Column::ProgrammeId,
            contributions::Column::Year,
            contributions::Column::OrganisationId,
        ])
        .update_columns([
            contributions::Column::AmountPence,
            contributions::Column::UpdatedAt,
        ])
        .to_owned(),
    )
    .exec(&txn)
    .await?;
    let all = contributions_of(&txn, programme_id, year).await?;
    audit::record(
        &txn,
        Change::new("contribution", organisation_id, "put").summary(format!(
            "programme {programme_id} year {year}: {} pence",
            input.amount_pence
        )),
    )
    .await?;
    txn.commit().await?;
    Ok(all)
}

fn cost_view(m: costs::Model) -> Cost {
    Cost {
        id: m.id,
        category: CostCategory::parse(&m.category),
        session_id: m.session_id,
        amount_pence: m.amount_pence,
        description: m.description,
        created_at: m.created_at,
    }
}

pub async fn costs_of(
    db: &impl ConnectionTrait,
    programme_id: Uuid,
    year: i32,
) -> ApiResult<Vec<Cost>> {
    Ok(costs::Entity::find()
        .filter(costs::Column::ProgrammeId.eq(programme_id))
        .filter(costs::Column::Year.eq(year))
        .order_by_asc(costs::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(cost_view)
        .collect())
}

pub async fn list_costs(
    db: &impl ConnectionTrait,
    programme_id: Uuid,
    year: i32,
) -> ApiResult<Vec<Cost>> {
    check_year(db, programme_id, year).await?;
    costs_of(db, programme_id, year).await
}

pub async fn create_cost(
    ctx: &Ctx,
    programme_id: Uuid,
    year: i32,
    input: NewCost,
) -> ApiResult<Cost> {
    let clock = &ctx.clock;
    let mut errors = super::validation::FieldErrors::default();
    errors.check(
        (1..=10_000_000_000).contains(&input.amount_pence),
        "amount_pence",
        "must be between 1 and 10000000000",
    );
    let description = input.description.trim().to_owned();
    errors.check(
        description.chars().count() <= 500,
        "description",
        "must be at most 500 characters",
    );
    match input.category {
        CostCategory::Other => errors.check(
            !description.is_empty(),
            "description",
            "describe an `other` cost",
        ),
        _ => errors.check(
            input.session_id.is_some(),
            "session_id",
            "a trainer, venue or materials cost belongs to a session",
        ),
    }
    let txn = ctx.begin().await?;
    check_year(&txn, programme_id, year).await?;
    if let Some(session) = input.session_id {
        let (start, end) = year_bounds(year);
        let ok = sessions::Entity::find_by_id(session)
            .first(&txn)
            .await?
            .is_some_and(|s| {
                s.programme_id == programme_id && s.starts_at >= start && s.starts_at < end
            });
        errors.check(
            ok,
            "session_id",
            "is not a session of this programme in this year",
        );
    }
    errors.finish()?;
    let model = costs::ActiveModel {
        id: Set(Uuid::now_v7()),
        programme_id: Set(programme_id),
        year: Set(year),
        category: Set(input.category.code().to_owned()),
        session_id: Set(input.session_id),
        amount_pence: Set(input.amount_pence),
        description: Set(description),
        created_at: Set(clock.now()),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        Change::new("cost", model.id, "create").summary(format!(
            "programme {programme_id} year {year}: {} {} pence",
            model.category, model.amount_pence
        )),
    )
    .await?;
    txn.commit().await?;
    Ok(cost_view(model))
}

pub async fn delete_cost(ctx: &Ctx, programme_id: Uuid, year: i32, id: Uuid) -> ApiResult<()> {
    let txn = ctx.begin().await?;
    let deleted = costs::Entity::delete_many()
        .filter(costs::Column::Id.eq(id))
        .filter(costs::Column::ProgrammeId.eq(programme_id))
        .filter(costs::Column::Year.eq(year))
        .exec(&txn)
        .await?;
    if deleted.rows_affected == 0 {
        return Err(ApiError::not_found("Cost"));
    }
    audit::record(
        &txn,
        Change::new("cost", id, "delete").summary(format!("programme {programme_id} year {year}")),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Sessions of a programme year that offer places (not cancelled).
pub async fn offered_sessions(
    db: &impl ConnectionTrait,
    programme_id: Uuid,
    year: i32,
) -> ApiResult<Vec<sessions::Model>> {
    Ok(sessions::Entity::find()
        .filter(offered_in_year(programme_id, year))
        .all(db)
        .await?)
}

/// The programme's sessions starting in the programme year.
pub(crate) fn sessions_in_year(programme_id: Uuid, year: i32) -> Condition {
    let (start, end) = year_bounds(year);
    Condition::all()
        .add(sessions::Column::ProgrammeId.eq(programme_id))
        .add(sessions::Column::StartsAt.gte(start))
        .add(sessions::Column::StartsAt.lt(end))
}

/// Those of them not cancelled: the places the year offered.
pub(crate) fn offered_in_year(programme_id: Uuid, year: i32) -> Condition {
    sessions_in_year(programme_id, year).add(sessions::Column::Status.ne(SessionStatus::Cancelled))
}

/// The ids of the sessions meeting `condition`, as a subquery.
pub(crate) fn session_ids(condition: Condition) -> SelectStatement {
    Query::select()
        .column(sessions::Column::Id)
        .from(sessions::Entity)
        .cond_where(condition)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::apportion;

    #[test]
    fn largest_remainder_sums_to_the_whole_and_breaks_ties_by_position() {
        // 43,001 by 2/3/3/1: exact 9,555.78, 14,333.67, 14,333.67, 4,777.89.
        assert_eq!(apportion(43_001, &[2, 3, 3, 1]), [9556, 14334, 14333, 4778]);
        assert_eq!(apportion(10_000, &[1, 1, 1]), [3334, 3333, 3333]);
        assert_eq!(apportion(5, &[0, 0]), [0, 0]);
        assert_eq!(apportion(0, &[3, 4]), [0, 0]);
        assert_eq!(apportion(7, &[5, -2, 5]), [4, 0, 3]);
    }
}
