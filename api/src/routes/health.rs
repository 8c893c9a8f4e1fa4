//! Liveness and readiness probes for load balancers and orchestrators (outside the versioned API).

use poem::{IntoResponse, handler, http::StatusCode, web::Data};
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
                kind: "https://cascade.invalid/problems/not-ready".to_owned(),
                title: "Service Unavailable".to_owned(),
                status: StatusCode::SERVICE_UNAVAILABLE.as_u16(),
                detail: "The database is not reachable.".to_owned(),
                errors: None,
            };
            crate::error::problem_response(&problem)
        }
    }
}
