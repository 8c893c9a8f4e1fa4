use sea_orm::entity::prelude::*;

use crate::enums::StepKind;

/// One step of a programme's trainer pipeline (a programme without rows uses the default).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "pipeline_steps")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub programme_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub position: i32,
    pub code: String,
    pub kind: StepKind,
    /// For co-delivery steps: the cascade sessions needed.
    pub min_sessions: Option<i32>,
    /// For accreditation steps: how long the licence lasts.
    pub licence_months: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
