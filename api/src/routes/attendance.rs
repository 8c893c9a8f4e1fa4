use crate::ctx::Ctx;
use crate::versions::{self, Precondition, Resource, versioned};
use poem_openapi::{OpenApi, param::Path, payload::Json};
use uuid::Uuid;

use super::ApiTags;
use crate::{
    auth::{Action, ApiKey},
    domain::{
        attendance::{self, AttendanceInput, Register},
        sessions::Session,
    },
    error::ApiResult,
    state::AppState,
};

pub struct AttendanceApi;

#[OpenApi(prefix_path = "/sessions", tag = "ApiTags::Attendance")]
impl AttendanceApi {
    /// Read a session's register
    ///
    /// Coordinators and the session's facilitators. One row per booking that holds (or held) a
    /// place, with presence per sitting.
    #[oai(
        path = "/:id/attendance",
        method = "get",
        operation_id = "get_attendance"
    )]
    async fn get(
        &self,
        req: &poem::Request,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<poem_openapi::payload::Response<Json<Register>>> {
        auth.0.require(Action::KeepRegister)?;
        let version =
            versions::version(&*crate::auth::reads(req, &state), Resource::Session(id.0)).await?;
        Ok(versioned(
            attendance::register(&*crate::auth::reads(req, &state), &auth.0, id.0).await?,
            version,
        ))
    }

    /// Record attendance
    ///
    /// Coordinators and the session's facilitators mark confirmed bookings present or absent at
    /// sittings that have started. Marks may be sent in bulk and again: a later mark replaces an
    /// earlier one. All marks are checked before any is written.
    #[oai(
        path = "/:id/attendance",
        method = "put",
        operation_id = "record_attendance"
    )]
    async fn put(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
        body: Json<AttendanceInput>,
        precondition: Precondition,
    ) -> ApiResult<poem_openapi::payload::Response<Json<Register>>> {
        auth.0.require(Action::KeepRegister)?;
        let ctx = Ctx::request(&state, &auth.0).expecting(precondition);
        let (register, version) = attendance::record(&ctx, id.0, body.0).await?;
        Ok(versioned(register, version))
    }

    /// Complete a session
    ///
    /// After the last sitting has ended. Each confirmed booking becomes `attended` (present at the
    /// course's completion threshold of sittings; a completion record is made, and completing a
    /// champion course makes a champion), `partial` (some sittings) or `no_show` (none); anyone
    /// still waiting is cancelled with the reason `session_completed`.
    #[oai(
        path = "/:id/complete",
        method = "post",
        operation_id = "complete_session"
    )]
    async fn complete(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<Session>> {
        auth.0.require(Action::KeepRegister)?;
        Ok(Json(
            attendance::complete(&Ctx::request(&state, &auth.0), &state.config, id.0).await?,
        ))
    }
}
