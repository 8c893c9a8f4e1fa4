//! UK GDPR duties towards one person: access (an export of everything held about them) and
//! erasure (identifying details replaced, records kept so programme figures do not change).

use crate::ctx::Ctx;
use crate::db::FirstRow as _;
use crate::problem::ProblemKind;
use chrono::{DateTime, Utc};
use entities::{
    api_keys, attendance, bookings, calendar_feeds, cascade_attendees, cascade_sessions,
    certificates, completions, idempotency_keys, memberships, people, session_facilitators,
    trainer_steps,
};
use poem_openapi::Object;
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect,
    sea_query::Expr,
};
use serde_json::Value;
use uuid::Uuid;

use super::{
    audit_log::{self, AuditEntry},
    people::{self as people_view, Person},
};
use crate::{
    audit::{self, Change},
    auth::Principal,
    clock::Clock,
    error::{ApiError, ApiResult},
};

/// What replaces an erased person's name, everywhere it was stored.
pub const ERASED_NAME: &str = "Erased person";

/// Everything Cascade holds about one person, as stored (secrets and token hashes left out).
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PersonExport {
    /// When this export was made.
    pub exported_at: DateTime<Utc>,
    /// The person as the API shows them.
    pub person: Person,
    /// Every membership, current and past, with the HR system's own id.
    pub memberships: Vec<Value>,
    /// Every booking, current and cancelled.
    pub bookings: Vec<Value>,
    /// Attendance marks on the sittings of their bookings.
    pub attendance: Vec<Value>,
    /// Completion records, from sessions, cascades and imports.
    pub completions: Vec<Value>,
    /// Certificates, as they print.
    pub certificates: Vec<Value>,
    /// Steps along the trainer pipeline.
    pub trainer_steps: Vec<Value>,
    /// Cascade sessions they attended (as a named attendee).
    pub cascade_attendance: Vec<Value>,
    /// Cascade sessions they delivered, as lead or co-trainer.
    pub cascade_sessions_delivered: Vec<Value>,
    /// Sessions they facilitate.
    pub facilitating: Vec<Value>,
    /// Their calendar feeds (addresses are secrets and are not shown).
    pub calendar_feeds: Vec<Value>,
    /// API keys bound to them (secrets are never stored).
    pub api_keys: Vec<Value>,
    /// Every audited change that concerned them.
    pub audit: Vec<AuditEntry>,
}

/// Rows as JSON, without the columns that hold secrets' hashes.
fn rows(models: Vec<Value>) -> Vec<Value> {
    models
        .into_iter()
        .map(|mut v| {
            if let Some(o) = v.as_object_mut() {
                o.remove("token_hash");
                o.remove("code_hash");
            }
            v
        })
        .collect()
}

pub async fn export(
    db: &DatabaseConnection,
    clock: &Clock,
    who: &Principal,
    id: Uuid,
) -> ApiResult<PersonExport> {
    who.require_export(id)?;
    let person = people_view::get(db, who, id).await?;
    let booking_ids: Vec<Uuid> = bookings::Entity::find()
        .select_only()
        .column(bookings::Column::Id)
        .filter(bookings::Column::PersonId.eq(id))
        .into_tuple()
        .all(db)
        .await?;
    Ok(PersonExport {
        exported_at: clock.now(),
        person,
        memberships: rows(
            memberships::Entity::find()
                .filter(memberships::Column::PersonId.eq(id))
                .into_json()
                .all(db)
                .await?,
        ),
        bookings: rows(
            bookings::Entity::find()
                .filter(bookings::Column::PersonId.eq(id))
                .into_json()
                .all(db)
                .await?,
        ),
        attendance: rows(
            attendance::Entity::find()
                .filter(attendance::Column::BookingId.is_in(booking_ids))
                .into_json()
                .all(db)
                .await?,
        ),
        completions: rows(
            completions::Entity::find()
                .filter(completions::Column::PersonId.eq(id))
                .into_json()
                .all(db)
                .await?,
        ),
        certificates: rows(
            certificates::Entity::find()
                .filter(certificates::Column::PersonId.eq(id))
                .into_json()
                .all(db)
                .await?,
        ),
        trainer_steps: rows(
            trainer_steps::Entity::find()
                .filter(trainer_steps::Column::PersonId.eq(id))
                .into_json()
                .all(db)
                .await?,
        ),
        cascade_attendance: rows(
            cascade_attendees::Entity::find()
                .filter(cascade_attendees::Column::PersonId.eq(id))
                .into_json()
                .all(db)
                .await?,
        ),
        cascade_sessions_delivered: rows(
            cascade_sessions::Entity::find()
                .filter(
                    Condition::any()
                        .add(cascade_sessions::Column::LeadTrainerId.eq(id))
                        .add(cascade_sessions::Column::CoTrainerId.eq(id)),
                )
                .into_json()
                .all(db)
                .await?,
        ),
        facilitating: rows(
            session_facilitators::Entity::find()
                .filter(session_facilitators::Column::PersonId.eq(id))
                .into_json()
                .all(db)
                .await?,
        ),
        calendar_feeds: rows(
            calendar_feeds::Entity::find()
                .filter(calendar_feeds::Column::PersonId.eq(id))
                .into_json()
                .all(db)
                .await?,
        ),
        api_keys: rows(
            api_keys::Entity::find()
                .filter(api_keys::Column::PersonId.eq(id))
                .into_json()
                .all(db)
                .await?,
        ),
        audit: audit_log::of_person(db, id).await?,
    })
}

/// Erases a person: their name, email and HR ids are replaced with an anonymous marker, they
/// become inactive, their calendar feeds and API keys are revoked, their certificates are
/// revoked (and print the marker), and stored API responses that mention them are dropped.
/// Bookings, attendance, completions and cascade headcounts stay, so every programme figure is
/// unchanged. One transaction; recorded in the audit log.
pub async fn erase(ctx: &Ctx, id: Uuid) -> ApiResult<Person> {
    let clock = &ctx.clock;
    let who = &ctx.who;
    let now = clock.now();
    let txn = ctx.begin().await?;
    let person = people::Entity::find_by_id(id)
        .lock_exclusive()
        .first(&txn)
        .await?
        .ok_or_else(|| ApiError::not_found("Person"))?;
    if person.erased_at.is_some() {
        return Err(ApiError::Rule {
            kind: ProblemKind::AlreadyErased,
            detail: "This person has already been erased.".into(),
        });
    }
    let marker = format!("erased-{}@erased.invalid", id.simple());
    people::Entity::update_many()
        .col_expr(people::Column::Name, Expr::value(ERASED_NAME))
        .col_expr(
            people::Column::NameKey,
            Expr::value(people::name_keys(ERASED_NAME).0),
        )
        .col_expr(
            people::Column::SurnameKey,
            Expr::value(people::name_keys(ERASED_NAME).1),
        )
        .col_expr(people::Column::Email, Expr::value(marker.clone()))
        .col_expr(people::Column::EmailKey, Expr::value(marker))
        .col_expr(people::Column::Active, Expr::value(false))
        .col_expr(people::Column::ErasedAt, Expr::value(now))
        .col_expr(people::Column::UpdatedAt, Expr::value(now))
        .filter(people::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    // HR ids and what an identity provider sent (userName, names, emails) go too.
    let memberships = memberships::Entity::update_many()
        .col_expr(memberships::Column::ExternalId, Expr::value(None::<String>))
        .col_expr(
            memberships::Column::EmployeeNumber,
            Expr::value(None::<String>),
        )
        .col_expr(
            memberships::Column::ScimUserNameKey,
            Expr::value(None::<String>),
        )
        .col_expr(
            memberships::Column::ScimAttributes,
            Expr::value(None::<String>),
        )
        .col_expr(memberships::Column::UpdatedAt, Expr::value(now))
        .filter(memberships::Column::PersonId.eq(id))
        .exec(&txn)
        .await?
        .rows_affected;
    let feeds = calendar_feeds::Entity::update_many()
        .col_expr(calendar_feeds::Column::RevokedAt, Expr::value(now))
        .filter(calendar_feeds::Column::PersonId.eq(id))
        .filter(calendar_feeds::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?
        .rows_affected;
    let keys = api_keys::Entity::update_many()
        .col_expr(api_keys::Column::RevokedAt, Expr::value(now))
        .filter(api_keys::Column::PersonId.eq(id))
        .filter(api_keys::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?
        .rows_affected;
    certificates::Entity::update_many()
        .col_expr(certificates::Column::PersonName, Expr::value(ERASED_NAME))
        .col_expr(certificates::Column::UpdatedAt, Expr::value(now))
        .filter(certificates::Column::PersonId.eq(id))
        .exec(&txn)
        .await?;
    let certificates = certificates::Entity::update_many()
        .col_expr(certificates::Column::RevokedAt, Expr::value(now))
        .col_expr(
            certificates::Column::RevokeReason,
            Expr::value("The holder's record was erased."),
        )
        .filter(certificates::Column::PersonId.eq(id))
        .filter(certificates::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?
        .rows_affected;
    // Their future places go to others: the waitlist is offered each one.
    let places = super::bookings::cancel::future_places(&txn, &[id], now).await?;
    let cancelled =
        super::bookings::cancel::cancel_places(&txn, places, "person_erased", now).await?;
    // Stored answers to retried requests may quote the person (their name, their email).
    idempotency_keys::Entity::delete_many()
        .filter(idempotency_keys::Column::Body.contains(id.to_string()))
        .exec(&txn)
        .await?;
    audit::record(
        &txn,
        Change::new("person", id, "erase")
            .summary(format!(
                "identifying fields replaced; {memberships} HR id(s) cleared, {feeds} feed(s) \
                 and {keys} key(s) revoked, {certificates} certificate(s) revoked, {cancelled} \
                 future place(s) cancelled"
            ))
            .person(id),
    )
    .await?;
    let view = people_view::get(&txn, who, id).await?;
    txn.commit().await?;
    Ok(view)
}
