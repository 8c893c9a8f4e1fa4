//! The outbox and the change feed. `emit` is called inside the transaction that makes the change,
//! so an event exists exactly when its change was committed.

use chrono::{DateTime, Utc};
use entities::events;
use poem_openapi::Object;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder,
    Select, Statement, sea_query::Expr,
};
use serde_json::Value;
use uuid::Uuid;

use crate::{
    auth::{Action, PeopleScope, Principal},
    error::{ApiError, ApiResult},
};

/// The kinds of event.
pub const KINDS: &[&str] = &[
    "booking.confirmed",
    "booking.waitlisted",
    "booking.promoted",
    "booking.cancelled",
    "session.updated",
    "session.cancelled",
    "completion.recorded",
    "certificate.issued",
    "certificate.revoked",
    "trainer.status_changed",
];

/// Records an event in the caller's transaction.
pub async fn emit(
    db: &crate::db::WriteTxn,
    kind: &'static str,
    organisation_id: Option<Uuid>,
    subject_id: Uuid,
    data: Value,
    at: DateTime<Utc>,
) -> ApiResult<()> {
    debug_assert!(KINDS.contains(&kind));
    let backend = db.get_database_backend();
    // The committing transaction's number orders the feed (see `visible_after`).
    let sql = match backend {
        DbBackend::Postgres => {
            "INSERT INTO events (kind, organisation_id, subject_id, data, tx_id, occurred_at) \
             VALUES ($1, $2, $3, $4, pg_current_xact_id()::text::bigint, $5)"
        }
        _ => {
            "INSERT INTO events (kind, organisation_id, subject_id, data, tx_id, occurred_at) \
             VALUES (?, ?, ?, ?, 0, ?)"
        }
    };
    // Nothing reads it back: it is written with the transaction's next statement.
    db.later(Statement::from_sql_and_values(
        backend,
        sql,
        [
            kind.into(),
            organisation_id.into(),
            subject_id.into(),
            data.to_string().into(),
            at.into(),
        ],
    ));
    // The email it causes is queued in the same transaction.
    super::mail::on_event(db, kind, subject_id, &data, at).await
}

/// An event of the change feed.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Event {
    /// The event's identifier; unique, but not its position in the feed (use `cursor`).
    pub id: i64,
    /// Its position in the feed: pass the cursor of the last event you processed as `after`.
    pub cursor: String,
    /// What happened, e.g. `booking.confirmed`.
    #[oai(rename = "type")]
    pub kind: String,
    /// The organisation whose staff it concerns; absent for session changes, which every
    /// partner sees.
    pub organisation_id: Option<Uuid>,
    /// What it is about (a booking, session, completion, certificate or person).
    pub subject_id: Uuid,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// The event's details.
    pub data: serde_json::Value,
}

/// One page of the feed.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct EventPage {
    /// Events in feed order, oldest first.
    pub events: Vec<Event>,
    /// Pass as `after` to continue. When nothing new has happened it is the `after` you sent
    /// (absent if you sent none and the feed is empty).
    pub next_after: Option<String>,
}

/// A position in the feed: the committing transaction's number, then the event's id. Events are
/// ordered by transaction so that an event whose transaction commits late still lands after
/// every position a poller has already passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Position {
    tx_id: i64,
    id: i64,
}

impl Position {
    fn parse(raw: &str) -> ApiResult<Self> {
        let bad = || ApiError::invalid("after", "is not a cursor this feed returned");
        let (tx, id) = raw.split_once('-').ok_or_else(bad)?;
        Ok(Self {
            tx_id: tx.parse().map_err(|_| bad())?,
            id: id.parse().map_err(|_| bad())?,
        })
    }

    fn render(self) -> String {
        format!("{}-{}", self.tx_id, self.id)
    }
}

/// Events after `after`, in feed order. On PostgreSQL only events of transactions older than
/// every transaction still running are shown, so no event can later appear before a position a
/// poller has passed.
pub async fn feed(
    db: &impl ConnectionTrait,
    who: &Principal,
    after: Option<&str>,
    limit: u64,
    kind: Option<&str>,
) -> ApiResult<EventPage> {
    who.require(Action::ReadEvents)?;
    let after = after.map(Position::parse).transpose()?;
    if let Some(kind) = kind
        && !KINDS.contains(&kind)
    {
        return Err(ApiError::invalid(
            "type",
            format!("must be one of {}", KINDS.join(", ")),
        ));
    }
    let org = match who.people_scope() {
        PeopleScope::All => None,
        PeopleScope::Organisation(org) => Some(org),
        PeopleScope::Person(_) => {
            return Err(ApiError::Forbidden(
                "The change feed is for coordinators and partner systems.".into(),
            ));
        }
    };
    let kinds: Vec<&str> = kind.into_iter().collect();
    let select = visible_after(
        db.get_database_backend(),
        org,
        after.map(|p| (p.tx_id, p.id)),
        &kinds,
    );
    let rows = crate::db::limited(db, select, limit).await?;
    let next_after = rows
        .last()
        .map(|e| Position {
            tx_id: e.tx_id,
            id: e.id,
        })
        .or(after)
        .map(Position::render);
    Ok(EventPage {
        next_after,
        events: rows
            .into_iter()
            .map(|e| Event {
                id: e.id,
                cursor: Position {
                    tx_id: e.tx_id,
                    id: e.id,
                }
                .render(),
                kind: e.kind,
                organisation_id: e.organisation_id,
                subject_id: e.subject_id,
                occurred_at: e.occurred_at,
                data: serde_json::from_str(&e.data).unwrap_or(serde_json::Value::Null),
            })
            .collect(),
    })
}

/// The events a reader may see after a feed position `(tx_id, id)`, in feed order: on
/// PostgreSQL only those of transactions older than every transaction still running; for an
/// organisation, its own events and session changes; of the given kinds (all when empty).
pub fn visible_after(
    backend: DbBackend,
    organisation_id: Option<Uuid>,
    after: Option<(i64, i64)>,
    kinds: &[&str],
) -> Select<events::Entity> {
    let mut select = events::Entity::find();
    if let Some((tx_id, id)) = after {
        select = select.filter(
            Condition::any().add(events::Column::TxId.gt(tx_id)).add(
                Condition::all()
                    .add(events::Column::TxId.eq(tx_id))
                    .add(events::Column::Id.gt(id)),
            ),
        );
    }
    if backend == DbBackend::Postgres {
        select = select.filter(Expr::cust(
            "tx_id < pg_snapshot_xmin(pg_current_snapshot())::text::bigint",
        ));
    }
    if let Some(org) = organisation_id {
        select = select.filter(
            Condition::any()
                .add(events::Column::OrganisationId.eq(org))
                .add(events::Column::OrganisationId.is_null()),
        );
    }
    if !kinds.is_empty() {
        select = select.filter(events::Column::Kind.is_in(kinds.iter().copied()));
    }
    select
        .order_by_asc(events::Column::TxId)
        .order_by_asc(events::Column::Id)
}

/// The JSON a webhook receiver gets for an event (the feed's event, without its cursor).
pub fn payload(e: &events::Model) -> Value {
    serde_json::json!({
        "id": e.id,
        "type": e.kind,
        "organisation_id": e.organisation_id,
        "subject_id": e.subject_id,
        "occurred_at": e.occurred_at,
        "data": serde_json::from_str::<Value>(&e.data).unwrap_or(Value::Null),
    })
}

/// The employing organisation of a person (their primary membership), for scoping events.
pub async fn employer(db: &impl ConnectionTrait, person_id: Uuid) -> ApiResult<Option<Uuid>> {
    Ok(super::people::primary_membership(db, person_id)
        .await?
        .map(|m| m.organisation_id))
}

/// The event of a booking's change.
pub async fn booking(
    db: &crate::db::WriteTxn,
    kind: &'static str,
    b: &entities::bookings::Model,
    at: DateTime<Utc>,
) -> ApiResult<()> {
    let data = serde_json::json!({
        "booking_id": b.id,
        "session_id": b.session_id,
        "person_id": b.person_id,
        "organisation_id": b.organisation_id,
        "status": b.status,
        "place": b.place,
        "late_cancellation": b.late_cancellation,
        "cancel_reason": b.cancel_reason,
    });
    emit(db, kind, Some(b.organisation_id), b.id, data, at).await
}
