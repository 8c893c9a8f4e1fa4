use sea_orm::entity::prelude::*;

use crate::enums::{BookingStatus, Place};

/// A person on a session.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "bookings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub session_id: Uuid,
    /// The session's course, copied for the one-booking-per-course rule.
    pub course_id: Uuid,
    pub person_id: Uuid,
    /// The organisation the place is booked for (the person's employer at booking time).
    pub organisation_id: Uuid,
    pub status: BookingStatus,
    /// The place held while confirmed (kept afterwards for reporting); none while waitlisted.
    pub place: Option<Place>,
    /// FIFO order on the waitlist; set while waitlisted.
    pub waitlist_seq: Option<i64>,
    pub booked_by_key_id: Option<Uuid>,
    pub booked_at: DateTimeUtc,
    pub confirmed_at: Option<DateTimeUtc>,
    pub promoted_at: Option<DateTimeUtc>,
    pub cancelled_at: Option<DateTimeUtc>,
    pub cancel_reason: Option<String>,
    pub late_cancellation: bool,
    /// A coordinator's reason for not charging this booking's late cancellation or no-show.
    pub charge_waived_reason: Option<String>,
    pub charge_waived_at: Option<DateTimeUtc>,
    pub charge_waived_by_key_id: Option<Uuid>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
