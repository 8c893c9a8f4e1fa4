use sea_orm::entity::prelude::*;

/// A calendar subscription feed: a person's bookings and deliveries, or a programme's sessions.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "calendar_feeds")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// SHA-256 of the secret token in the feed's address.
    pub token_hash: String,
    pub prefix: String,
    pub person_id: Option<Uuid>,
    pub programme_id: Option<Uuid>,
    pub created_by_key_id: Option<Uuid>,
    pub revoked_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub rotated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
