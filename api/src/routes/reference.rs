//! `/localities` and `/staff-groups`: the same operations over two lists.

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
    domain::reference::{self, NewReferenceItem, ReferenceItem, ReferenceItemChanges},
    error::ApiResult,
    pagination::PageRequest,
    state::AppState,
};

macro_rules! reference_api {
    (
        $api:ident, $path:literal, $entity:ty, $resource:path,
        list: $list_id:literal, $list_doc:literal,
        create: $create_id:literal, $create_doc:literal,
        get: $get_id:literal, $get_doc:literal,
        update: $update_id:literal, $update_doc:literal $(,)?
    ) => {
        pub struct $api;

        #[OpenApi(prefix_path = $path, tag = "ApiTags::ReferenceLists")]
        impl $api {
            #[doc = $list_doc]
            #[oai(path = "/", method = "get", operation_id = $list_id)]
            async fn list(
                &self,
                req: &poem::Request,
                auth: ApiKey,
                state: poem::web::Data<&AppState>,
                /// Only entries in use (true) or only retired ones (false).
                active: Query<Option<bool>>,
                /// Page size, 1–200 (default 50).
                limit: Query<Option<u64>>,
                /// The `next_cursor` of the previous page.
                cursor: Query<Option<String>>,
            ) -> ApiResult<Json<Page<ReferenceItem>>> {
                auth.0.require(Action::ReadCatalogue)?;
                let page = PageRequest::parse(limit.0, cursor.0.as_deref())?;
                Ok(Page::json(
                    reference::list::<$entity>(&*crate::auth::reads(req, &state), active.0, page)
                        .await?,
                ))
            }

            #[doc = $create_doc]
            #[oai(path = "/", method = "post", operation_id = $create_id)]
            async fn create(
                &self,
                auth: ApiKey,
                state: poem::web::Data<&AppState>,
                body: Json<NewReferenceItem>,
            ) -> ApiResult<Created<ReferenceItem>> {
                auth.0.require(Action::ManageCatalogue)?;
                let txn = Ctx::request(&state, &auth.0).begin().await?;
                let item = reference::create::<$entity>(&txn, body.0, state.clock.now()).await?;
                txn.commit().await?;
                let location = format!("/api/v1{}/{}", $path, item.id);
                Ok(Created::Created(Json(item), location))
            }

            #[doc = $get_doc]
            #[oai(path = "/:id", method = "get", operation_id = $get_id)]
            async fn get(
                &self,
                req: &poem::Request,
                auth: ApiKey,
                state: poem::web::Data<&AppState>,
                id: Path<Uuid>,
            ) -> ApiResult<poem_openapi::payload::Response<Json<ReferenceItem>>> {
                auth.0.require(Action::ReadCatalogue)?;
                let version =
                    versions::version(&*crate::auth::reads(req, &state), $resource(id.0)).await?;
                Ok(versioned(
                    reference::get::<$entity>(&*crate::auth::reads(req, &state), id.0).await?,
                    version,
                ))
            }

            #[doc = $update_doc]
            #[oai(path = "/:id", method = "patch", operation_id = $update_id)]
            async fn update(
                &self,
                auth: ApiKey,
                state: poem::web::Data<&AppState>,
                id: Path<Uuid>,
                body: Json<ReferenceItemChanges>,
                precondition: Precondition,
            ) -> ApiResult<poem_openapi::payload::Response<Json<ReferenceItem>>> {
                auth.0.require(Action::ManageCatalogue)?;
                let txn = Ctx::request(&state, &auth.0).begin().await?;
                precondition.claim(&txn, $resource(id.0)).await?;
                let item =
                    reference::update::<$entity>(&txn, id.0, body.0, state.clock.now()).await?;
                let version = versions::version(&txn, $resource(id.0)).await?;
                txn.commit().await?;
                Ok(versioned(item, version))
            }
        }
    };
}

reference_api!(
    LocalitiesApi, "/localities", entities::localities::Entity, Resource::Locality,
    list: "list_localities", "List localities (community areas such as Calne or Warminster)\n\nThe partnership's community areas, for people's locality and reach by locality. Retired entries are listed with `active: false`; filter with `active`.",
    create: "create_locality", "Add a locality (coordinators and admins)\n\nThe name must be unique in the list (409 otherwise). People and headcounts then name it by id.",
    get: "get_locality", "Get a locality\n\nOne entry of the localities list, active or retired.",
    update: "update_locality", "Rename or retire a locality (coordinators and admins)\n\nSend the fields to change. A retired locality (`active: false`) stays on the records that use it but can no longer be chosen for new ones.",
);

reference_api!(
    StaffGroupsApi, "/staff-groups", entities::staff_groups::Entity, Resource::StaffGroup,
    list: "list_staff_groups", "List staff groups (early years, health visiting, police, …)\n\nThe partnership's staff groups, for people, course audiences and reach by staff group. Retired entries are listed with `active: false`; filter with `active`.",
    create: "create_staff_group", "Add a staff group (coordinators and admins)\n\nThe name must be unique in the list (409 otherwise). People, audiences and headcounts then name it by id.",
    get: "get_staff_group", "Get a staff group\n\nOne entry of the staff groups list, active or retired.",
    update: "update_staff_group", "Rename or retire a staff group (coordinators and admins)\n\nSend the fields to change. A retired staff group (`active: false`) stays on the records that use it but can no longer be chosen for new ones.",
);
