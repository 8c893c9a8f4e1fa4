//! Certificates: issued once when a completion is recorded (session, named cascade attendance)
//! or a licence starts (accreditation, renewal); numbered `CAS-YYYY-NNNNNN`; verifiable by anyone
//! holding the code; revocable; reissued (never edited) when details change.

use crate::ctx::Ctx;
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
    format!("{}/api/v1/verify/{code}", config.public_url)
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

/// The next number of a year, from a counter row held for the transaction (so two replicas never
/// hand out the same number).
async fn next_number(db: &impl ConnectionTrait, year: i32) -> ApiResult<(i32, String)> {
    certificate_sequences::Entity::insert(certificate_sequences::ActiveModel {
        year: Set(year),
        last: Set(0),
    })
    .on_conflict_do_nothing_on([certificate_sequences::Column::Year])
    .exec(db)
    .await?;
    let current = certificate_sequences::Entity::find_by_id(year)
        .lock_exclusive()
        .one(db)
        .await?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("certificate counter missing")))?;
    let seq = current.last + 1;
    certificate_sequences::Entity::update_many()
        .col_expr(certificate_sequences::Column::Last, Expr::value(seq))
        .filter(certificate_sequences::Column::Year.eq(year))
        .exec(db)
        .await?;
    Ok((seq, format!("CAS-{year}-{seq:06}")))
}

/// The details a certificate prints, captured when it is issued.
struct Details {
    origin_key: String,
    kind: &'static str,
    person_id: Uuid,
    organisation_id: Option<Uuid>,
    programme_id: Uuid,
    course_id: Option<Uuid>,
    session_id: Option<Uuid>,
    title: String,
    completed_on: NaiveDate,
    expires_on: Option<NaiveDate>,
    cpd_hours: f64,
}

pub(crate) async fn certificate_event(
    db: &impl ConnectionTrait,
    kind: &'static str,
    c: &certificates::Model,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let data = serde_json::json!({
        "certificate_id": c.id, "number": c.number, "person_id": c.person_id, "kind": c.kind,
        "course_id": c.course_id, "expires_on": c.expires_on, "revoke_reason": c.revoke_reason,
    });
    let org = super::events::employer(db, c.person_id).await?;
    super::events::emit(db, kind, org, c.id, data, now).await
}

async fn insert(
    db: &impl ConnectionTrait,
    config: &Config,
    d: Details,
    now: DateTime<Utc>,
) -> ApiResult<certificates::Model> {
    let person = people::Entity::find_by_id(d.person_id)
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("Person"))?;
    let programme = programmes::Entity::find_by_id(d.programme_id)
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("Programme"))?;
    let issued_on = london_today(now);
    let (seq, number) = next_number(db, issued_on.year()).await?;
    let code = new_code();
    let model = certificates::ActiveModel {
        id: Set(Uuid::now_v7()),
        number: Set(number),
        year: Set(issued_on.year()),
        seq: Set(seq),
        code_hash: Set(hash(&normalise(&code))),
        code: Set(code),
        origin_key: Set(d.origin_key),
        kind: Set(d.kind.to_owned()),
        person_id: Set(d.person_id),
        organisation_id: Set(d.organisation_id),
        programme_id: Set(d.programme_id),
        course_id: Set(d.course_id),
        session_id: Set(d.session_id),
        person_name: Set(person.name),
        title: Set(d.title),
        programme_name: Set(programme.name),
        completed_on: Set(d.completed_on),
        issued_on: Set(issued_on),
        expires_on: Set(d.expires_on),
        cpd_hours: Set(d.cpd_hours),
        issuer: Set(config.issuer.clone()),
        revoked_at: Set(None),
        revoke_reason: Set(None),
        superseded_by_id: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?;
    certificate_event(db, "certificate.issued", &model, now).await?;
    Ok(model)
}

async fn exists(db: &impl ConnectionTrait, origin_key: &str) -> ApiResult<bool> {
    Ok(certificates::Entity::find()
        .filter(certificates::Column::OriginKey.eq(origin_key))
        .one(db)
        .await?
        .is_some())
}

/// Issues the certificate of a completion, once (an imported completion gets none: it was
/// certified where it was done).
pub async fn issue_for_completion(
    db: &impl ConnectionTrait,
    config: &Config,
    completion: &completions::Model,
    course: &courses::Model,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let origin_key = format!("completion:{}:{}", completion.id, completion.completed_on);
    if exists(db, &origin_key).await? {
        return Ok(());
    }
    let session_id = completion
        .source_id
        .filter(|_| completion.source == entities::enums::CompletionSource::Session);
    let details = Details {
        origin_key,
        kind: "completion",
        person_id: completion.person_id,
        organisation_id: completion.organisation_id,
        programme_id: course.programme_id,
        course_id: Some(course.id),
        session_id,
        title: course.title.clone(),
        completed_on: completion.completed_on,
        expires_on: course.certificate_validity_months.and_then(|m| {
            completion
                .completed_on
                .checked_add_months(Months::new(m as u32))
        }),
        cpd_hours: course.cpd_hours,
    };
    insert(db, config, details, now).await?;
    Ok(())
}

/// Issues the licence certificate of an accreditation or renewal step, once.
pub async fn issue_for_licence(
    db: &impl ConnectionTrait,
    config: &Config,
    step: &trainer_steps::Model,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let origin_key = format!("step:{}", step.id);
    if exists(db, &origin_key).await? {
        return Ok(());
    }
    let programme = programmes::Entity::find_by_id(step.programme_id)
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("Programme"))?;
    let details = Details {
        origin_key,
        kind: "licence",
        person_id: step.person_id,
        organisation_id: super::events::employer(db, step.person_id).await?,
        programme_id: step.programme_id,
        course_id: None,
        session_id: None,
        title: format!("{} accredited trainer", programme.name),
        completed_on: step.effective_on,
        expires_on: step.licence_expires_on,
        cpd_hours: 0.0,
    };
    insert(db, config, details, now).await?;
    Ok(())
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
        .one(db)
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

fn text_of(c: &certificates::Model, config: &Config) -> CertificateText {
    CertificateText {
        licence: c.kind == "licence",
        name: c.person_name.clone(),
        title: c.title.clone(),
        programme: c.programme_name.clone(),
        completed_on: c.completed_on,
        expires_on: c.expires_on,
        cpd_hours: c.cpd_hours,
        issuer: c.issuer.clone(),
        issued_on: c.issued_on,
        number: c.number.clone(),
        code: c.code.clone(),
        verify_url: verify_url(config, &c.code),
    }
}

/// The PDF of one certificate, and its number (for the file name).
pub async fn pdf(
    db: &impl ConnectionTrait,
    config: &Config,
    who: &Principal,
    id: Uuid,
) -> ApiResult<(Vec<u8>, String)> {
    let c = find_reachable(db, who, id).await?;
    Ok((certificate_pdf::render(&[text_of(&c, config)])?, c.number))
}

/// Every current certificate of a session (neither revoked nor superseded) as one PDF.
pub async fn session_pdf(
    db: &impl ConnectionTrait,
    config: &Config,
    session_id: Uuid,
) -> ApiResult<Vec<u8>> {
    entities::sessions::Entity::find_by_id(session_id)
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("Session"))?;
    let mut rows = certificates::Entity::find()
        .filter(certificates::Column::SessionId.eq(session_id))
        .filter(certificates::Column::RevokedAt.is_null())
        .filter(certificates::Column::SupersededById.is_null())
        .all(db)
        .await?;
    if rows.is_empty() {
        return Err(ApiError::Rule {
            kind: ProblemKind::NoCertificates,
            detail: "The session has no certificates yet: they are issued when it is completed."
                .into(),
        });
    }
    rows.sort_by(|a, b| {
        a.person_name
            .cmp(&b.person_name)
            .then(a.number.cmp(&b.number))
    });
    let texts: Vec<CertificateText> = rows.iter().map(|c| text_of(c, config)).collect();
    Ok(certificate_pdf::render(&texts)?)
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
        .one(&txn)
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
        .one(&txn)
        .await?
        .ok_or_else(|| ApiError::not_found("Certificate"))?;
    if let Some(err) = not_current(&old) {
        return Err(err);
    }
    let course = match old.course_id {
        Some(course) => courses::Entity::find_by_id(course).one(&txn).await?,
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

/// Public verification by code. A code that matches nothing — mistyped, near a real one, or
/// made up — gets the same 404.
pub async fn verify(
    db: &impl ConnectionTrait,
    clock: &Clock,
    code: &str,
) -> ApiResult<Verification> {
    let normal = normalise(code);
    let not_found = || ApiError::NotFound("No certificate has this verification code.".into());
    if normal.len() != CODE_LEN {
        return Err(not_found());
    }
    let c = certificates::Entity::find()
        .filter(certificates::Column::CodeHash.eq(hash(&normal)))
        .one(db)
        .await?
        .ok_or_else(not_found)?;
    let today = london_today(clock.now());
    Ok(Verification {
        status: status_of(&c, today),
        revoked_on: c.revoked_at.map(london_today),
        number: c.number,
        name: c.person_name,
        title: c.title,
        programme: c.programme_name,
        completed_on: c.completed_on,
        expires_on: c.expires_on,
        cpd_hours: c.cpd_hours,
        issuer: c.issuer,
        issued_on: c.issued_on,
    })
}
