use crate::ctx::Ctx;
use crate::versions::{self, Precondition, Resource, versioned};
use poem_openapi::{
    OpenApi,
    param::{Path, Query},
    payload::Json,
};
use uuid::Uuid;

use super::{ApiTags, Created, Page};
use crate::domain::webhook_targets::Targets;
use crate::{
    auth::ApiKey,
    domain::webhooks::{
        self, DeliveryStatus, DeliveryView, NewWebhook, WebhookChanges, WebhookView,
    },
    error::ApiResult,
    pagination::PageRequest,
    state::AppState,
};

pub struct WebhooksApi;

#[OpenApi(prefix_path = "/webhooks", tag = "ApiTags::Webhooks")]
impl WebhooksApi {
    /// List webhook subscriptions
    ///
    /// Partner keys see their organisation's subscriptions.
    #[oai(path = "/", method = "get", operation_id = "list_webhooks")]
    async fn list(
        &self,
        req: &poem::Request,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u64>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Json<Page<WebhookView>>> {
        let page = PageRequest::parse(limit.0, cursor.0.as_deref())?;
        Ok(Page::json(
            webhooks::list(&*crate::auth::reads(req, &state), &auth.0, page).await?,
        ))
    }

    /// Register a webhook
    ///
    /// Cascade `POST`s each event of the chosen types to `url` as JSON (the change feed's event),
    /// in feed order, from the moment of registration. Each request carries
    /// `Cascade-Signature: t=<unix seconds>,v1=<hex>`, where `hex` is the HMAC-SHA256, keyed with
    /// your secret, of the timestamp, a full stop and the raw body; check it, and refuse old
    /// timestamps. `Cascade-Event` names the type and `Cascade-Delivery` the delivery (the same
    /// on a retry). Answer 2xx within 10 seconds. Other answers are retried with exponential
    /// backoff (30 seconds, doubling, at most 6 hours apart) for 24 hours, holding back later
    /// events; `410 Gone` turns the subscription off. Partner keys receive their own
    /// organisation's events and every session change.
    #[oai(path = "/", method = "post", operation_id = "create_webhook")]
    async fn create(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        body: Json<NewWebhook>,
    ) -> ApiResult<Created<WebhookView>> {
        let targets = Targets::from_config(&state.config);
        let hook = webhooks::create(&Ctx::request(&state, &auth.0), &targets, body.0).await?;
        let location = format!("/api/v1/webhooks/{}", hook.id);
        Ok(Created::Created(Json(hook), location))
    }

    /// Get a webhook subscription
    ///
    /// Its URL, event types, organisation scope, whether it is active (and why it was disabled),
    /// and where it stands in the feed. The secret is never shown.
    #[oai(path = "/:id", method = "get", operation_id = "get_webhook")]
    async fn get(
        &self,
        req: &poem::Request,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<poem_openapi::payload::Response<Json<WebhookView>>> {
        let version =
            versions::version(&*crate::auth::reads(req, &state), Resource::Webhook(id.0)).await?;
        Ok(versioned(
            webhooks::get(&*crate::auth::reads(req, &state), &auth.0, id.0).await?,
            version,
        ))
    }

    /// Change a webhook subscription
    ///
    /// Change its URL, secret or event types, turn it off, or turn a disabled one back on
    /// (`active: true`); it resumes with the events it had not yet delivered.
    #[oai(path = "/:id", method = "patch", operation_id = "update_webhook")]
    async fn update(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
        body: Json<WebhookChanges>,
        precondition: Precondition,
    ) -> ApiResult<poem_openapi::payload::Response<Json<WebhookView>>> {
        let targets = Targets::from_config(&state.config);
        let ctx = Ctx::request(&state, &auth.0).expecting(precondition);
        let (hook, version) = webhooks::update(&ctx, &targets, id.0, body.0).await?;
        Ok(versioned(hook, version))
    }

    /// List a webhook's deliveries
    ///
    /// The delivery log: each event sent or to be sent, with its attempts, the receiver's last
    /// status and error.
    #[oai(
        path = "/:id/deliveries",
        method = "get",
        operation_id = "list_webhook_deliveries"
    )]
    async fn deliveries(
        &self,
        req: &poem::Request,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
        /// Only deliveries in this state.
        status: Query<Option<DeliveryStatus>>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u64>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Json<Page<DeliveryView>>> {
        let page = PageRequest::parse(limit.0, cursor.0.as_deref())?;
        Ok(Page::json(
            webhooks::list_deliveries(
                &*crate::auth::reads(req, &state),
                &auth.0,
                id.0,
                status.0,
                page,
            )
            .await?,
        ))
    }

    /// Send a delivery again
    ///
    /// It becomes pending with a fresh 24 hours of retries and is sent on the next run, in feed
    /// order.
    #[oai(
        path = "/:id/deliveries/:delivery_id/redeliver",
        method = "post",
        operation_id = "redeliver_webhook_delivery"
    )]
    async fn redeliver(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
        delivery_id: Path<Uuid>,
    ) -> ApiResult<Json<DeliveryView>> {
        let txn = Ctx::request(&state, &auth.0).begin().await?;
        let delivery =
            webhooks::redeliver(&txn, &auth.0, id.0, delivery_id.0, state.clock.now()).await?;
        txn.commit().await?;
        Ok(Json(delivery))
    }
}
