use sea_orm::entity::prelude::*;

/// One write: who made it (the key and its role, or `system` for scheduled work), what it
/// changed, when, and a summary without personal details. Written in the write's transaction.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub at: DateTimeUtc,
    /// The API key that made the change; none for scheduled work and the command line.
    pub key_id: Option<Uuid>,
    /// `admin`, `coordinator`, `partner`, `trainer`, `learner`, `system` or `cli`.
    pub role: String,
    /// E.g. `person`, `booking`, `session`.
    pub resource: String,
    pub resource_id: Option<Uuid>,
    /// E.g. `create`, `update`, `cancel`, `erase`.
    pub action: String,
    pub summary: String,
    /// The person the change concerns, when there is one (for their export).
    pub person_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
