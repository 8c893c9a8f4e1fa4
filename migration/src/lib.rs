//! Database migrations for Cascade. A landed migration is never edited: a new one changes the schema.

pub use sea_orm_migration::prelude::*;

mod helpers;
mod m20261123_000001_foundation;
mod m20261123_000002_sessions_bookings;
mod m20261123_000003_attendance_trainers_cascades;
mod m20261123_000004_certificates_calendars;
mod m20261123_000005_funding;
mod m20261123_000006_change_tracking;
mod m20261123_000007_events;
mod m20261123_000008_webhooks;
mod m20261123_000009_audit_erasure;
mod m20261130_000010_membership_requests;
mod m20261130_000011_scim_user_attributes;
mod m20261130_000012_versions;
mod m20261130_000013_mail_sign_in;
mod m20261201_000014_name_search;
mod m20261201_000015_reach_rollup;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_foundation::Migration),
            Box::new(m20261123_000002_sessions_bookings::Migration),
            Box::new(m20261123_000003_attendance_trainers_cascades::Migration),
            Box::new(m20261123_000004_certificates_calendars::Migration),
            Box::new(m20261123_000005_funding::Migration),
            Box::new(m20261123_000006_change_tracking::Migration),
            Box::new(m20261123_000007_events::Migration),
            Box::new(m20261123_000008_webhooks::Migration),
            Box::new(m20261123_000009_audit_erasure::Migration),
            Box::new(m20261130_000010_membership_requests::Migration),
            Box::new(m20261130_000011_scim_user_attributes::Migration),
            Box::new(m20261130_000012_versions::Migration),
            Box::new(m20261130_000013_mail_sign_in::Migration),
            Box::new(m20261201_000014_name_search::Migration),
            Box::new(m20261201_000015_reach_rollup::Migration),
        ]
    }
}
