use crate::ctx::Ctx;
use crate::versions::{self, Precondition, Resource, versioned};
use chrono::NaiveDate;
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};
use uuid::Uuid;

use super::{ApiTags, Created, Page};
use crate::{
    auth::{Action, ApiKey},
    domain::cascades::{self, CascadeFilter, CascadeSession, CascadeSessionInput},
    error::ApiResult,
    pagination::PageRequest,
    state::AppState,
};

pub struct CascadesApi;

/// The answer to a delete.
#[derive(ApiResponse)]
pub enum Deleted {
    /// Deleted.
    #[oai(status = 204)]
    Deleted,
}

#[OpenApi(prefix_path = "/cascade-sessions", tag = "ApiTags::CascadeSessions")]
impl CascadesApi {
    /// List cascade sessions
    ///
    /// Coordinators see all; a trainer the sessions they led or co-delivered.
    #[oai(path = "/", method = "get", operation_id = "list_cascade_sessions")]
    async fn list(
        &self,
        req: &poem::Request,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        /// Only sessions of this programme.
        programme_id: Query<Option<Uuid>>,
        /// Only sessions this person led or co-delivered.
        trainer_id: Query<Option<Uuid>>,
        /// Only sessions delivered in this locality.
        locality_id: Query<Option<Uuid>>,
        /// Only sessions delivered on or after this date.
        from: Query<Option<NaiveDate>>,
        /// Only sessions delivered on or before this date.
        to: Query<Option<NaiveDate>>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u64>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Json<Page<CascadeSession>>> {
        auth.0.require(Action::Cascades)?;
        let page = PageRequest::parse(limit.0, cursor.0.as_deref())?;
        let filter = CascadeFilter {
            programme_id: programme_id.0,
            trainer_id: trainer_id.0,
            locality_id: locality_id.0,
            from: from.0,
            to: to.0,
        };
        Ok(Page::json(
            cascades::list(&*crate::auth::reads(req, &state), &auth.0, filter, page).await?,
        ))
    }

    /// Record a cascade session
    ///
    /// Delivered by an accredited, active trainer, or co-delivered by a trainer in progression
    /// with one (`trainer-not-eligible` otherwise). Attendance is named (each person gets a
    /// completion record), a headcount by organisation and staff group, or both. Co-deliveries
    /// move the co-trainer along the pipeline automatically.
    #[oai(path = "/", method = "post", operation_id = "create_cascade_session")]
    async fn create(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        /// Any unique string: a retry with the same key and body returns the first answer.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
        body: Json<CascadeSessionInput>,
    ) -> ApiResult<Created<CascadeSession>> {
        auth.0.require(Action::Cascades)?;
        let session =
            cascades::create(&Ctx::request(&state, &auth.0), &state.config, body.0).await?;
        let location = format!("/api/v1/cascade-sessions/{}", session.id);
        Ok(Created::Created(Json(session), location))
    }

    /// Get a cascade session
    ///
    /// Its lead and co-delivering trainers, course, date, mode, named attendees and headcounts by
    /// organisation, staff group and locality. Trainers read the sessions they delivered.
    #[oai(path = "/:id", method = "get", operation_id = "get_cascade_session")]
    async fn get(
        &self,
        req: &poem::Request,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<poem_openapi::payload::Response<Json<CascadeSession>>> {
        auth.0.require(Action::Cascades)?;
        let version = versions::version(
            &*crate::auth::reads(req, &state),
            Resource::CascadeSession(id.0),
        )
        .await?;
        Ok(versioned(
            cascades::get(&*crate::auth::reads(req, &state), &auth.0, id.0).await?,
            version,
        ))
    }

    /// Correct a cascade session
    ///
    /// Replaces its content, within 30 days of recording (`correction-window-closed` after).
    #[oai(path = "/:id", method = "put", operation_id = "update_cascade_session")]
    async fn update(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
        body: Json<CascadeSessionInput>,
        precondition: Precondition,
    ) -> ApiResult<poem_openapi::payload::Response<Json<CascadeSession>>> {
        auth.0.require(Action::Cascades)?;
        let ctx = Ctx::request(&state, &auth.0).expecting(precondition);
        let (session, version) = cascades::update(&ctx, &state.config, id.0, body.0).await?;
        Ok(versioned(session, version))
    }

    /// Delete a cascade session
    ///
    /// Within 30 days of recording; removes the completions it gave.
    #[oai(
        path = "/:id",
        method = "delete",
        operation_id = "delete_cascade_session"
    )]
    async fn delete(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<Deleted> {
        auth.0.require(Action::Cascades)?;
        cascades::delete(&Ctx::request(&state, &auth.0), id.0).await?;
        Ok(Deleted::Deleted)
    }
}
