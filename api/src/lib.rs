//! Cascade: the workforce-training and champions-cascade service of a multi-agency children's
//! partnership. [`app`] builds the whole HTTP application; `main.rs` only parses the command line.

pub mod auth;
pub mod bench;
pub mod clock;
pub mod conditional;
pub mod config;
pub mod db;
pub mod demo;
pub mod domain;
pub mod error;
pub mod idempotency;
pub mod pagination;
pub mod ratelimit;
pub mod render;
pub mod routes;
pub mod state;

use poem::{
    Endpoint, EndpointExt, IntoEndpoint, IntoResponse, Request, Response, Route, get,
    http::{Method, StatusCode},
    middleware::Tracing,
};
use poem_openapi::OpenApiService;

use crate::{
    error::{FieldError, Problem, problem_catcher, problem_response},
    routes::{
        api_keys::ApiKeysApi,
        attendance::AttendanceApi,
        bookings::BookingsApi,
        calendars::CalendarsApi,
        cascades::CascadesApi,
        certificates::{CertificatesApi, VerifyApi},
        champions::ChampionsApi,
        completions::CompletionsApi,
        courses::CoursesApi,
        events::EventsApi,
        funding::FundingApi,
        health,
        organisations::OrganisationsApi,
        people::{PeopleApi, StaffSyncApi},
        programmes::ProgrammesApi,
        reference::{LocalitiesApi, StaffGroupsApi},
        reports::ReportsApi,
        sessions::SessionsApi,
        trainers::TrainersApi,
        webhooks::WebhooksApi,
    },
    state::AppState,
};

/// The largest request body accepted, in bytes (1 MiB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The OpenAPI root: every resource's operations, composed. Its document is committed at
/// `openapi/openapi.json`.
pub fn api_service() -> OpenApiService<impl poem_openapi::OpenApi, ()> {
    OpenApiService::new(
        (
            (
                OrganisationsApi,
                PeopleApi,
                StaffSyncApi,
                LocalitiesApi,
                StaffGroupsApi,
                ProgrammesApi,
                CoursesApi,
            ),
            (
                SessionsApi,
                BookingsApi,
                AttendanceApi,
                CompletionsApi,
                ChampionsApi,
                TrainersApi,
                CascadesApi,
            ),
            (
                CertificatesApi,
                VerifyApi,
                CalendarsApi,
                FundingApi,
                ReportsApi,
                ApiKeysApi,
                EventsApi,
                WebhooksApi,
            ),
        ),
        "Cascade",
        env!("CARGO_PKG_VERSION"),
    )
    .summary("Workforce training and champions cascade for a children's partnership")
    .description(include_str!("openapi_description.md"))
    .server("/api/v1")
}

/// The OpenAPI document as committed and served.
pub fn openapi_json() -> String {
    let mut spec = api_service().spec();
    spec.push('\n');
    spec
}

/// The whole HTTP application: the versioned API, its document and docs, and health probes,
/// with every error answered as problem+json.
pub fn app(state: AppState) -> impl Endpoint<Output = Response> {
    let api = api_service();
    let docs = api.swagger_ui();
    let spec = openapi_json();
    Route::new()
        .at(
            "/api/v1/openapi.json",
            get(poem::endpoint::make_sync(move |_| {
                Response::builder()
                    .content_type("application/json; charset=utf-8")
                    .body(spec.clone())
            })),
        )
        .nest("/api/v1", api)
        .nest("/docs", docs)
        .nest("/scim/v2", routes::scim::routes())
        .at("/healthz", get(health::healthz))
        .at("/readyz", get(health::readyz))
        .around(conditional::conditional)
        .around(idempotency::idempotency)
        .data(state)
        .around(limit_body)
        .around(problem_catcher)
        .with(Tracing)
        .into_endpoint()
        .map_to_response()
}

/// Refuses bodies over [`MAX_BODY_BYTES`] with 413, whether or not they declare their length.
async fn limit_body<E: Endpoint>(next: E, mut req: Request) -> poem::Result<Response> {
    if matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH) {
        let declared = req
            .header("content-length")
            .and_then(|v| v.parse::<usize>().ok());
        let too_large = match declared {
            Some(len) if len > MAX_BODY_BYTES => true,
            _ => match req.take_body().into_bytes_limit(MAX_BODY_BYTES).await {
                Ok(bytes) => {
                    req.set_body(bytes);
                    false
                }
                Err(_) => true,
            },
        };
        if too_large {
            return Ok(problem_response(&Problem {
                kind: "https://cascade.invalid/problems/payload-too-large".to_owned(),
                title: "Payload Too Large".to_owned(),
                status: StatusCode::PAYLOAD_TOO_LARGE.as_u16(),
                detail: format!("The request body is larger than the {MAX_BODY_BYTES}-byte limit."),
                errors: Some(vec![FieldError::new("body", "is too large")]),
            }));
        }
    }
    Ok(next.call(req).await?.into_response())
}
