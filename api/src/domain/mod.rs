//! The rules and transactions of each resource, free of routing.

pub mod api_keys;
pub mod attendance;
pub mod audit_log;
pub mod batch;
pub mod bookings;
pub mod calendars;
pub mod cascades;
pub mod certificates;
pub mod champions;
pub mod completions;
pub mod courses;
pub mod dashboard;
pub mod events;
pub mod funding;
pub mod mail;
pub mod membership_requests;
pub mod organisations;
pub mod partners_report;
pub mod people;
pub mod privacy;
pub mod programme_years;
pub mod programmes;
pub mod progress_report;
pub mod reach;
pub mod reference;
pub mod scim;
pub mod sessions;
pub mod sign_in;
pub mod sync;
pub mod trainers;
pub mod validation;
pub mod webhook_targets;
pub mod webhooks;

/// Applies every pending migration (`db::migrate`), then fills what the domain keeps derived
/// from recorded rows when a database predates it: an empty reach rollup from the cascade
/// attendance already recorded.
pub async fn migrate(db: &sea_orm::DatabaseConnection) -> Result<(), sea_orm::DbErr> {
    crate::db::migrate(db).await?;
    reach::rollup::fill_if_empty(db)
        .await
        .map_err(|e| sea_orm::DbErr::Custom(format!("filling the reach rollup: {e:?}")))
}
