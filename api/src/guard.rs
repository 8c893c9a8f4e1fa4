//! The middleware every request passes through, outermost first: [`observe`] (request id,
//! access log, metrics), [`security_headers`], CORS when configured (in [`crate::app`]),
//! [`timeout`], [`limit_body`] and [`limit_public`].
//!
//! The access log names the route by its OpenAPI operation id, never the path or query: feed
//! paths carry tokens and filters can carry email addresses. Client addresses are personal data
//! and are logged only at debug level.

use std::time::{Duration, Instant};

use poem::{
    Endpoint, IntoResponse, Request, Response,
    http::{HeaderValue, Method, StatusCode, header},
};
use poem_openapi::OperationId;

use crate::{
    error::{FieldError, Problem, problem_response},
    ratelimit::client_address,
    state::AppState,
};

/// The largest request body accepted on most routes, in bytes (1 MiB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The largest staff-sync body, in bytes (16 MiB: 10,000 rows with every field filled).
pub const MAX_SYNC_BODY_BYTES: usize = 16 * 1024 * 1024;

/// The body limit of a route: staff sync takes whole batches, everything else 1 MiB.
pub fn body_limit(path: &str) -> usize {
    if path.starts_with("/api/v1/organisations/") && path.ends_with("/people/sync") {
        MAX_SYNC_BODY_BYTES
    } else {
        MAX_BODY_BYTES
    }
}

/// The route a response answered, for logs and metrics: the OpenAPI operation id, or a fixed
/// name for the few routes outside the document. Never the raw path (unbounded, and feed paths
/// carry tokens).
fn route_name(resp: &Response, path: &str) -> &'static str {
    if let Some(op) = resp.data::<OperationId>() {
        return op.0;
    }
    match path {
        "/healthz" => "healthz",
        "/readyz" => "readyz",
        "/metrics" => "metrics",
        "/api/v1/openapi.json" => "openapi",
        _ if path.starts_with("/docs") => "docs",
        _ if path.starts_with("/scim/v2/") => "scim",
        _ => "unmatched",
    }
}

/// Gives each request an id (echoed as `X-Request-Id`), logs one line per response at info
/// level without personal data, and counts it in the metrics.
pub async fn observe<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let state = req.data::<AppState>().cloned();
    let request_id = uuid::Uuid::now_v7().to_string();
    let request_id_for_check = request_id.clone();
    tracing::debug!(%request_id, client = %client_address(&req), "request");
    let clock = state.as_ref().map(|s| s.clock.clone()).unwrap_or_default();
    let writes = matches!(
        method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let mut resp = crate::audit::scope(clock, async move {
        let resp = next.call(req).await?.into_response();
        if writes && resp.status().is_success() && crate::audit::unrecorded() {
            tracing::error!(%request_id_for_check, "a write succeeded without an audit record");
            if cfg!(debug_assertions) {
                return Ok(problem_response(&Problem {
                    kind: "https://cascade.invalid/problems/internal".to_owned(),
                    title: "Internal Server Error".to_owned(),
                    status: 500,
                    detail: "The write succeeded but recorded no audit entry (debug builds \
                             refuse this so that no write path goes unaudited)."
                        .to_owned(),
                    errors: None,
                }));
            }
        }
        Ok::<_, poem::Error>(resp)
    })
    .await?;
    let route = route_name(&resp, &path);
    let status = resp.status().as_u16();
    let elapsed = started.elapsed();
    if let Some(state) = state {
        state
            .metrics
            .observe_request(route, status, elapsed.as_secs_f64());
    }
    tracing::info!(
        %request_id,
        %method,
        route,
        status,
        ms = elapsed.as_millis() as u64,
        "response"
    );
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-request-id", value);
    }
    Ok(resp)
}

/// Headers that keep browsers from sniffing, framing, caching or leaking the API's answers.
/// Swagger UI at `/docs` needs its own scripts and styles, so it gets a looser content policy.
pub async fn security_headers<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let docs = req.uri().path().starts_with("/docs");
    let https = req
        .data::<AppState>()
        .is_some_and(|s| s.config.public_url.starts_with("https://"));
    let mut resp = next.call(req).await?.into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(if docs {
            "frame-ancestors 'none'"
        } else {
            "default-src 'none'; frame-ancestors 'none'"
        }),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    Ok(resp)
}

/// Answers 503 when a request runs longer than the configured timeout. Dropping the handler
/// rolls back its open transaction, so a timed-out write leaves nothing behind — unless it had
/// already committed, which a retry with the same `Idempotency-Key` then finds.
pub async fn timeout<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let limit = req
        .data::<AppState>()
        .map_or(Duration::from_secs(30), |s| s.config.request_timeout);
    match tokio::time::timeout(limit, next.call(req)).await {
        Ok(result) => Ok(result?.into_response()),
        Err(_) => {
            let mut resp = problem_response(&Problem {
                kind: "https://cascade.invalid/problems/timeout".to_owned(),
                title: "Service Unavailable".to_owned(),
                status: StatusCode::SERVICE_UNAVAILABLE.as_u16(),
                detail: format!(
                    "The request took longer than {} seconds and was abandoned; nothing it \
                     started was kept. Try again later.",
                    limit.as_secs()
                ),
                errors: None,
            });
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            Ok(resp)
        }
    }
}

/// Refuses bodies over the route's limit ([`body_limit`]) with 413, whatever the method and
/// whether or not they declare their length.
pub async fn limit_body<E: Endpoint>(next: E, mut req: Request) -> poem::Result<Response> {
    let limit = body_limit(req.uri().path());
    let declared = req
        .header(header::CONTENT_LENGTH)
        .and_then(|v| v.parse::<usize>().ok());
    let reads_body = match declared {
        Some(len) if len > limit => return Ok(too_large(limit)),
        Some(len) => len > 0,
        None => !matches!(*req.method(), Method::GET | Method::HEAD),
    };
    let Some(state) = req.data::<AppState>().cloned().filter(|_| reads_body) else {
        return Ok(next.call(req).await?.into_response());
    };
    // Bodies held at once are bounded over all requests: a body takes its share of
    // `--max-body-memory` as it arrives (all of it at once when it declares its length) and
    // keeps it until answered; a body that does not fit is refused before more is read.
    let mut held = match declared {
        Some(len) => match reserve(&state, len) {
            Some(permit) => Some(permit),
            None => return Ok(busy()),
        },
        None => None,
    };
    let mut body = Vec::with_capacity(declared.unwrap_or(0));
    let mut stream = req.take_body().into_async_read();
    let mut chunk = vec![0_u8; 16 * 1024];
    loop {
        use tokio::io::AsyncReadExt;
        let n = stream.read(&mut chunk).await.map_err(|e| {
            poem::Error::from_string(
                format!("reading the request body: {e}"),
                StatusCode::BAD_REQUEST,
            )
        })?;
        if n == 0 {
            break;
        }
        if body.len() + n > limit {
            return Ok(too_large(limit));
        }
        if declared.is_none() {
            match reserve(&state, n) {
                Some(more) => match held.as_mut() {
                    Some(permit) => permit.merge(more),
                    None => held = Some(more),
                },
                None => return Ok(busy()),
            }
        }
        body.extend_from_slice(&chunk[..n]);
    }
    req.set_body(body);
    let resp = next.call(req).await?.into_response();
    drop(held);
    Ok(resp)
}

/// Takes `bytes` (rounded up to KiB) of the memory for bodies, or nothing if it is not free.
fn reserve(state: &AppState, bytes: usize) -> Option<tokio::sync::OwnedSemaphorePermit> {
    let kib = u32::try_from(bytes.div_ceil(1024).max(1)).unwrap_or(u32::MAX);
    state.body_budget.clone().try_acquire_many_owned(kib).ok()
}

fn too_large(limit: usize) -> Response {
    problem_response(&Problem {
        kind: "https://cascade.invalid/problems/payload-too-large".to_owned(),
        title: "Payload Too Large".to_owned(),
        status: StatusCode::PAYLOAD_TOO_LARGE.as_u16(),
        detail: format!("The request body is larger than this route's {limit}-byte limit."),
        errors: Some(vec![FieldError::new("body", "is too large")]),
    })
}

fn busy() -> Response {
    let mut resp = problem_response(&Problem {
        kind: "https://cascade.invalid/problems/busy".to_owned(),
        title: "Service Unavailable".to_owned(),
        status: StatusCode::SERVICE_UNAVAILABLE.as_u16(),
        detail: "The server holds as many request bodies as it may at once; the rest of this \
                 one was not read. Retry shortly."
            .to_owned(),
        errors: None,
    });
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    resp
}

/// Per-address limit on the endpoints that need no key and are not limited on their own:
/// calendar feeds (certificate verification has its own, stricter limit).
pub async fn limit_public<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    if req.uri().path().starts_with("/api/v1/feeds/")
        && let Some(state) = req.data::<AppState>()
        && let Err(wait) = state.public_limiter.check(&client_address(&req))
    {
        return Err(crate::error::ApiError::TooManyRequests(wait).into());
    }
    Ok(next.call(req).await?.into_response())
}
