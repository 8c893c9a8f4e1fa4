use sea_orm::entity::prelude::*;

use crate::enums::{CourseKind, Sector};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "courses")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub programme_id: Uuid,
    pub code: String,
    pub title: String,
    pub description: String,
    pub kind: CourseKind,
    pub duration_minutes: i32,
    pub cpd_hours: f64,
    pub default_capacity: i32,
    pub certificate_validity_months: Option<i32>,
    /// The sector that reserved places are held for; none means no ring-fence.
    pub reserved_sector: Option<Sector>,
    /// The share of each session's places reserved, in basis points (1000 = 10%).
    pub reserved_share_bp: i32,
    /// Days before the first sitting when unused reserved places become general.
    pub reserved_release_days: i32,
    pub max_places_per_organisation: Option<i32>,
    /// The share of sittings a person must attend to complete the course, in percent.
    pub completion_threshold_percent: i32,
    pub active: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
