use sea_orm::entity::prelude::*;

/// People reached by a cascade session without a named list, by organisation and staff group.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "cascade_headcounts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub cascade_session_id: Uuid,
    pub organisation_id: Uuid,
    pub staff_group_id: Option<Uuid>,
    pub count: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
