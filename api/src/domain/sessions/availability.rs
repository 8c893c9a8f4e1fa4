//! How many places a session has free, and of which kind. The one place this arithmetic lives.

use chrono::{DateTime, Utc};
use entities::sessions;
use poem_openapi::Object;

use super::reserved_places_for;

/// A session's places at this moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Object)]
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
