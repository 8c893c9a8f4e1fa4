//! sea-orm models of Cascade's tables: no HTTP types and no business rules here.

pub mod api_keys;
pub mod attendance;
pub mod bookings;
pub mod cascade_attendees;
pub mod cascade_headcounts;
pub mod cascade_sessions;
pub mod completions;
pub mod course_audiences;
pub mod course_prerequisites;
pub mod courses;
pub mod enums;
pub mod idempotency_keys;
pub mod localities;
pub mod memberships;
pub mod organisations;
pub mod people;
pub mod pipeline_steps;
pub mod programme_years;
pub mod programmes;
pub mod session_audiences;
pub mod session_facilitators;
pub mod sessions;
pub mod sittings;
pub mod staff_groups;
pub mod trainer_steps;
