use sea_orm::entity::prelude::*;

/// Reach by delivery day and breakdown line, kept with every cascade session write (see the
/// migration `m20261201_000015_reach_rollup`).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "reach_rollup")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub programme_id: Uuid,
    /// The nil UUID for the whole programme, else the organisation whose staff were reached.
    #[sea_orm(primary_key, auto_increment = false)]
    pub scope: Uuid,
    /// `day`, or `month` (dated the month's first day).
    #[sea_orm(primary_key, auto_increment = false)]
    pub period: String,
    /// `total`, `trainer`, `partner`, `sector`, `locality`, `staff_group` or `deliverer`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub dimension: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub delivered_on: Date,
    /// The line's key: an id, a sector code, `unknown`, or `all` for the total.
    #[sea_orm(primary_key, auto_increment = false)]
    pub line: String,
    pub cascade_sessions: i64,
    pub named: i64,
    pub headcount: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
