//! Email to people: an outbox written in the transaction of the change that causes a message
//! ([`on_event`], called by `events::emit`; [`enqueue`] for the rest), delivered by a worker on
//! every replica under a per-message lease ([`send::deliver_due`]), composed when it is sent
//! ([`compose`]) so an invitation carries the session's current details and SEQUENCE.
//!
//! One message per person and event (`dedup_key`): a retry, a second replica or a second scan
//! for reminders adds nothing. Non-essential messages (reminders, refresh and licence notices)
//! honour the person's opt-out and carry `List-Unsubscribe`; essential ones always go.

pub mod compose;
pub mod send;
pub mod timed;

use chrono::{DateTime, Utc};
use entities::{bookings, enums::BookingStatus, messages};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, QueryTrait, Set,
};
use serde_json::Value;
use uuid::Uuid;

use crate::error::ApiResult;

/// What a message says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    BookingConfirmed,
    BookingWaitlisted,
    BookingPromoted,
    BookingCancelled,
    SessionCancelled,
    SessionChanged,
    Reminder,
    CertificateIssued,
    RefreshDue,
    LicenceExpiring,
    SignInLink,
    /// A coordinator's message to everyone with a place on a session.
    SessionMessage,
}

impl Kind {
    pub const ALL: [Kind; 12] = [
        Kind::BookingConfirmed,
        Kind::BookingWaitlisted,
        Kind::BookingPromoted,
        Kind::BookingCancelled,
        Kind::SessionCancelled,
        Kind::SessionChanged,
        Kind::Reminder,
        Kind::CertificateIssued,
        Kind::RefreshDue,
        Kind::LicenceExpiring,
        Kind::SignInLink,
        Kind::SessionMessage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::BookingConfirmed => "booking_confirmed",
            Kind::BookingWaitlisted => "booking_waitlisted",
            Kind::BookingPromoted => "booking_promoted",
            Kind::BookingCancelled => "booking_cancelled",
            Kind::SessionCancelled => "session_cancelled",
            Kind::SessionChanged => "session_changed",
            Kind::Reminder => "reminder",
            Kind::CertificateIssued => "certificate_issued",
            Kind::RefreshDue => "refresh_due",
            Kind::LicenceExpiring => "licence_expiring",
            Kind::SignInLink => "sign_in_link",
            Kind::SessionMessage => "session_message",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }

    /// Essential messages go whatever the person's opt-out: they change what is in their
    /// calendar, or answer what they just did.
    pub fn essential(self) -> bool {
        !matches!(
            self,
            Kind::Reminder | Kind::RefreshDue | Kind::LicenceExpiring
        )
    }
}

/// A message to queue.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub person_id: Uuid,
    pub kind: Kind,
    /// The event it is about; one message per person and key.
    pub dedup_key: String,
    pub booking_id: Option<Uuid>,
    pub session_id: Option<Uuid>,
    pub certificate_id: Option<Uuid>,
    pub data: Value,
}

impl Outgoing {
    fn about_booking(kind: Kind, b: (Uuid, Uuid, Uuid), key: String) -> Self {
        let (booking, session, person) = b;
        Self {
            person_id: person,
            kind,
            dedup_key: key,
            booking_id: Some(booking),
            session_id: Some(session),
            certificate_id: None,
            data: Value::Object(Default::default()),
        }
    }
}

/// Queues messages in the caller's transaction; one already queued for the same person and
/// event is left as it is.
pub async fn enqueue(
    db: &crate::db::WriteTxn,
    out: Vec<Outgoing>,
    at: DateTime<Utc>,
) -> ApiResult<()> {
    if out.is_empty() {
        return Ok(());
    }
    let rows = out.into_iter().map(|m| messages::ActiveModel {
        id: Set(Uuid::now_v7()),
        person_id: Set(m.person_id),
        kind: Set(m.kind.as_str().to_owned()),
        dedup_key: Set(m.dedup_key),
        essential: Set(m.kind.essential()),
        booking_id: Set(m.booking_id),
        session_id: Set(m.session_id),
        certificate_id: Set(m.certificate_id),
        data: Set(m.data.to_string()),
        status: Set(send::Status::Pending.as_str().to_owned()),
        attempts: Set(0),
        next_attempt_at: Set(at),
        lease_until: Set(None),
        sent_at: Set(None),
        last_error: Set(None),
        unsubscribe_hash: Set(None),
        created_at: Set(at),
    });
    // Nothing reads them back: they are written with the transaction's next statement.
    db.later(
        messages::Entity::insert_many(rows)
            .on_conflict_do_nothing_on([messages::Column::PersonId, messages::Column::DedupKey])
            .build(db.get_database_backend()),
    );
    Ok(())
}

fn uuid_at(data: &Value, field: &str) -> Option<Uuid> {
    data.get(field)?.as_str()?.parse().ok()
}

/// The messages an event causes, queued in the transaction that emits it.
pub async fn on_event(
    db: &crate::db::WriteTxn,
    kind: &str,
    subject_id: Uuid,
    data: &Value,
    at: DateTime<Utc>,
) -> ApiResult<()> {
    let booking = || {
        Some((
            uuid_at(data, "booking_id")?,
            uuid_at(data, "session_id")?,
            uuid_at(data, "person_id")?,
        ))
    };
    let out = match kind {
        "booking.confirmed" | "booking.waitlisted" | "booking.promoted" => {
            let Some(b) = booking() else { return Ok(()) };
            let kind = match kind {
                "booking.confirmed" => Kind::BookingConfirmed,
                "booking.waitlisted" => Kind::BookingWaitlisted,
                _ => Kind::BookingPromoted,
            };
            vec![Outgoing::about_booking(
                kind,
                b,
                format!("{}:{}", kind.as_str(), b.0),
            )]
        }
        // A place cancelled with its session is told by the session's own message.
        "booking.cancelled"
            if data.get("cancel_reason").and_then(Value::as_str) != Some("session_cancelled") =>
        {
            let Some(b) = booking() else { return Ok(()) };
            vec![Outgoing::about_booking(
                Kind::BookingCancelled,
                b,
                format!("booking_cancelled:{}", b.0),
            )]
        }
        "session.updated" | "session.cancelled" => {
            let revision = data.get("revision").and_then(Value::as_i64).unwrap_or(0);
            let (kind, statuses) = if kind == "session.updated" {
                (Kind::SessionChanged, vec![BookingStatus::Confirmed])
            } else {
                // Cancelled with the session in this same transaction.
                (Kind::SessionCancelled, vec![BookingStatus::Cancelled])
            };
            let mut rows = bookings::Entity::find()
                .select_only()
                .columns([bookings::Column::Id, bookings::Column::PersonId])
                .filter(bookings::Column::SessionId.eq(subject_id))
                .filter(bookings::Column::Status.is_in(statuses));
            if kind == Kind::SessionCancelled {
                rows = rows.filter(bookings::Column::CancelReason.eq("session_cancelled"));
            }
            let rows: Vec<(Uuid, Uuid)> = rows.into_tuple().all(db).await?;
            rows.into_iter()
                .map(|(booking, person)| {
                    Outgoing::about_booking(
                        kind,
                        (booking, subject_id, person),
                        format!("{}:{subject_id}:{revision}", kind.as_str()),
                    )
                })
                .collect()
        }
        "certificate.issued" => match uuid_at(data, "person_id") {
            Some(person) => vec![Outgoing {
                person_id: person,
                kind: Kind::CertificateIssued,
                dedup_key: format!("certificate_issued:{subject_id}"),
                booking_id: None,
                session_id: None,
                certificate_id: Some(subject_id),
                data: Value::Object(Default::default()),
            }],
            None => Vec::new(),
        },
        _ => Vec::new(),
    };
    enqueue(db, out, at).await
}

/// Turns a person's non-essential email (reminders, refresh and licence notices) off or on.
pub async fn set_opt_out(ctx: &crate::ctx::Ctx, person_id: Uuid, opt_out: bool) -> ApiResult<()> {
    use crate::audit::{self, Change};
    let txn = ctx.begin().await?;
    entities::people::Entity::update_many()
        .col_expr(
            entities::people::Column::MailOptOut,
            sea_orm::sea_query::Expr::value(opt_out),
        )
        .filter(entities::people::Column::Id.eq(person_id))
        .exec(&txn)
        .await?;
    audit::record(
        &txn,
        Change::new("person", person_id, "mail_preference").summary(if opt_out {
            "reminders and notices turned off"
        } else {
            "reminders and notices turned on"
        }),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// The person an unsubscribe link was sent to, if the token is one we sent.
pub async fn unsubscribe_target(db: &impl ConnectionTrait, token: &str) -> ApiResult<Option<Uuid>> {
    Ok(messages::Entity::find()
        .select_only()
        .column(messages::Column::PersonId)
        .filter(messages::Column::UnsubscribeHash.eq(send::token_hash(token.trim())))
        .into_tuple()
        .one(db)
        .await?)
}

/// A coordinator's message to the people with a place on a session.
#[derive(Debug, Clone, poem_openapi::Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct SessionMessage {
    /// 1–150 characters; the email's subject follows the session's title.
    pub subject: String,
    /// 1–5,000 characters of plain text; blank lines separate paragraphs.
    pub text: String,
}

/// Who a message went to.
#[derive(Debug, Clone, poem_openapi::Object)]
pub struct MessageSent {
    /// People with a confirmed place, each queued one email.
    pub recipients: i32,
}

/// Queues `message` to everyone with a confirmed place on a scheduled session (one email
/// each, sent by the mail worker with the session's details and the sender's name).
pub async fn message_attendees(
    ctx: &crate::ctx::Ctx,
    session_id: Uuid,
    sender: &str,
    message: SessionMessage,
) -> ApiResult<MessageSent> {
    use crate::domain::validation::{FieldErrors, clean_text};
    let subject = clean_text(&message.subject);
    let text = message.text.trim().replace("\r\n", "\n");
    let mut errors = FieldErrors::default();
    errors.check(
        (1..=150).contains(&subject.chars().count()),
        "subject",
        "must be 1 to 150 characters",
    );
    errors.check(
        (1..=5000).contains(&text.chars().count()),
        "text",
        "must be 1 to 5000 characters",
    );
    errors.finish()?;
    let now = ctx.clock.now();
    let txn = ctx.begin().await?;
    let session = crate::domain::sessions::lock(&txn, session_id).await?;
    if session.status != entities::enums::SessionStatus::Scheduled {
        return Err(crate::error::refused(
            crate::problem::ProblemKind::SessionNotScheduled,
            "The session is no longer scheduled: nobody holds a place to message.",
        ));
    }
    let rows: Vec<(Uuid, Uuid)> = bookings::Entity::find()
        .select_only()
        .columns([bookings::Column::Id, bookings::Column::PersonId])
        .filter(bookings::Column::SessionId.eq(session_id))
        .filter(bookings::Column::Status.eq(BookingStatus::Confirmed))
        .into_tuple()
        .all(&txn)
        .await?;
    let key = Uuid::now_v7();
    let data = serde_json::json!({ "subject": subject, "text": text, "from": sender });
    let recipients = rows.len() as i32;
    enqueue(
        &txn,
        rows.into_iter()
            .map(|(booking, person)| Outgoing {
                data: data.clone(),
                ..Outgoing::about_booking(
                    Kind::SessionMessage,
                    (booking, session_id, person),
                    format!("session_message:{key}"),
                )
            })
            .collect(),
        now,
    )
    .await?;
    crate::audit::record(
        &txn,
        crate::audit::Change::new("session", session_id, "message")
            .summary(format!("message to {recipients} attendee(s)")),
    )
    .await?;
    txn.commit().await?;
    Ok(MessageSent { recipients })
}
