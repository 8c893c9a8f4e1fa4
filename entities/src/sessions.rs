use sea_orm::entity::prelude::*;

use crate::enums::{Sector, SessionStatus};

/// One scheduled run of a course.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub course_id: Uuid,
    /// The course's programme, copied so sessions filter by programme through an index.
    pub programme_id: Uuid,
    pub capacity: i32,
    /// The ring-fence, copied from the course when the session is scheduled.
    pub reserved_sector: Option<Sector>,
    pub reserved_share_bp: i32,
    pub reserved_release_days: i32,
    /// When unused reserved places become general: release days before the first sitting.
    pub reserved_release_at: Option<DateTimeUtc>,
    /// Whether the waitlist has been offered the places the release freed.
    pub release_settled: bool,
    pub venue_name: Option<String>,
    pub venue_address: Option<String>,
    pub locality_id: Option<Uuid>,
    pub online_url: Option<String>,
    pub booking_opens_at: Option<DateTimeUtc>,
    pub booking_closes_at: DateTimeUtc,
    pub late_cancellation_days: i32,
    pub status: SessionStatus,
    pub cancel_reason: Option<String>,
    pub cancelled_at: Option<DateTimeUtc>,
    /// Rises on every change a calendar must show.
    pub revision: i32,
    /// Start of the first sitting.
    pub starts_at: DateTimeUtc,
    /// End of the last sitting.
    pub ends_at: DateTimeUtc,
    /// Confirmed bookings, kept in the same transaction as every booking change.
    pub confirmed_count: i32,
    /// Confirmed bookings holding reserved places.
    pub reserved_confirmed: i32,
    pub waitlist_count: i32,
    /// The next waitlist sequence number (FIFO order).
    pub waitlist_next_seq: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
