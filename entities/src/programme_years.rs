use sea_orm::entity::prelude::*;

/// A programme's targets for one UK financial year (April to March), keyed by its first year.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "programme_years")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub programme_id: Uuid,
    /// 2026 means April 2026 to March 2027.
    #[sea_orm(primary_key, auto_increment = false)]
    pub year: i32,
    pub champion_sessions_target: Option<i32>,
    pub champions_target: Option<i32>,
    pub trainers_target: Option<i32>,
    pub reserved_share_bp: Option<i32>,
    pub reach_target: Option<i32>,
    /// Tariff: a late cancellation of a course up to half a day long.
    pub late_cancel_half_day_pence: Option<i64>,
    /// Tariff: a late cancellation of a longer course.
    pub late_cancel_full_day_pence: Option<i64>,
    /// Tariff: a no-show at a course up to half a day long.
    pub no_show_half_day_pence: Option<i64>,
    /// Tariff: a no-show at a longer course.
    pub no_show_full_day_pence: Option<i64>,
    /// Cost: the licence fee per champion trained.
    pub licence_fee_per_champion_pence: Option<i64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
