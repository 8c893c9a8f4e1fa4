//! Programme years (UK financial years, April–March) and their targets.

use crate::ctx::Ctx;
use crate::db::FirstRow as _;
use crate::versions::{self, Resource};
use chrono::{DateTime, Utc};
use entities::programme_years;
use poem_openapi::Object;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set, sea_query::OnConflict,
};
use uuid::Uuid;

use super::{programmes, validation::FieldErrors};
use crate::{
    audit::{self, Change},
    error::{ApiError, ApiResult},
};

/// A programme's targets for one financial year.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ProgrammeYear {
    /// The programme.
    pub programme_id: Uuid,
    /// The year it starts in: 2026 is April 2026 to March 2027.
    pub year: i32,
    /// Champion-course sessions to run.
    pub champion_sessions_target: Option<i32>,
    /// Champions to train.
    pub champions_target: Option<i32>,
    /// Active accredited trainers; accreditation beyond it needs an override reason.
    pub trainers_target: Option<i32>,
    /// The share of champion places for the reserved sector, in basis points.
    pub reserved_share_bp: Option<i32>,
    /// People to reach through cascade sessions.
    pub reach_target: Option<i32>,
    /// Charge for a late cancellation of a course up to half a day (240 minutes) long, in pence.
    pub late_cancel_half_day_pence: Option<i64>,
    /// Charge for a late cancellation of a longer course, in pence.
    pub late_cancel_full_day_pence: Option<i64>,
    /// Charge for a no-show at a course up to half a day long, in pence.
    pub no_show_half_day_pence: Option<i64>,
    /// Charge for a no-show at a longer course, in pence.
    pub no_show_full_day_pence: Option<i64>,
    /// The licence fee per champion trained, in pence (a programme cost).
    pub licence_fee_per_champion_pence: Option<i64>,
    /// When the year was first set.
    pub created_at: DateTime<Utc>,
    /// When its targets last changed.
    pub updated_at: DateTime<Utc>,
}

/// A year's targets, tariff and licence fee. `PUT` replaces them all: every field sent is set,
/// and an omitted or null field is unset.
#[derive(Debug, Clone, Default, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct ProgrammeYearInput {
    /// Champion-course sessions to run (0–10,000).
    pub champion_sessions_target: Option<i32>,
    /// Champions to train (0–1,000,000).
    pub champions_target: Option<i32>,
    /// Active accredited trainers (0–10,000).
    pub trainers_target: Option<i32>,
    /// Reserved-sector share of champion places, 0–10,000 basis points.
    pub reserved_share_bp: Option<i32>,
    /// People to reach through cascades (0–10,000,000).
    pub reach_target: Option<i32>,
    /// Late-cancellation charge, half-day courses, in pence (0–10,000,000).
    pub late_cancel_half_day_pence: Option<i64>,
    /// Late-cancellation charge, longer courses, in pence.
    pub late_cancel_full_day_pence: Option<i64>,
    /// No-show charge, half-day courses, in pence.
    pub no_show_half_day_pence: Option<i64>,
    /// No-show charge, longer courses, in pence.
    pub no_show_full_day_pence: Option<i64>,
    /// Licence fee per champion trained, in pence.
    pub licence_fee_per_champion_pence: Option<i64>,
}

impl From<programme_years::Model> for ProgrammeYear {
    fn from(m: programme_years::Model) -> Self {
        Self {
            programme_id: m.programme_id,
            year: m.year,
            champion_sessions_target: m.champion_sessions_target,
            champions_target: m.champions_target,
            trainers_target: m.trainers_target,
            reserved_share_bp: m.reserved_share_bp,
            reach_target: m.reach_target,
            late_cancel_half_day_pence: m.late_cancel_half_day_pence,
            late_cancel_full_day_pence: m.late_cancel_full_day_pence,
            no_show_half_day_pence: m.no_show_half_day_pence,
            no_show_full_day_pence: m.no_show_full_day_pence,
            licence_fee_per_champion_pence: m.licence_fee_per_champion_pence,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// A programme year Cascade accepts: 2000 to 2100 (the one rule for every year in a path).
pub fn check_year(year: i32) -> ApiResult<()> {
    if (2000..=2100).contains(&year) {
        Ok(())
    } else {
        Err(ApiError::invalid("year", "must be between 2000 and 2100"))
    }
}

pub async fn get(
    db: &impl ConnectionTrait,
    programme_id: Uuid,
    year: i32,
) -> ApiResult<ProgrammeYear> {
    check_year(year)?;
    programmes::find(db, programme_id).await?;
    programme_years::Entity::find_by_id((programme_id, year))
        .first(db)
        .await?
        .map(Into::into)
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "No targets are set for {year}/{}.",
                (year + 1) % 100
            ))
        })
}

pub async fn list(db: &impl ConnectionTrait, programme_id: Uuid) -> ApiResult<Vec<ProgrammeYear>> {
    programmes::find(db, programme_id).await?;
    Ok(programme_years::Entity::find()
        .filter(programme_years::Column::ProgrammeId.eq(programme_id))
        .order_by_asc(programme_years::Column::Year)
        .all(db)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

/// Sets a year's targets (creating the year if needed).
pub async fn put(
    ctx: &Ctx,
    programme_id: Uuid,
    year: i32,
    input: ProgrammeYearInput,
) -> ApiResult<(ProgrammeYear, Option<i64>)> {
    let clock = &ctx.clock;
    check_year(year)?;
    let mut errors = FieldErrors::default();
    for (field, value, max) in [
        (
            "champion_sessions_target",
            input.champion_sessions_target,
            10_000,
        ),
        ("champions_target", input.champions_target, 1_000_000),
        ("trainers_target", input.trainers_target, 10_000),
        ("reserved_share_bp", input.reserved_share_bp, 10_000),
        ("reach_target", input.reach_target, 10_000_000),
    ] {
        if let Some(v) = value {
            errors.check(
                (0..=max).contains(&v),
                field,
                &format!("must be between 0 and {max}"),
            );
        }
    }
    for (field, value) in [
        (
            "late_cancel_half_day_pence",
            input.late_cancel_half_day_pence,
        ),
        (
            "late_cancel_full_day_pence",
            input.late_cancel_full_day_pence,
        ),
        ("no_show_half_day_pence", input.no_show_half_day_pence),
        ("no_show_full_day_pence", input.no_show_full_day_pence),
        (
            "licence_fee_per_champion_pence",
            input.licence_fee_per_champion_pence,
        ),
    ] {
        if let Some(v) = value {
            errors.check(
                (0..=10_000_000).contains(&v),
                field,
                "must be between 0 and 10000000 pence",
            );
        }
    }
    errors.finish()?;
    let now = clock.now();
    let txn = ctx.begin().await?;
    programmes::find(&txn, programme_id).await?;
    let resource = Resource::ProgrammeYear(programme_id, year);
    ctx.precondition.claim(&txn, resource).await?;
    // An upsert, so two coordinators setting the same year at once both succeed (last wins).
    programme_years::Entity::insert(programme_years::ActiveModel {
        programme_id: Set(programme_id),
        year: Set(year),
        champion_sessions_target: Set(input.champion_sessions_target),
        champions_target: Set(input.champions_target),
        trainers_target: Set(input.trainers_target),
        reserved_share_bp: Set(input.reserved_share_bp),
        reach_target: Set(input.reach_target),
        late_cancel_half_day_pence: Set(input.late_cancel_half_day_pence),
        late_cancel_full_day_pence: Set(input.late_cancel_full_day_pence),
        no_show_half_day_pence: Set(input.no_show_half_day_pence),
        no_show_full_day_pence: Set(input.no_show_full_day_pence),
        licence_fee_per_champion_pence: Set(input.licence_fee_per_champion_pence),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([
            programme_years::Column::ProgrammeId,
            programme_years::Column::Year,
        ])
        .update_columns([
            programme_years::Column::ChampionSessionsTarget,
            programme_years::Column::ChampionsTarget,
            programme_years::Column::TrainersTarget,
            programme_years::Column::ReservedShareBp,
            programme_years::Column::ReachTarget,
            programme_years::Column::LateCancelHalfDayPence,
            programme_years::Column::LateCancelFullDayPence,
            programme_years::Column::NoShowHalfDayPence,
            programme_years::Column::NoShowFullDayPence,
            programme_years::Column::LicenceFeePerChampionPence,
            programme_years::Column::UpdatedAt,
        ])
        .to_owned(),
    )
    .exec(&txn)
    .await?;
    let saved = programme_years::Entity::find_by_id((programme_id, year))
        .first(&txn)
        .await?
        .ok_or_else(|| ApiError::not_found("Programme year"))?;
    audit::record(
        &txn,
        Change::new("programme", programme_id, "put_year").summary(format!("year {year}")),
    )
    .await?;
    let version = versions::version(&txn, resource).await?;
    txn.commit().await?;
    Ok((saved.into(), version))
}
