//! Webhook subscriptions and their delivery. Events come from the outbox (`domain::events`); each
//! subscription keeps its own position in it, queues what is new as deliveries, and sends them in
//! feed order, one at a time, signed with its secret. A lease on the subscription row, taken by a
//! conditional update, lets one replica at a time send a subscription's events, outside any
//! transaction; a replica that dies mid-send loses the lease after [`LEASE_SECONDS`].

use crate::ctx::Ctx;
use crate::db::FirstRow as _;
use crate::db::WriteTxn;
use crate::domain::webhook_targets::Targets;
use crate::versions::{self, Resource};
use chrono::{DateTime, Duration, Utc};
use entities::{events, organisations, webhook_deliveries as deliveries, webhooks};
use poem_openapi::{Enum, Object};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;
use validator::Validate;

use super::{
    events::{KINDS, payload, visible_after},
    validation::FieldErrors,
};
use crate::{
    audit::{self, Change},
    auth::{Action, PeopleScope, Principal},
    error::{ApiError, ApiResult},
    pagination::{PageRequest, fetch_page},
};

mod delivery;

pub use delivery::{Run, deliver_due, run_worker, signature};

/// How long a replica may hold a subscription while sending.
pub const LEASE_SECONDS: i64 = 300;
/// How long a delivery is retried before it is given up.
pub const RETRY_HOURS: i64 = 24;
/// The header carrying `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`.
pub const SIGNATURE_HEADER: &str = "Cascade-Signature";
/// Events queued per subscription per run, and deliveries sent per subscription per run.
const BATCH: u64 = 200;

/// A subscription to register.
#[derive(Debug, Clone, Object, Validate)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct NewWebhook {
    /// Where to `POST` events: an `http` or `https` URL.
    pub url: String,
    /// The key events are signed with, 16–256 characters. It is never shown again.
    pub secret: String,
    /// The event types wanted (see `GET /events` for the list).
    pub event_types: Vec<String>,
    /// Partner keys: their own organisation (the default). Coordinators: an organisation to
    /// receive only its events, or none for every event.
    pub organisation_id: Option<Uuid>,
}

/// Changes to a subscription; absent fields stay as they are.
#[derive(Debug, Clone, Object, Validate)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct WebhookChanges {
    /// A new `http` or `https` URL.
    pub url: Option<String>,
    /// A new signing secret, 16–256 characters (for rotating it).
    pub secret: Option<String>,
    /// The event types wanted from now on.
    pub event_types: Option<Vec<String>>,
    /// `true` turns a disabled subscription back on; it resumes where it stopped.
    pub active: Option<bool>,
}

/// A subscription, without its secret.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct WebhookView {
    /// The subscription's id.
    pub id: Uuid,
    /// The organisation whose events it receives (with every session change); absent: every
    /// event.
    pub organisation_id: Option<Uuid>,
    /// Where events are sent.
    pub url: String,
    /// The event types it receives.
    pub event_types: Vec<String>,
    /// Whether events are being sent.
    pub active: bool,
    /// Why it was turned off, when it was turned off by Cascade.
    pub disabled_reason: Option<String>,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<webhooks::Model> for WebhookView {
    fn from(m: webhooks::Model) -> Self {
        Self {
            id: m.id,
            organisation_id: m.organisation_id,
            url: m.url,
            event_types: serde_json::from_str(&m.event_types).unwrap_or_default(),
            active: m.active,
            disabled_reason: m.disabled_reason,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its turn or its next attempt.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Given up: retried for 24 hours, or the receiver answered 410 Gone.
    Failed,
}

impl DeliveryStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "delivered" => Self::Delivered,
            "failed" => Self::Failed,
            _ => Self::Pending,
        }
    }
}

/// One event's delivery to one subscription.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DeliveryView {
    /// The delivery's id, sent as `Cascade-Delivery`.
    pub id: Uuid,
    /// The subscription it belongs to.
    pub webhook_id: Uuid,
    /// The event's `id` (as in the change feed and the body sent).
    pub event_id: i64,
    /// The event's type.
    pub event_type: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: i32,
    /// When it will next be tried (pending deliveries).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When it was last tried.
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The receiver's last HTTP status, if it answered.
    pub last_status_code: Option<i32>,
    /// What went wrong last time, if anything.
    pub last_error: Option<String>,
    /// When the receiver accepted it.
    pub delivered_at: Option<DateTime<Utc>>,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
}

impl From<deliveries::Model> for DeliveryView {
    fn from(m: deliveries::Model) -> Self {
        let status = DeliveryStatus::parse(&m.status);
        Self {
            id: m.id,
            webhook_id: m.webhook_id,
            event_id: m.event_id,
            event_type: m.event_kind,
            status,
            attempts: m.attempts,
            next_attempt_at: (status == DeliveryStatus::Pending).then_some(m.next_attempt_at),
            last_attempt_at: m.last_attempt_at,
            last_status_code: m.last_status_code,
            last_error: m.last_error,
            delivered_at: m.delivered_at,
            created_at: m.created_at,
        }
    }
}

/// Checks a webhook URL: its form, and where it points ([`Targets::check`]).
async fn check_url(errors: &mut FieldErrors, targets: &Targets, url: &str) {
    match reqwest::Url::parse(url) {
        Ok(_) if url.len() > 2000 => errors.add("url", "is longer than 2000 characters"),
        Ok(u) => {
            if let Err(why) = targets.check(&u).await {
                errors.add("url", why);
            }
        }
        Err(_) => errors.add("url", "must be an absolute https URL"),
    }
}

fn check_secret(errors: &mut FieldErrors, secret: &str) {
    let len = secret.chars().count();
    errors.check(
        (16..=256).contains(&len),
        "secret",
        "must be 16 to 256 characters",
    );
}

/// Checks and normalises event types: known, at least one, each once, in the documented order.
fn check_types(errors: &mut FieldErrors, types: &[String]) -> Vec<String> {
    if types.is_empty() {
        errors.add("event_types", "must name at least one event type");
    }
    for (i, t) in types.iter().enumerate() {
        if !KINDS.contains(&t.as_str()) {
            errors.add(
                format!("event_types[{i}]"),
                format!("must be one of {}", KINDS.join(", ")),
            );
        }
    }
    KINDS
        .iter()
        .filter(|k| types.iter().any(|t| t == *k))
        .map(|k| (*k).to_owned())
        .collect()
}

/// The organisation a caller's subscriptions are limited to (`None`: all), or 403.
fn scope(who: &Principal) -> ApiResult<Option<Uuid>> {
    who.require(Action::ManageWebhooks)?;
    match who.people_scope() {
        PeopleScope::All => Ok(None),
        PeopleScope::Organisation(org) => Ok(Some(org)),
        PeopleScope::Person(_) => Err(ApiError::Forbidden(
            "Webhooks are for coordinators and partner systems.".into(),
        )),
    }
}

async fn find_visible(
    db: &impl ConnectionTrait,
    who: &Principal,
    id: Uuid,
) -> ApiResult<webhooks::Model> {
    let own = scope(who)?;
    webhooks::Entity::find_by_id(id)
        .first(db)
        .await?
        .filter(|w| own.is_none() || w.organisation_id == own)
        .ok_or_else(|| ApiError::not_found("Webhook"))
}

/// The last position of the feed now: a new subscription receives what happens after it.
/// Everything committed before the registration's snapshot counts as history — without the
/// feed readers' rule that holds back events newer than the oldest running transaction (on
/// PostgreSQL that is cluster-wide: a long transaction in any database held the start back, and
/// history committed before the registration was then sent as new).
async fn feed_end(db: &impl ConnectionTrait) -> ApiResult<(i64, i64)> {
    let last = events::Entity::find()
        .order_by_desc(events::Column::TxId)
        .order_by_desc(events::Column::Id)
        .first(db)
        .await?;
    Ok(last.map_or((0, 0), |e| (e.tx_id, e.id)))
}

/// Registers a subscription. The URL is checked (DNS included) before the write begins.
pub async fn create(ctx: &Ctx, targets: &Targets, input: NewWebhook) -> ApiResult<WebhookView> {
    let db = &ctx.db;
    let who = &ctx.who;
    let now = ctx.now();
    let own = scope(who)?;
    let mut errors = FieldErrors::of(&input);
    let url = input.url.trim().to_owned();
    check_url(&mut errors, targets, &url).await;
    check_secret(&mut errors, &input.secret);
    let types = check_types(&mut errors, &input.event_types);
    let organisation_id = match (own, input.organisation_id) {
        (Some(own), Some(asked)) if asked != own => {
            return Err(ApiError::Forbidden(
                "A partner key may subscribe only to its own organisation's events.".into(),
            ));
        }
        (Some(own), _) => Some(own),
        (None, asked) => asked,
    };
    if let Some(org) = organisation_id
        && organisations::Entity::find_by_id(org)
            .first(db)
            .await?
            .is_none()
    {
        errors.add("organisation_id", "no such organisation");
    }
    errors.finish()?;
    let txn = ctx.begin().await?;
    let db = &txn;
    let (after_tx_id, after_id) = feed_end(db).await?;
    let model = webhooks::ActiveModel {
        id: Set(Uuid::now_v7()),
        organisation_id: Set(organisation_id),
        url: Set(url),
        secret: Set(input.secret),
        event_types: Set(serde_json::to_string(&types).unwrap_or_else(|_| "[]".into())),
        active: Set(true),
        disabled_reason: Set(None),
        after_tx_id: Set(after_tx_id),
        after_id: Set(after_id),
        lease_until: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?;
    audit::record(
        db,
        Change::new("webhook", model.id, "create").summary(format!("events {}", model.event_types)),
    )
    .await?;
    txn.commit().await?;
    Ok(model.into())
}

pub async fn list(
    db: &impl ConnectionTrait,
    who: &Principal,
    page: PageRequest,
) -> ApiResult<(Vec<WebhookView>, Option<String>)> {
    let mut select = webhooks::Entity::find();
    if let Some(org) = scope(who)? {
        select = select.filter(webhooks::Column::OrganisationId.eq(org));
    }
    fetch_page(
        db,
        select,
        webhooks::Column::Id,
        page,
        Into::into,
        |w: &WebhookView| w.id,
    )
    .await
}

pub async fn get(db: &impl ConnectionTrait, who: &Principal, id: Uuid) -> ApiResult<WebhookView> {
    Ok(find_visible(db, who, id).await?.into())
}

/// Changes a subscription; a new URL is checked (DNS included) before the write begins.
pub async fn update(
    ctx: &Ctx,
    targets: &Targets,
    id: Uuid,
    changes: WebhookChanges,
) -> ApiResult<(WebhookView, Option<i64>)> {
    let db = &ctx.db;
    let who = &ctx.who;
    let now = ctx.now();
    find_visible(db, who, id).await?;
    let summary = audit::changed(&changes);
    let mut errors = FieldErrors::of(&changes);
    let url = changes.url.as_deref().map(|u| u.trim().to_owned());
    if let Some(url) = &url {
        check_url(&mut errors, targets, url).await;
    }
    if let Some(secret) = &changes.secret {
        check_secret(&mut errors, secret);
    }
    let types = changes
        .event_types
        .as_deref()
        .map(|t| check_types(&mut errors, t));
    errors.finish()?;
    let txn = ctx.begin().await?;
    let current = find_visible(&txn, who, id).await?;
    ctx.precondition.claim(&txn, Resource::Webhook(id)).await?;
    let mut model: webhooks::ActiveModel = current.into();
    if let Some(url) = url {
        model.url = Set(url);
    }
    if let Some(secret) = changes.secret {
        model.secret = Set(secret);
    }
    if let Some(types) = types {
        model.event_types = Set(serde_json::to_string(&types).unwrap_or_else(|_| "[]".into()));
    }
    if let Some(active) = changes.active {
        model.active = Set(active);
        if active {
            model.disabled_reason = Set(None);
        }
    }
    model.updated_at = Set(now);
    let saved = model.update(&txn).await?;
    audit::record(&txn, Change::new("webhook", id, "update").summary(summary)).await?;
    let version = versions::version(&txn, Resource::Webhook(id)).await?;
    txn.commit().await?;
    Ok((saved.into(), version))
}

pub async fn list_deliveries(
    db: &impl ConnectionTrait,
    who: &Principal,
    id: Uuid,
    status: Option<DeliveryStatus>,
    page: PageRequest,
) -> ApiResult<(Vec<DeliveryView>, Option<String>)> {
    let hook = find_visible(db, who, id).await?;
    let mut select = deliveries::Entity::find().filter(deliveries::Column::WebhookId.eq(hook.id));
    if let Some(status) = status {
        select = select.filter(deliveries::Column::Status.eq(status.as_str()));
    }
    fetch_page(
        db,
        select,
        deliveries::Column::Id,
        page,
        Into::into,
        |d: &DeliveryView| d.id,
    )
    .await
}

/// Sends a delivery again: it becomes pending with a fresh 24 hours of retries, and goes out in
/// feed order on the next run.
pub async fn redeliver(
    db: &WriteTxn,
    who: &Principal,
    id: Uuid,
    delivery_id: Uuid,
    now: DateTime<Utc>,
) -> ApiResult<DeliveryView> {
    let hook = find_visible(db, who, id).await?;
    let delivery = deliveries::Entity::find_by_id(delivery_id)
        .filter(deliveries::Column::WebhookId.eq(hook.id))
        .first(db)
        .await?
        .ok_or_else(|| ApiError::not_found("Delivery"))?;
    let mut model: deliveries::ActiveModel = delivery.into();
    model.status = Set(DeliveryStatus::Pending.as_str().to_owned());
    model.next_attempt_at = Set(now);
    model.first_attempt_at = Set(None);
    model.updated_at = Set(now);
    let saved = model.update(db).await?;
    audit::record(
        db,
        Change::new("webhook", id, "redeliver").summary(format!("delivery {delivery_id}")),
    )
    .await?;
    Ok(saved.into())
}
