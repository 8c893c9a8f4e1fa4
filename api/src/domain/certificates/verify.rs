//! Public verification of a certificate by the code printed on it.

use super::*;

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
        .first(db)
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
