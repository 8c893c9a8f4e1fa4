use sea_orm::entity::prelude::*;

/// A webhook subscription: where to send which events, signed with its secret.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "webhooks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// A partner's subscription receives only its organisation's events (and session changes);
    /// none: a coordinator's, receiving every event.
    pub organisation_id: Option<Uuid>,
    pub url: String,
    /// The HMAC key; never shown again after registration.
    pub secret: String,
    /// The event types wanted, as a JSON array.
    pub event_types: String,
    pub active: bool,
    /// Why it was turned off (e.g. the receiver answered 410 Gone).
    pub disabled_reason: Option<String>,
    /// Its position in the outbox: events after it are still to be queued.
    pub after_tx_id: i64,
    pub after_id: i64,
    /// While set in the future, one replica is sending this subscription's events.
    pub lease_until: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
