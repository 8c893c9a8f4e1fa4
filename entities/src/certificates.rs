use sea_orm::entity::prelude::*;

/// A certificate as issued: its printed details are fixed; changes mean a reissue.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "certificates")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Human-readable number, e.g. `CAS-2026-000123`.
    pub number: String,
    pub year: i32,
    pub seq: i32,
    /// SHA-256 of the verification code (looked up by hash).
    pub code_hash: String,
    /// The verification code as printed, grouped for reading aloud.
    pub code: String,
    /// What it certifies (a completion on a date, or a licence step), so it is issued once.
    pub origin_key: String,
    /// `completion` or `licence`.
    pub kind: String,
    pub person_id: Uuid,
    pub programme_id: Uuid,
    pub course_id: Option<Uuid>,
    pub session_id: Option<Uuid>,
    pub person_name: String,
    pub title: String,
    pub programme_name: String,
    pub completed_on: Date,
    pub issued_on: Date,
    pub expires_on: Option<Date>,
    pub cpd_hours: f64,
    pub issuer: String,
    pub revoked_at: Option<DateTimeUtc>,
    pub revoke_reason: Option<String>,
    pub superseded_by_id: Option<Uuid>,
    /// The organisation the record was produced for: the booking's organisation, or the
    /// person's employer when it was recorded.
    pub organisation_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    /// When it was issued, revoked or superseded: the last change.
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
