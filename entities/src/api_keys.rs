use sea_orm::entity::prelude::*;

use crate::enums::Role;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    pub role: Role,
    /// Set for partner keys: the organisation the key acts for.
    pub organisation_id: Option<Uuid>,
    /// Set for trainer and learner keys: the person the key acts as.
    pub person_id: Option<Uuid>,
    /// SHA-256 of the secret, hex: the secret itself is never stored.
    pub token_hash: String,
    /// The first characters of the secret, to recognise a key in lists.
    pub prefix: String,
    pub created_at: DateTimeUtc,
    pub revoked_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
