//! Liveness and readiness probes for load balancers and orchestrators, and Prometheus metrics
//! (outside the versioned API).

use crate::problem::ProblemKind;
use poem::{IntoResponse, handler, web::Data};
use serde_json::json;

use crate::state::AppState;

/// 200 while the process is up.
#[handler]
pub async fn healthz() -> impl IntoResponse {
    poem::web::Json(json!({ "status": "ok" }))
}

/// 200 when the database answers, 503 otherwise.
#[handler]
pub async fn readyz(Data(state): Data<&AppState>) -> poem::Response {
    match state.db.ping().await {
        Ok(()) => poem::web::Json(json!({ "status": "ready" })).into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            let problem = crate::error::Problem {
                kind: ProblemKind::NotReady.url(),
                title: ProblemKind::NotReady.title(),
                status: ProblemKind::NotReady.status().as_u16(),
                detail: "The database is not reachable.".to_owned(),
                errors: None,
            };
            crate::error::problem_response(&problem)
        }
    }
}

/// Prometheus metrics in the text exposition format. Needs an admin key (Prometheus sends it
/// with `authorization: { credentials_file: … }`): the figures describe the whole service.
#[handler]
pub async fn metrics(
    req: &poem::Request,
    Data(state): Data<&AppState>,
) -> poem::Result<poem::Response> {
    let token = req
        .header(poem::http::header::AUTHORIZATION)
        .and_then(|h| h.strip_prefix("Bearer "))
        .ok_or_else(|| {
            crate::error::ApiError::Unauthorized(
                "Send an admin API key: Authorization: Bearer <key>.".to_owned(),
            )
        })?;
    let principal = crate::auth::authenticate(state, req, token).await?;
    principal.require(crate::auth::Action::ReadMetrics)?;
    Ok(poem::Response::builder()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render(&state.db)))
}
