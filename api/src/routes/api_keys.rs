use crate::ctx::Ctx;
use crate::problem::ProblemKind;
use poem_openapi::{
    OpenApi,
    param::{Path, Query},
    payload::Json,
};
use uuid::Uuid;

use super::{ApiTags, Created, Page};
use crate::{
    auth::{Action, ApiKey},
    domain::api_keys::{self, ApiKeyView, CreatedApiKey, KeyFilter, KeyRole, NewApiKey},
    error::ApiResult,
    pagination::PageRequest,
    state::AppState,
};

pub struct ApiKeysApi;

#[OpenApi(prefix_path = "/api-keys", tag = "ApiTags::ApiKeys")]
impl ApiKeysApi {
    /// List API keys (admin only)
    ///
    /// Secrets are never shown again; `prefix` identifies a key.
    #[oai(path = "/", method = "get", operation_id = "list_api_keys")]
    async fn list(
        &self,
        req: &poem::Request,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        /// Only keys of this role.
        role: Query<Option<KeyRole>>,
        /// Only revoked (true) or only live (false) keys.
        revoked: Query<Option<bool>>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u64>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Json<Page<ApiKeyView>>> {
        auth.0.require(Action::ManageKeys)?;
        let page = PageRequest::parse(limit.0, cursor.0.as_deref())?;
        let filter = KeyFilter {
            role: role.0.map(Into::into),
            revoked: revoked.0,
        };
        Ok(Page::json(
            api_keys::list(&*crate::auth::reads(req, &state), filter, page).await?,
        ))
    }

    /// Create an API key (admin only)
    ///
    /// The response carries the secret once; store it then. Partner keys need
    /// `organisation_id`; trainer and learner keys need `person_id`.
    #[oai(path = "/", method = "post", operation_id = "create_api_key")]
    async fn create(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        body: Json<NewApiKey>,
    ) -> ApiResult<Created<CreatedApiKey>> {
        auth.0.require(Action::ManageKeys)?;
        let txn = Ctx::request(&state, &auth.0).begin().await?;
        let key = api_keys::create(&txn, body.0, state.clock.now()).await?;
        txn.commit().await?;
        let location = format!("/api/v1/api-keys/{}", key.key.id);
        Ok(Created::Created(Json(key), location))
    }

    /// Get an API key (admin only)
    ///
    /// Its name, role, binding (organisation or person), prefix, when it was created and last used,
    /// and whether it is revoked. The secret is never shown again.
    #[oai(path = "/:id", method = "get", operation_id = "get_api_key")]
    async fn get(
        &self,
        req: &poem::Request,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<ApiKeyView>> {
        auth.0.require(Action::ManageKeys)?;
        Ok(Json(
            api_keys::get(&*crate::auth::reads(req, &state), id.0).await?,
        ))
    }

    /// Revoke an API key (admin only)
    ///
    /// The key is refused from now on. Revoking a revoked key changes nothing.
    #[oai(path = "/:id/revoke", method = "post", operation_id = "revoke_api_key")]
    async fn revoke(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<ApiKeyView>> {
        auth.0.require(Action::ManageKeys)?;
        if id.0 == auth.0.key_id {
            return Err(crate::error::ApiError::Rule {
                kind: ProblemKind::OwnKey,
                detail: "A key cannot revoke itself: revoke it with another admin key or \
                         `cascade keys revoke`."
                    .into(),
            });
        }
        let txn = Ctx::request(&state, &auth.0).begin().await?;
        let key = api_keys::revoke(&txn, id.0, state.clock.now()).await?;
        txn.commit().await?;
        Ok(Json(key))
    }
}
