use sea_orm::entity::prelude::*;

/// One email to one person, in the outbox until the mail worker has sent it.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub person_id: Uuid,
    /// What it says, e.g. `booking_confirmed` (see `domain::mail::Kind`).
    pub kind: String,
    /// The event it is about: one message per person and key.
    pub dedup_key: String,
    /// Essential messages (invitations, cancellations) go whatever the person's mail opt-out.
    pub essential: bool,
    pub booking_id: Option<Uuid>,
    pub session_id: Option<Uuid>,
    pub certificate_id: Option<Uuid>,
    /// Details of the event (JSON), e.g. a waitlist position or a cancellation reason.
    pub data: String,
    /// `pending`, `sent`, `failed` (given up) or `skipped` (opted out, or nobody to send to).
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    pub lease_until: Option<DateTimeUtc>,
    pub sent_at: Option<DateTimeUtc>,
    pub last_error: Option<String>,
    /// The hash of the token in a sent non-essential message's unsubscribe link.
    pub unsubscribe_hash: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
