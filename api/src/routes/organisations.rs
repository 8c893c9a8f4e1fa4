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
    domain::organisations::{
        self, NewOrganisation, Organisation, OrganisationChanges, OrganisationFilter, SectorCode,
    },
    error::ApiResult,
    pagination::PageRequest,
    state::AppState,
};

pub struct OrganisationsApi;

#[OpenApi(prefix_path = "/organisations", tag = "ApiTags::Organisations")]
impl OrganisationsApi {
    /// List partner organisations
    ///
    /// Every role may read the partner list. Filter by sector, funding partner and active flag.
    #[oai(path = "/", method = "get", operation_id = "list_organisations")]
    async fn list(
        &self,
        req: &poem::Request,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        /// Only organisations of this sector.
        sector: Query<Option<SectorCode>>,
        /// Only funding partners (true) or only non-funding ones (false).
        funding_partner: Query<Option<bool>>,
        /// Only active (true) or only deactivated (false) organisations.
        active: Query<Option<bool>>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u64>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Json<Page<Organisation>>> {
        auth.0.require(Action::ReadCatalogue)?;
        let page = PageRequest::parse(limit.0, cursor.0.as_deref())?;
        let filter = OrganisationFilter {
            sector: sector.0.map(Into::into),
            funding_partner: funding_partner.0,
            active: active.0,
        };
        Ok(Page::json(
            organisations::list(&*crate::auth::reads(req, &state), filter, page).await?,
        ))
    }

    /// Add a partner organisation
    ///
    /// Coordinators and admins. The name must be unique in the partnership.
    #[oai(path = "/", method = "post", operation_id = "create_organisation")]
    async fn create(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        body: Json<NewOrganisation>,
    ) -> ApiResult<Created<Organisation>> {
        auth.0.require(Action::ManageCatalogue)?;
        let txn = Ctx::request(&state, &auth.0).begin().await?;
        let org = organisations::create(&txn, body.0, state.clock.now()).await?;
        txn.commit().await?;
        let location = format!("/api/v1/organisations/{}", org.id);
        Ok(Created::Created(Json(org), location))
    }

    /// Get a partner organisation
    ///
    /// Its name, sector, whether it is a funding partner, and whether it is active. Every key may
    /// read the partnership's organisations.
    #[oai(path = "/:id", method = "get", operation_id = "get_organisation")]
    async fn get(
        &self,
        req: &poem::Request,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<poem_openapi::payload::Response<Json<Organisation>>> {
        auth.0.require(Action::ReadCatalogue)?;
        let version = versions::version(
            &*crate::auth::reads(req, &state),
            Resource::Organisation(id.0),
        )
        .await?;
        Ok(versioned(
            organisations::get(&*crate::auth::reads(req, &state), id.0).await?,
            version,
        ))
    }

    /// Change or deactivate a partner organisation
    ///
    /// Coordinators and admins. Send only the fields to change; `active: false` deactivates it
    /// (organisations are never deleted, so their history stays).
    #[oai(path = "/:id", method = "patch", operation_id = "update_organisation")]
    async fn update(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
        body: Json<OrganisationChanges>,
        precondition: Precondition,
    ) -> ApiResult<poem_openapi::payload::Response<Json<Organisation>>> {
        auth.0.require(Action::ManageCatalogue)?;
        let txn = Ctx::request(&state, &auth.0).begin().await?;
        let resource = Resource::Organisation(id.0);
        precondition.claim(&txn, resource).await?;
        let org = organisations::update(&txn, id.0, body.0, state.clock.now()).await?;
        let version = versions::version(&txn, resource).await?;
        txn.commit().await?;
        Ok(versioned(org, version))
    }
}
