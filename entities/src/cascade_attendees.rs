use sea_orm::entity::prelude::*;

/// A named person who attended a cascade session.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "cascade_attendees")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub cascade_session_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub person_id: Uuid,
    /// Their employing (primary) organisation when the session was recorded.
    pub organisation_id: Option<Uuid>,
    /// Their staff group when the session was recorded.
    pub staff_group_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
