use crate::ctx::Ctx;
use crate::versions::{self, Precondition, Resource, versioned};
use poem_openapi::{
    OpenApi,
    param::{Path, Query},
    payload::Json,
};
use uuid::Uuid;

use super::{ApiTags, Created, Page};
use crate::{
    auth::{Action, ApiKey},
    domain::{
        programme_years::{self, ProgrammeYear, ProgrammeYearInput},
        programmes::{self, NewProgramme, Programme, ProgrammeChanges},
        trainers::pipeline::{self, Pipeline, PipelineInput},
    },
    error::ApiResult,
    pagination::PageRequest,
    state::AppState,
};

pub struct ProgrammesApi;

#[OpenApi(prefix_path = "/programmes", tag = "ApiTags::Programmes")]
impl ProgrammesApi {
    /// List programmes
    ///
    /// The partnership's programmes (Five to Thrive, Contextual Safeguarding, MECC, Systems
    /// Leadership, …), oldest first, paginated.
    #[oai(path = "/", method = "get", operation_id = "list_programmes")]
    async fn list(
        &self,
        req: &poem::Request,
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
            programmes::list(&*crate::auth::reads(req, &state), active.0, page).await?,
        ))
    }

    /// Add a programme (coordinators and admins)
    ///
    /// A programme groups courses and carries its trainer pipeline and, per programme year, its
    /// targets and funding. Its `code` is unique (409 otherwise).
    #[oai(path = "/", method = "post", operation_id = "create_programme")]
    async fn create(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        body: Json<NewProgramme>,
    ) -> ApiResult<Created<Programme>> {
        auth.0.require(Action::ManageCatalogue)?;
        let txn = Ctx::request(&state, &auth.0).begin().await?;
        let programme = programmes::create(&txn, body.0, state.clock.now()).await?;
        txn.commit().await?;
        let location = format!("/api/v1/programmes/{}", programme.id);
        Ok(Created::Created(Json(programme), location))
    }

    /// Get a programme
    ///
    /// Its code, name, description and whether it is active.
    #[oai(path = "/:id", method = "get", operation_id = "get_programme")]
    async fn get(
        &self,
        req: &poem::Request,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<poem_openapi::payload::Response<Json<Programme>>> {
        auth.0.require(Action::ReadCatalogue)?;
        let version =
            versions::version(&*crate::auth::reads(req, &state), Resource::Programme(id.0)).await?;
        let programme: Programme = programmes::find(&*crate::auth::reads(req, &state), id.0)
            .await?
            .into();
        Ok(versioned(programme, version))
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
        precondition: Precondition,
    ) -> ApiResult<poem_openapi::payload::Response<Json<Programme>>> {
        auth.0.require(Action::ManageCatalogue)?;
        let txn = Ctx::request(&state, &auth.0).begin().await?;
        let resource = Resource::Programme(id.0);
        precondition.claim(&txn, resource).await?;
        let programme = programmes::update(&txn, id.0, body.0, state.clock.now()).await?;
        let version = versions::version(&txn, resource).await?;
        txn.commit().await?;
        Ok(versioned(programme, version))
    }

    /// List a programme's years and their targets
    ///
    /// Programme years are UK financial years (April–March), named by the year they start in.
    #[oai(
        path = "/:id/years",
        method = "get",
        operation_id = "list_programme_years"
    )]
    async fn list_years(
        &self,
        req: &poem::Request,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<Vec<ProgrammeYear>>> {
        auth.0.require(Action::ReadCatalogue)?;
        Ok(Json(
            programme_years::list(&*crate::auth::reads(req, &state), id.0).await?,
        ))
    }

    /// Get a programme year's targets
    ///
    /// The targets, charging tariff and licence fee set for the programme year that starts in April
    /// of `year`; 404 when none are set.
    #[oai(
        path = "/:id/years/:year",
        method = "get",
        operation_id = "get_programme_year"
    )]
    async fn get_year(
        &self,
        req: &poem::Request,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
        /// The year it starts in: 2026 is April 2026 to March 2027.
        year: Path<i32>,
    ) -> ApiResult<poem_openapi::payload::Response<Json<ProgrammeYear>>> {
        auth.0.require(Action::ReadCatalogue)?;
        let version = versions::version(
            &*crate::auth::reads(req, &state),
            Resource::ProgrammeYear(id.0, year.0),
        )
        .await?;
        Ok(versioned(
            programme_years::get(&*crate::auth::reads(req, &state), id.0, year.0).await?,
            version,
        ))
    }

    /// Set a programme year's targets (coordinators and admins)
    ///
    /// Replaces the year's targets; the trainer target caps accreditation.
    #[oai(
        path = "/:id/years/:year",
        method = "put",
        operation_id = "put_programme_year"
    )]
    async fn put_year(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
        /// The year it starts in: 2026 is April 2026 to March 2027.
        year: Path<i32>,
        body: Json<ProgrammeYearInput>,
        precondition: Precondition,
    ) -> ApiResult<poem_openapi::payload::Response<Json<ProgrammeYear>>> {
        auth.0.require(Action::ManageCatalogue)?;
        let ctx = Ctx::request(&state, &auth.0).expecting(precondition);
        let (year, version) = programme_years::put(&ctx, id.0, year.0, body.0).await?;
        Ok(versioned(year, version))
    }

    /// Get a programme's trainer pipeline
    ///
    /// The steps from champion to accredited trainer; programmes that have not set their own use
    /// the default (champion → nominated → trainer_course_completed → co_delivered → observed →
    /// accredited).
    #[oai(path = "/:id/pipeline", method = "get", operation_id = "get_pipeline")]
    async fn get_pipeline(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<poem_openapi::payload::Response<Json<Pipeline>>> {
        auth.0.require(Action::ReadCatalogue)?;
        let version = versions::version(&state.db, Resource::Programme(id.0)).await?;
        Ok(versioned(pipeline::get(&state.db, id.0).await?, version))
    }

    /// Set a programme's trainer pipeline (coordinators and admins)
    ///
    /// Replaces the ordered steps from champion to accredited trainer and which of them the data
    /// records automatically. Steps already recorded for people stay; a step that people hold
    /// cannot be removed (409).
    #[oai(path = "/:id/pipeline", method = "put", operation_id = "put_pipeline")]
    async fn put_pipeline(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
        body: Json<PipelineInput>,
        precondition: Precondition,
    ) -> ApiResult<poem_openapi::payload::Response<Json<Pipeline>>> {
        auth.0.require(Action::ManageCatalogue)?;
        let ctx = Ctx::request(&state, &auth.0).expecting(precondition);
        let (pipeline, version) = pipeline::put(&ctx, id.0, body.0).await?;
        Ok(versioned(pipeline, version))
    }
}
