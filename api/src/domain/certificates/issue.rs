//! Issuing certificates: numbered per year, one per completion or licence (its origin key), each
//! announced as an event in the issuing transaction.

use super::*;

/// The next number of a year, from a counter row held for the transaction (so two replicas never
/// hand out the same number).
pub(super) async fn next_number(db: &impl ConnectionTrait, year: i32) -> ApiResult<(i32, String)> {
    certificate_sequences::Entity::insert(certificate_sequences::ActiveModel {
        year: Set(year),
        last: Set(0),
    })
    .on_conflict_do_nothing_on([certificate_sequences::Column::Year])
    .exec(db)
    .await?;
    let current = certificate_sequences::Entity::find_by_id(year)
        .lock_exclusive()
        .first(db)
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
pub(super) struct Details {
    pub(super) origin_key: String,
    pub(super) kind: &'static str,
    pub(super) person_id: Uuid,
    pub(super) organisation_id: Option<Uuid>,
    pub(super) programme_id: Uuid,
    pub(super) course_id: Option<Uuid>,
    pub(super) session_id: Option<Uuid>,
    pub(super) title: String,
    pub(super) completed_on: NaiveDate,
    pub(super) expires_on: Option<NaiveDate>,
    pub(super) cpd_hours: f64,
}

pub(crate) async fn certificate_event(
    db: &crate::db::WriteTxn,
    kind: &'static str,
    c: &certificates::Model,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let data = serde_json::json!({
        "certificate_id": c.id, "number": c.number, "person_id": c.person_id, "kind": c.kind,
        "course_id": c.course_id, "expires_on": c.expires_on, "revoke_reason": c.revoke_reason,
    });
    let org = crate::domain::events::employer(db, c.person_id).await?;
    crate::domain::events::emit(db, kind, org, c.id, data, now).await
}

pub(super) async fn insert(
    db: &crate::db::WriteTxn,
    config: &Config,
    d: Details,
    now: DateTime<Utc>,
) -> ApiResult<certificates::Model> {
    let person = people::Entity::find_by_id(d.person_id)
        .first(db)
        .await?
        .ok_or_else(|| ApiError::not_found("Person"))?;
    let programme = programmes::Entity::find_by_id(d.programme_id)
        .first(db)
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

pub(super) async fn exists(db: &impl ConnectionTrait, origin_key: &str) -> ApiResult<bool> {
    Ok(certificates::Entity::find()
        .filter(certificates::Column::OriginKey.eq(origin_key))
        .first(db)
        .await?
        .is_some())
}

/// Issues the certificate of a completion, once (an imported completion gets none: it was
/// certified where it was done).
pub async fn issue_for_completion(
    db: &crate::db::WriteTxn,
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
    db: &crate::db::WriteTxn,
    config: &Config,
    step: &trainer_steps::Model,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let origin_key = format!("step:{}", step.id);
    if exists(db, &origin_key).await? {
        return Ok(());
    }
    let programme = programmes::Entity::find_by_id(step.programme_id)
        .first(db)
        .await?
        .ok_or_else(|| ApiError::not_found("Programme"))?;
    let details = Details {
        origin_key,
        kind: "licence",
        person_id: step.person_id,
        organisation_id: crate::domain::events::employer(db, step.person_id).await?,
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
