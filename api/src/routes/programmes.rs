use poem_openapi::{
    OpenApi,
    param::{Path, Query},
    payload::Json,
};
use uuid::Uuid;

use super::{ApiTags, Created, Page};
use crate::{
    auth::{Action, ApiKey},
    domain::programmes::{self, NewProgramme, Programme, ProgrammeChanges},
    error::ApiResult,
    pagination::PageRequest,
    state::AppState,
};

pub struct ProgrammesApi;

#[OpenApi(prefix_path = "/programmes", tag = "ApiTags::Programmes")]
impl ProgrammesApi {
    /// List programmes
    #[oai(path = "/", method = "get", operation_id = "list_programmes")]
    async fn list(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        /// Only running (true) or only retired (false) programmes.
        active: Query<Option<bool>>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u64>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Json<Page<Programme>>> {
        auth.0.require(Action::ReadCatalogue)?;
        let page = PageRequest::parse(limit.0, cursor.0.as_deref())?;
        Ok(Page::json(
            programmes::list(&state.db, active.0, page).await?,
        ))
    }

    /// Add a programme (coordinators and admins)
    #[oai(path = "/", method = "post", operation_id = "create_programme")]
    async fn create(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        body: Json<NewProgramme>,
    ) -> ApiResult<Created<Programme>> {
        auth.0.require(Action::ManageCatalogue)?;
        let programme = programmes::create(&state.db, body.0).await?;
        let location = format!("/api/v1/programmes/{}", programme.id);
        Ok(Created::Created(Json(programme), location))
    }

    /// Get a programme
    #[oai(path = "/:id", method = "get", operation_id = "get_programme")]
    async fn get(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<Programme>> {
        auth.0.require(Action::ReadCatalogue)?;
        Ok(Json(programmes::find(&state.db, id.0).await?.into()))
    }

    /// Change or retire a programme (coordinators and admins)
    ///
    /// Send only the fields to change; `active: false` retires it.
    #[oai(path = "/:id", method = "patch", operation_id = "update_programme")]
    async fn update(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
        body: Json<ProgrammeChanges>,
    ) -> ApiResult<Json<Programme>> {
        auth.0.require(Action::ManageCatalogue)?;
        Ok(Json(programmes::update(&state.db, id.0, body.0).await?))
    }
}
