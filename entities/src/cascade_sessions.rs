use sea_orm::entity::prelude::*;

use crate::enums::DeliveryMode;

/// A light-touch session a trainer delivered to the wider workforce.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "cascade_sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub course_id: Uuid,
    pub programme_id: Uuid,
    pub lead_trainer_id: Uuid,
    pub co_trainer_id: Option<Uuid>,
    pub delivered_on: Date,
    /// Local start time in Europe/London, `HH:MM`.
    pub start_time: String,
    pub duration_minutes: i32,
    pub locality_id: Option<Uuid>,
    pub mode: DeliveryMode,
    pub notes: Option<String>,
    pub recorded_by_key_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
