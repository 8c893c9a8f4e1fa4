//! Delivering events to webhooks: the worker every replica runs, which leases a subscription,
//! queues its new events in order, signs and sends them, retries with backoff and logs each try.

use super::*;

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
pub(super) async fn claim(
    db: &impl ConnectionTrait,
    id: Uuid,
    now: DateTime<Utc>,
) -> ApiResult<bool> {
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
pub(super) async fn serve_one(
    ctx: &Ctx,
    targets: &Targets,
    client: &reqwest::Client,
    id: Uuid,
    now: DateTime<Utc>,
    run: &mut Run,
) -> ApiResult<()> {
    let db = &ctx.db;
    let Some(hook) = webhooks::Entity::find_by_id(id).first(db).await? else {
        return Ok(());
    };
    let types: Vec<String> = serde_json::from_str(&hook.event_types).unwrap_or_default();
    let kinds: Vec<&str> = types.iter().map(String::as_str).collect();
    let new = crate::db::limited(
        db,
        visible_after(
            db.get_database_backend(),
            hook.organisation_id,
            Some((hook.after_tx_id, hook.after_id)),
            &kinds,
        ),
        BATCH,
    )
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
            .first(db)
            .await?
        else {
            break;
        };
        if next.next_attempt_at > now {
            break; // later events wait for it, so the receiver sees them in order
        }
        let Some(event) = events::Entity::find_by_id(next.event_id).first(db).await? else {
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
pub(super) type Outcome = Result<u16, String>;

/// The value of [`SIGNATURE_HEADER`] for a body sent at `timestamp` (Unix seconds).
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let hex = crate::digest::hmac_sha256_hex(
        secret.as_bytes(),
        &[format!("{timestamp}.").as_bytes(), body],
    );
    format!("t={timestamp},v1={hex}")
}

pub(super) async fn send(
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
pub(super) fn backoff(attempts: i32) -> Duration {
    let doublings = u32::try_from(attempts.clamp(1, 20) - 1).unwrap_or(0);
    Duration::seconds((30_i64 << doublings).min(6 * 3600))
}

/// Records an attempt. Returns whether the next delivery may be sent now.
pub(super) async fn record(
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
    let targets = crate::domain::webhook_targets::Targets::from_config(&state.config);
    let run = deliver_due(&Ctx::system(&state.db, &state.clock), &targets).await?;
    state.metrics.webhook_delivery("delivered", run.delivered);
    state
        .metrics
        .webhook_delivery("failed", run.failed_attempts);
    Ok(run)
}
