//! The rules and transactions of each resource, free of routing.

pub mod api_keys;
pub mod attendance;
pub mod bookings;
pub mod calendars;
pub mod cascades;
pub mod certificates;
pub mod champions;
pub mod completions;
pub mod courses;
pub mod events;
pub mod funding;
pub mod organisations;
pub mod partners_report;
pub mod people;
pub mod programme_years;
pub mod programmes;
pub mod progress_report;
pub mod reach;
pub mod reference;
pub mod scim;
pub mod sessions;
pub mod sync;
pub mod trainers;
pub mod validation;
pub mod webhooks;
