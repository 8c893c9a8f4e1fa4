use sea_orm::entity::prelude::*;

/// A change, recorded in the same transaction as the change itself (the outbox).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// E.g. `booking.confirmed`.
    pub kind: String,
    /// The organisation whose staff it concerns (partners see only theirs); none for changes to
    /// sessions, which concern everyone booked.
    pub organisation_id: Option<Uuid>,
    /// The booking, session, completion, certificate or person it is about.
    pub subject_id: Uuid,
    /// The event's data, as JSON.
    pub data: String,
    /// PostgreSQL: the writing transaction's id, so the feed never shows an event before the
    /// events of transactions still running (0 on SQLite, which has one writer at a time).
    pub tx_id: i64,
    pub occurred_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
