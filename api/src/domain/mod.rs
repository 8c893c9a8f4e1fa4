//! The rules and transactions of each resource, free of routing.

pub mod api_keys;
pub mod bookings;
pub mod courses;
pub mod organisations;
pub mod people;
pub mod programmes;
pub mod reference;
pub mod sessions;
pub mod validation;
