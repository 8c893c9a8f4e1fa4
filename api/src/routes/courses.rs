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
    domain::courses::{self, Course, CourseChanges, CourseFilter, CourseKindCode, NewCourse},
    error::ApiResult,
    pagination::PageRequest,
    state::AppState,
};

pub struct CoursesApi;

#[OpenApi(prefix_path = "/courses", tag = "ApiTags::Courses")]
impl CoursesApi {
    /// List courses
    ///
    /// Every role may read the catalogue. Filter by programme, kind, audience staff group and
    /// active flag.
    #[oai(path = "/", method = "get", operation_id = "list_courses")]
    async fn list(
        &self,
        req: &poem::Request,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        /// Only courses of this programme.
        programme_id: Query<Option<Uuid>>,
        /// Only courses of this kind.
        kind: Query<Option<CourseKindCode>>,
        /// Only courses meant for this staff group.
        audience_staff_group_id: Query<Option<Uuid>>,
        /// Only active (true) or only retired (false) courses.
        active: Query<Option<bool>>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u64>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Json<Page<Course>>> {
        auth.0.require(Action::ReadCatalogue)?;
        let page = PageRequest::parse(limit.0, cursor.0.as_deref())?;
        let filter = CourseFilter {
            programme_id: programme_id.0,
            kind: kind.0.map(Into::into),
            audience_staff_group_id: audience_staff_group_id.0,
            active: active.0,
        };
        Ok(Page::json(
            courses::list(&*crate::auth::reads(req, &state), filter, page).await?,
        ))
    }

    /// Add a course (coordinators and admins)
    ///
    /// The programme, audience staff groups and prerequisite courses must exist; a prerequisite
    /// may not lead back to the course itself.
    #[oai(path = "/", method = "post", operation_id = "create_course")]
    async fn create(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        body: Json<NewCourse>,
    ) -> ApiResult<Created<Course>> {
        auth.0.require(Action::ManageCatalogue)?;
        let course = courses::create(&Ctx::request(&state, &auth.0), body.0).await?;
        let location = format!("/api/v1/courses/{}", course.id);
        Ok(Created::Created(Json(course), location))
    }

    /// Get a course
    ///
    /// Its programme, kind, duration and CPD hours, default capacity, audience, prerequisites,
    /// certificate validity, reserved-place policy and per-organisation cap.
    #[oai(path = "/:id", method = "get", operation_id = "get_course")]
    async fn get(
        &self,
        req: &poem::Request,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<poem_openapi::payload::Response<Json<Course>>> {
        auth.0.require(Action::ReadCatalogue)?;
        let version =
            versions::version(&*crate::auth::reads(req, &state), Resource::Course(id.0)).await?;
        Ok(versioned(
            courses::get(&*crate::auth::reads(req, &state), id.0).await?,
            version,
        ))
    }

    /// Change or retire a course (coordinators and admins)
    ///
    /// Send only the fields to change. `null` clears an optional setting (certificate validity,
    /// reserved places, per-organisation cap); a list replaces the current one; `active: false`
    /// retires the course.
    #[oai(path = "/:id", method = "patch", operation_id = "update_course")]
    async fn update(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
        body: Json<CourseChanges>,
        precondition: Precondition,
    ) -> ApiResult<poem_openapi::payload::Response<Json<Course>>> {
        auth.0.require(Action::ManageCatalogue)?;
        let ctx = Ctx::request(&state, &auth.0).expecting(precondition);
        let (course, version) = courses::update(&ctx, id.0, body.0).await?;
        Ok(versioned(course, version))
    }
}
