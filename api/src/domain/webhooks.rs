//! Webhook subscriptions and their delivery. Events come from the outbox (`domain::events`); each
//! subscription keeps its own position in it, queues what is new as deliveries, and sends them in
//! feed order, one at a time, signed with its secret. A lease on the subscription row, taken by a
//! conditional update, lets one replica at a time send a subscription's events, outside any
//! transaction; a replica that dies mid-send loses the lease after [`LEASE_SECONDS`].

use crate::ctx::Ctx;
use crate::db::WriteTxn;
use crate::domain::webhook_targets::Targets;
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
        .one(db)
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
        .one(db)
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
            .one(db)
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
) -> ApiResult<WebhookView> {
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
    txn.commit().await?;
    Ok(saved.into())
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
        .one(db)
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

/// What one run of the worker did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    pub queued: u64,
    pub delivered: u64,
    pub failed_attempts: u64,
}

/// Queues and sends what is due for every active subscription. Safe to run on every replica at
/// once: a subscription is skipped while another replica holds its lease.
pub async fn deliver_due(ctx: &Ctx, targets: &Targets) -> ApiResult<Run> {
    let (db, now) = (&ctx.db, ctx.now());
    let client = targets.client();
    let mut run = Run::default();
    let mut after = Uuid::nil();
    loop {
        let ids: Vec<Uuid> = webhooks::Entity::find()
            .select_only()
            .column(webhooks::Column::Id)
            .filter(webhooks::Column::Active.eq(true))
            .filter(webhooks::Column::Id.gt(after))
            .order_by_asc(webhooks::Column::Id)
            .limit(500)
            .into_tuple()
            .all(db)
            .await?;
        let Some(last) = ids.last() else { break };
        after = *last;
        for id in ids {
            if !claim(db, id, now).await? {
                continue;
            }
            let result = serve_one(ctx, targets, &client, id, now, &mut run).await;
            webhooks::Entity::update_many()
                .col_expr(
                    webhooks::Column::LeaseUntil,
                    sea_orm::sea_query::Expr::value(Option::<DateTime<Utc>>::None),
                )
                .filter(webhooks::Column::Id.eq(id))
                .exec(db)
                .await?;
            result?;
        }
    }
    Ok(run)
}

/// Takes the subscription's lease, if no other replica holds it.
async fn claim(db: &impl ConnectionTrait, id: Uuid, now: DateTime<Utc>) -> ApiResult<bool> {
    let taken = webhooks::Entity::update_many()
        .col_expr(
            webhooks::Column::LeaseUntil,
            sea_orm::sea_query::Expr::value(now + Duration::seconds(LEASE_SECONDS)),
        )
        .filter(webhooks::Column::Id.eq(id))
        .filter(webhooks::Column::Active.eq(true))
        .filter(
            Condition::any()
                .add(webhooks::Column::LeaseUntil.is_null())
                .add(webhooks::Column::LeaseUntil.lte(now)),
        )
        .exec(db)
        .await?;
    Ok(taken.rows_affected == 1)
}

/// Queues the subscription's new events, then sends its due deliveries in order until one fails.
async fn serve_one(
    ctx: &Ctx,
    targets: &Targets,
    client: &reqwest::Client,
    id: Uuid,
    now: DateTime<Utc>,
    run: &mut Run,
) -> ApiResult<()> {
    let db = &ctx.db;
    let Some(hook) = webhooks::Entity::find_by_id(id).one(db).await? else {
        return Ok(());
    };
    let types: Vec<String> = serde_json::from_str(&hook.event_types).unwrap_or_default();
    let kinds: Vec<&str> = types.iter().map(String::as_str).collect();
    let new = visible_after(
        db.get_database_backend(),
        hook.organisation_id,
        Some((hook.after_tx_id, hook.after_id)),
        &kinds,
    )
    .limit(BATCH)
    .all(db)
    .await?;
    if let Some(last) = new.last() {
        let txn = ctx.begin().await?;
        let rows = new.iter().map(|e| deliveries::ActiveModel {
            id: Set(Uuid::now_v7()),
            webhook_id: Set(hook.id),
            event_id: Set(e.id),
            event_tx_id: Set(e.tx_id),
            event_kind: Set(e.kind.clone()),
            status: Set(DeliveryStatus::Pending.as_str().to_owned()),
            attempts: Set(0),
            next_attempt_at: Set(now),
            first_attempt_at: Set(None),
            last_attempt_at: Set(None),
            last_status_code: Set(None),
            last_error: Set(None),
            delivered_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        });
        deliveries::Entity::insert_many(rows)
            .on_conflict_do_nothing_on([deliveries::Column::WebhookId, deliveries::Column::EventId])
            .exec(&txn)
            .await?;
        webhooks::Entity::update_many()
            .col_expr(webhooks::Column::AfterTxId, last.tx_id.into())
            .col_expr(webhooks::Column::AfterId, last.id.into())
            .filter(webhooks::Column::Id.eq(hook.id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        run.queued += new.len() as u64;
    }

    for _ in 0..BATCH {
        let Some(next) = deliveries::Entity::find()
            .filter(deliveries::Column::WebhookId.eq(hook.id))
            .filter(deliveries::Column::Status.eq(DeliveryStatus::Pending.as_str()))
            .order_by_asc(deliveries::Column::EventTxId)
            .order_by_asc(deliveries::Column::EventId)
            .one(db)
            .await?
        else {
            break;
        };
        if next.next_attempt_at > now {
            break; // later events wait for it, so the receiver sees them in order
        }
        let Some(event) = events::Entity::find_by_id(next.event_id).one(db).await? else {
            break;
        };
        let outcome = match targets.check_before_sending(&hook.url) {
            Ok(()) => send(client, &hook, &next, &event, now).await,
            Err(why) => Err(format!("refused: the URL {why}")),
        };
        if !record(db, &hook, next, outcome, now, run).await? {
            break;
        }
    }
    Ok(())
}

/// What a receiver answered: its status, or why there was none.
type Outcome = Result<u16, String>;

/// The value of [`SIGNATURE_HEADER`] for a body sent at `timestamp` (Unix seconds).
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let hex = crate::digest::hmac_sha256_hex(
        secret.as_bytes(),
        &[format!("{timestamp}.").as_bytes(), body],
    );
    format!("t={timestamp},v1={hex}")
}

async fn send(
    client: &reqwest::Client,
    hook: &webhooks::Model,
    delivery: &deliveries::Model,
    event: &events::Model,
    now: DateTime<Utc>,
) -> Outcome {
    let body = payload(event).to_string().into_bytes();
    let signature = signature(&hook.secret, now.timestamp(), &body);
    client
        .post(&hook.url)
        .header("Content-Type", "application/json")
        .header(SIGNATURE_HEADER, signature)
        .header("Cascade-Event", &event.kind)
        .header("Cascade-Delivery", delivery.id.to_string())
        .body(body)
        .send()
        .await
        .map(|resp| resp.status().as_u16())
        .map_err(|err| {
            if err.is_timeout() {
                "no answer within 10 seconds".to_owned()
            } else if err.is_connect() {
                // The innermost cause says why, e.g. a name that resolves only to internal
                // addresses.
                let mut cause: &dyn std::error::Error = &err;
                while let Some(inner) = cause.source() {
                    cause = inner;
                }
                format!("could not connect: {cause}")
            } else {
                format!("request failed: {err}")
            }
        })
}

/// The wait before attempt `attempts + 1`: 30 seconds, doubling, at most 6 hours.
fn backoff(attempts: i32) -> Duration {
    let doublings = u32::try_from(attempts.clamp(1, 20) - 1).unwrap_or(0);
    Duration::seconds((30_i64 << doublings).min(6 * 3600))
}

/// Records an attempt. Returns whether the next delivery may be sent now.
async fn record(
    db: &DatabaseConnection,
    hook: &webhooks::Model,
    delivery: deliveries::Model,
    outcome: Outcome,
    now: DateTime<Utc>,
    run: &mut Run,
) -> ApiResult<bool> {
    let attempts = delivery.attempts + 1;
    let first = delivery.first_attempt_at.unwrap_or(now);
    let mut model: deliveries::ActiveModel = delivery.into();
    model.attempts = Set(attempts);
    model.first_attempt_at = Set(Some(first));
    model.last_attempt_at = Set(Some(now));
    model.updated_at = Set(now);
    let status = outcome.as_ref().ok().copied();
    model.last_status_code = Set(status.map(i32::from));
    let go_on = match outcome {
        Ok(code) if (200..300).contains(&code) => {
            model.status = Set(DeliveryStatus::Delivered.as_str().to_owned());
            model.delivered_at = Set(Some(now));
            model.last_error = Set(None);
            run.delivered += 1;
            true
        }
        Ok(410) => {
            model.status = Set(DeliveryStatus::Failed.as_str().to_owned());
            model.last_error = Set(Some("the receiver answered 410 Gone".into()));
            let mut off: webhooks::ActiveModel = hook.clone().into();
            off.active = Set(false);
            off.disabled_reason = Set(Some(
                "The receiver answered 410 Gone; turn it back on with active: true.".into(),
            ));
            off.updated_at = Set(now);
            off.update(db).await?;
            run.failed_attempts += 1;
            false
        }
        other => {
            run.failed_attempts += 1;
            model.last_error = Set(Some(match other {
                Ok(code) => format!("the receiver answered {code}"),
                Err(why) => why,
            }));
            if now - first >= Duration::hours(RETRY_HOURS) {
                model.status = Set(DeliveryStatus::Failed.as_str().to_owned());
                true // given up: the next event may go
            } else {
                model.next_attempt_at = Set(now + backoff(attempts));
                false
            }
        }
    };
    model.update(db).await?;
    Ok(go_on)
}

/// One run of the webhook worker for a running service, counted in its metrics.
pub async fn run_worker(state: &crate::state::AppState) -> ApiResult<Run> {
    let targets = super::webhook_targets::Targets::from_config(&state.config);
    let run = deliver_due(&Ctx::system(&state.db, &state.clock), &targets).await?;
    state.metrics.webhook_delivery("delivered", run.delivered);
    state
        .metrics
        .webhook_delivery("failed", run.failed_attempts);
    Ok(run)
}
