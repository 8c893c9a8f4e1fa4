//! How many places a session has free, and of which kind. The one place this arithmetic lives.

use chrono::{DateTime, Utc};
use entities::sessions;
use poem_openapi::Object;

use super::reserved_places_for;

/// A session's places at this moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Object, serde::Serialize)]
#[oai(skip_serializing_if_is_none)]
pub struct Availability {
    /// Places in total.
    pub capacity: i32,
    /// Confirmed bookings.
    pub confirmed: i32,
    /// Places held back for the reserved sector now: ceil(capacity × share) until the release
    /// date, then 0.
    pub reserved_places: i32,
    /// Confirmed bookings holding reserved places.
    pub reserved_taken: i32,
    /// Reserved places still free (only the reserved sector may take them).
    pub reserved_free: i32,
    /// General places free (anyone may take them).
    pub general_free: i32,
    /// All free places: `reserved_free + general_free`.
    pub free: i32,
    /// People on the waitlist.
    pub waitlist: i32,
}

impl Availability {
    /// Unused reserved places are held only for the reserved sector and only until the release
    /// instant; every other free place is general.
    pub fn of(s: &sessions::Model, now: DateTime<Utc>) -> Self {
        let holding = s.reserved_sector.is_some()
            && s.reserved_release_at.is_some_and(|release| now < release);
        let reserved_places = if holding {
            reserved_places_for(s.capacity, s.reserved_share_bp)
        } else {
            0
        };
        let free = (s.capacity - s.confirmed_count).max(0);
        let reserved_free = (reserved_places - s.reserved_confirmed).clamp(0, free);
        Self {
            capacity: s.capacity,
            confirmed: s.confirmed_count,
            reserved_places,
            reserved_taken: s.reserved_confirmed,
            reserved_free,
            general_free: free - reserved_free,
            free,
            waitlist: s.waitlist_count,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};
    use entities::enums::Sector;

    use super::*;

    fn session(capacity: i32, confirmed: i32, reserved_confirmed: i32) -> sessions::Model {
        let start = Utc
            .with_ymd_and_hms(2027, 3, 29, 8, 30, 0)
            .single()
            .unwrap_or_default();
        sessions::Model {
            id: uuid::Uuid::nil(),
            course_id: uuid::Uuid::nil(),
            programme_id: uuid::Uuid::nil(),
            capacity,
            reserved_sector: Some(Sector::Voluntary),
            reserved_share_bp: 1000,
            reserved_release_days: 14,
            reserved_release_at: Some(start - Duration::days(14)),
            release_settled: false,
            venue_name: None,
            venue_address: None,
            locality_id: None,
            online_url: None,
            booking_opens_at: None,
            booking_closes_at: start,
            late_cancellation_days: 3,
            status: entities::enums::SessionStatus::Scheduled,
            cancel_reason: None,
            cancelled_at: None,
            revision: 1,
            starts_at: start,
            ends_at: start + Duration::hours(6),
            confirmed_count: confirmed,
            reserved_confirmed,
            waitlist_count: 0,
            waitlist_next_seq: 1,
            created_at: start,
            updated_at: start,
        }
    }

    #[test]
    fn reserved_places_are_held_until_release_then_general() {
        // 10% of 20 is 2 reserved places; 5 confirmed, 1 of them on a reserved place.
        let s = session(20, 5, 1);
        let before = s.starts_at - Duration::days(20);
        let a = Availability::of(&s, before);
        assert_eq!(
            (a.reserved_places, a.reserved_free, a.general_free, a.free),
            (2, 1, 14, 15)
        );
        let after = s.starts_at - Duration::days(13);
        let a = Availability::of(&s, after);
        assert_eq!(
            (a.reserved_places, a.reserved_free, a.general_free),
            (0, 0, 15)
        );
        // ceil: 10% of 25 is 2.5, so 3 places.
        assert_eq!(super::super::reserved_places_for(25, 1000), 3);
        // Full: nothing free, reserved or not.
        let full = Availability::of(&session(20, 20, 0), before);
        assert_eq!(
            (full.reserved_free, full.general_free, full.free),
            (0, 0, 0)
        );
    }
}
