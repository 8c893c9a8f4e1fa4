//! Certificates: issued once when a completion is recorded (session, named cascade attendance)
//! or a licence starts (accreditation, renewal); numbered `CAS-YYYY-NNNNNN`; verifiable by anyone
//! holding the code; revocable; reissued (never edited) when details change.

use crate::ctx::Ctx;
use crate::db::FirstRow as _;
use crate::problem::ProblemKind;
use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use entities::{
    certificate_sequences, certificates, completions, courses, people, programmes, trainer_steps,
};
use poem_openapi::{Enum, Object};
use rand::RngExt;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set,
    sea_query::Expr,
};
use uuid::Uuid;

use super::{people::produced_for, sessions::london_today};
use crate::{
    audit::{self, Change},
    auth::Principal,
    clock::Clock,
    config::Config,
    error::{ApiError, ApiResult},
    pagination::{PageRequest, fetch_page},
    render::certificate_pdf::{self, CertificateText},
};

mod documents;
mod issue;
mod verify;
pub use documents::*;
pub use issue::*;
pub use verify::*;

/// Unambiguous characters for codes read aloud (no I, L, O, U, 0 or 1).
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTVWXYZ23456789";
/// 20 characters of a 30-letter alphabet: 98 bits of randomness.
const CODE_LEN: usize = 20;

/// Where a certificate stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum CertificateStatus {
    /// Genuine and current.
    Valid,
    /// Genuine, but its validity has ended.
    Expired,
    /// Withdrawn by a coordinator.
    Revoked,
    /// Replaced by a reissued certificate.
    Superseded,
}

/// What a certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum CertificateKind {
    /// Completion of a course.
    Completion,
    /// A trainer's licence (accreditation or renewal).
    Licence,
}

/// A certificate, as its holder and coordinators see it.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Certificate {
    /// The certificate's id.
    pub id: Uuid,
    /// Its number, e.g. `CAS-2026-000123`.
    pub number: String,
    pub kind: CertificateKind,
    pub status: CertificateStatus,
    /// Whose it is.
    pub person_id: Uuid,
    /// The name printed on it, as recorded when it was issued.
    pub person_name: String,
    /// The course (or licence) it certifies.
    pub title: String,
    /// The programme.
    pub programme_id: Uuid,
    /// The programme's name as printed.
    pub programme_name: String,
    /// The course, for completion certificates.
    pub course_id: Option<Uuid>,
    /// The session it came from, if any.
    pub session_id: Option<Uuid>,
    /// When the course was completed (or the licence started).
    pub completed_on: NaiveDate,
    /// When the certificate was issued.
    pub issued_on: NaiveDate,
    /// When it stops being valid, if it expires.
    pub expires_on: Option<NaiveDate>,
    /// CPD hours printed on it.
    pub cpd_hours: f64,
    /// The issuing partnership.
    pub issuer: String,
    /// The code anyone can check at the verification link, grouped for reading aloud.
    pub verification_code: String,
    /// The public verification link.
    pub verify_url: String,
    /// When it was revoked, and why.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Why it was revoked.
    pub revoke_reason: Option<String>,
    /// The certificate that replaced it.
    pub superseded_by_id: Option<Uuid>,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// When it was issued, revoked or superseded (its last change).
    pub updated_at: DateTime<Utc>,
}

/// What the public verification shows: no more than the certificate itself.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Verification {
    pub status: CertificateStatus,
    /// For revoked certificates: the date of revocation.
    pub revoked_on: Option<NaiveDate>,
    /// The certificate number.
    pub number: String,
    /// The name on the certificate.
    pub name: String,
    /// The course or licence.
    pub title: String,
    /// The programme.
    pub programme: String,
    /// Completed (or accredited) on.
    pub completed_on: NaiveDate,
    /// Valid until, if it expires.
    pub expires_on: Option<NaiveDate>,
    /// CPD hours.
    pub cpd_hours: f64,
    /// The issuing partnership.
    pub issuer: String,
    /// Issued on.
    pub issued_on: NaiveDate,
}

/// Why a certificate is being revoked.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct Revocation {
    /// 1–500 characters, recorded with the revocation.
    pub reason: String,
}

fn hash(code: &str) -> String {
    crate::digest::sha256_hex(code.as_bytes())
}

/// The canonical form of a code as typed: letters and digits only, upper case.
fn normalise(code: &str) -> String {
    code.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn new_code() -> String {
    let mut rng = rand::rng();
    let raw: String = (0..CODE_LEN)
        .map(|_| CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char)
        .collect();
    raw.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

fn status_of(c: &certificates::Model, today: NaiveDate) -> CertificateStatus {
    if c.revoked_at.is_some() {
        CertificateStatus::Revoked
    } else if c.superseded_by_id.is_some() {
        CertificateStatus::Superseded
    } else if c.expires_on.is_some_and(|e| today > e) {
        CertificateStatus::Expired
    } else {
        CertificateStatus::Valid
    }
}

pub fn verify_url(config: &Config, code: &str) -> String {
    format!("{}/verify/{code}", config.public_url)
}

fn view(c: certificates::Model, config: &Config, today: NaiveDate) -> Certificate {
    Certificate {
        status: status_of(&c, today),
        verify_url: verify_url(config, &c.code),
        id: c.id,
        number: c.number,
        kind: if c.kind == "licence" {
            CertificateKind::Licence
        } else {
            CertificateKind::Completion
        },
        person_id: c.person_id,
        person_name: c.person_name,
        title: c.title,
        programme_id: c.programme_id,
        programme_name: c.programme_name,
        course_id: c.course_id,
        session_id: c.session_id,
        completed_on: c.completed_on,
        issued_on: c.issued_on,
        expires_on: c.expires_on,
        cpd_hours: c.cpd_hours,
        issuer: c.issuer,
        verification_code: c.code,
        revoked_at: c.revoked_at,
        revoke_reason: c.revoke_reason,
        superseded_by_id: c.superseded_by_id,
        created_at: c.created_at,
        updated_at: c.updated_at,
    }
}

async fn find_reachable(
    db: &impl ConnectionTrait,
    who: &Principal,
    id: Uuid,
) -> ApiResult<certificates::Model> {
    certificates::Entity::find_by_id(id)
        .filter(produced_for(
            who,
            certificates::Column::OrganisationId,
            certificates::Column::PersonId,
        ))
        .first(db)
        .await?
        .ok_or_else(|| ApiError::not_found("Certificate"))
}

pub async fn get(
    db: &impl ConnectionTrait,
    config: &Config,
    clock: &Clock,
    who: &Principal,
    id: Uuid,
) -> ApiResult<Certificate> {
    Ok(view(
        find_reachable(db, who, id).await?,
        config,
        london_today(clock.now()),
    ))
}

/// Filters of the certificate list.
#[derive(Debug, Default, Clone, Copy)]
pub struct CertificateFilter {
    pub person_id: Option<Uuid>,
    pub course_id: Option<Uuid>,
    pub programme_id: Option<Uuid>,
    pub session_id: Option<Uuid>,
    pub kind: Option<CertificateKind>,
    pub updated_since: Option<DateTime<Utc>>,
}

pub async fn list(
    db: &impl ConnectionTrait,
    config: &Config,
    clock: &Clock,
    who: &Principal,
    filter: CertificateFilter,
    page: PageRequest,
) -> ApiResult<(Vec<Certificate>, Option<String>)> {
    let mut select = certificates::Entity::find().filter(produced_for(
        who,
        certificates::Column::OrganisationId,
        certificates::Column::PersonId,
    ));
    if let Some(person) = filter.person_id {
        select = select.filter(certificates::Column::PersonId.eq(person));
    }
    if let Some(course) = filter.course_id {
        select = select.filter(certificates::Column::CourseId.eq(course));
    }
    if let Some(programme) = filter.programme_id {
        select = select.filter(certificates::Column::ProgrammeId.eq(programme));
    }
    if let Some(session) = filter.session_id {
        select = select.filter(certificates::Column::SessionId.eq(session));
    }
    if let Some(since) = filter.updated_since {
        select = select.filter(certificates::Column::UpdatedAt.gte(since));
    }
    if let Some(kind) = filter.kind {
        let kind = if kind == CertificateKind::Licence {
            "licence"
        } else {
            "completion"
        };
        select = select.filter(certificates::Column::Kind.eq(kind));
    }
    let today = london_today(clock.now());
    fetch_page(
        db,
        select,
        certificates::Column::Id,
        page,
        |m| view(m, config, today),
        |c: &Certificate| c.id,
    )
    .await
}

fn not_current(c: &certificates::Model) -> Option<ApiError> {
    let state = if c.revoked_at.is_some() {
        "revoked"
    } else if c.superseded_by_id.is_some() {
        "superseded"
    } else {
        return None;
    };
    Some(ApiError::Rule {
        kind: ProblemKind::CertificateNotCurrent,
        detail: format!("Certificate {} is already {state}.", c.number),
    })
}

pub async fn revoke(
    ctx: &Ctx,
    config: &Config,
    id: Uuid,
    input: Revocation,
) -> ApiResult<Certificate> {
    let clock = &ctx.clock;
    let who = &ctx.who;
    let reason = input.reason.trim().to_owned();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ApiError::invalid("reason", "must be 1 to 500 characters"));
    }
    let now = clock.now();
    let txn = ctx.begin().await?;
    find_reachable(&txn, who, id).await?;
    let current = certificates::Entity::find_by_id(id)
        .lock_exclusive()
        .first(&txn)
        .await?
        .ok_or_else(|| ApiError::not_found("Certificate"))?;
    if let Some(err) = not_current(&current) {
        return Err(err);
    }
    let mut model: certificates::ActiveModel = current.into();
    model.revoked_at = Set(Some(now));
    model.revoke_reason = Set(Some(reason));
    model.updated_at = Set(now);
    let saved = model.update(&txn).await?;
    certificate_event(&txn, "certificate.revoked", &saved, now).await?;
    audit::record(
        &txn,
        Change::new("certificate", id, "revoke")
            .summary(format!("certificate {} revoked", saved.number))
            .person(saved.person_id),
    )
    .await?;
    txn.commit().await?;
    Ok(view(saved, config, london_today(now)))
}

/// Issues a replacement with the current details (name, course title, programme name) and a new
/// number and code; the old certificate is marked superseded.
pub async fn reissue(ctx: &Ctx, config: &Config, id: Uuid) -> ApiResult<Certificate> {
    let clock = &ctx.clock;
    let who = &ctx.who;
    let now = clock.now();
    let txn = ctx.begin().await?;
    find_reachable(&txn, who, id).await?;
    let old = certificates::Entity::find_by_id(id)
        .lock_exclusive()
        .first(&txn)
        .await?
        .ok_or_else(|| ApiError::not_found("Certificate"))?;
    if let Some(err) = not_current(&old) {
        return Err(err);
    }
    let course = match old.course_id {
        Some(course) => courses::Entity::find_by_id(course).first(&txn).await?,
        None => None,
    };
    let details = Details {
        origin_key: format!("{}:reissue:{}", old.origin_key, Uuid::now_v7()),
        kind: if old.kind == "licence" {
            "licence"
        } else {
            "completion"
        },
        person_id: old.person_id,
        organisation_id: old.organisation_id,
        programme_id: old.programme_id,
        course_id: old.course_id,
        session_id: old.session_id,
        title: course
            .as_ref()
            .map_or_else(|| old.title.clone(), |c| c.title.clone()),
        completed_on: old.completed_on,
        expires_on: old.expires_on,
        cpd_hours: course.as_ref().map_or(old.cpd_hours, |c| c.cpd_hours),
    };
    let new = insert(&txn, config, details, now).await?;
    let mut model: certificates::ActiveModel = old.into();
    model.superseded_by_id = Set(Some(new.id));
    model.updated_at = Set(now);
    model.update(&txn).await?;
    audit::record(
        &txn,
        Change::new("certificate", id, "reissue")
            .summary(format!("reissued as {} ({})", new.number, new.id))
            .person(new.person_id),
    )
    .await?;
    txn.commit().await?;
    Ok(view(new, config, london_today(now)))
}
