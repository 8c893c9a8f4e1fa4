use sea_orm::entity::prelude::*;

/// A role an admin granted to a person for signing in: `admin`, `coordinator`, or `partner`
/// (a partner lead, for `organisation_id`). Without one a person signs in as staff, or as a
/// trainer while in the trainer pipeline.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "role_grants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub person_id: Uuid,
    pub role: String,
    pub organisation_id: Option<Uuid>,
    pub granted_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
