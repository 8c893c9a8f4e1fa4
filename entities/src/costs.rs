use sea_orm::entity::prelude::*;

/// A cost of a programme year: of a session (trainer, venue, materials) or other.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "costs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub programme_id: Uuid,
    pub year: i32,
    /// `trainer`, `venue`, `materials` (with a session) or `other`.
    pub category: String,
    pub session_id: Option<Uuid>,
    pub amount_pence: i64,
    pub description: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
