//! Certificates as PDF documents: one person's, or a session's whole set for printing.

use super::*;

pub(super) fn text_of(c: &certificates::Model, config: &Config) -> CertificateText {
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

/// The PDF of a certificate for its holder's email (the message is addressed to the holder, so
/// no caller's scope applies), with the certificate; none if it is gone or no longer current.
pub(crate) async fn pdf_for_holder(
    db: &impl ConnectionTrait,
    config: &Config,
    id: Uuid,
) -> ApiResult<Option<(Vec<u8>, certificates::Model)>> {
    let Some(c) = certificates::Entity::find_by_id(id).first(db).await? else {
        return Ok(None);
    };
    if c.revoked_at.is_some() || c.superseded_by_id.is_some() {
        return Ok(None);
    }
    Ok(Some((certificate_pdf::render(&[text_of(&c, config)])?, c)))
}

/// Every current certificate of a session (neither revoked nor superseded) as one PDF.
pub async fn session_pdf(
    db: &impl ConnectionTrait,
    config: &Config,
    session_id: Uuid,
) -> ApiResult<Vec<u8>> {
    entities::sessions::Entity::find_by_id(session_id)
        .first(db)
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
