//! The middleware every request passes through, outermost first: [`observe`] (request id,
//! access log, metrics), [`security_headers`], CORS when configured (in [`crate::app`]),
//! [`timeout`], [`limit_body`] and [`limit_public`].
//!
//! The access log names the route by its OpenAPI operation id, never the path or query: feed
//! paths carry tokens and filters can carry email addresses. Client addresses are personal data
//! and are logged only at debug level.

use crate::problem::ProblemKind;
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
fn route_name(resp: &Response, path: &str, scim: bool) -> &'static str {
    if let Some(op) = resp.data::<OperationId>() {
        return op.0;
    }
    match path {
        "/healthz" => "healthz",
        "/readyz" => "readyz",
        "/metrics" => "metrics",
        "/api/v1/openapi.json" => "openapi",
        _ if path.starts_with("/docs") => "docs",
        "/assets/cascade.css" => "stylesheet",
        _ if path.starts_with("/verify/") => "verify_page",
        _ if path.starts_with("/sign-in") || path == "/sign-out" => "sign_in_pages",
        _ if path.starts_with("/my") => "my_training_pages",
        _ if path.starts_with("/console") => "console_pages",
        _ if path.starts_with("/unsubscribe/") => "unsubscribe_page",
        _ if scim => "scim",
        _ => "unmatched",
    }
}

/// Marks a request the service makes of itself (the demo loader): logged at debug level only.
#[derive(Debug, Clone, Copy)]
pub struct InProcess;

/// Gives each request an id (echoed as `X-Request-Id`), logs one line per response at info
/// level without personal data (debug for [`InProcess`] requests), and counts it in the metrics.
pub async fn observe<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let started = Instant::now();
    let quiet = req.extensions().get::<InProcess>().is_some();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let scim = crate::scim_error::ErrorFormat::of(&req) == crate::scim_error::ErrorFormat::Scim;
    let state = req.data::<AppState>().cloned();
    let request_id = uuid::Uuid::now_v7().to_string();
    let request_id_for_check = request_id.clone();
    if tracing::enabled!(tracing::Level::DEBUG) {
        let trusted = state
            .as_ref()
            .map(|s| s.config.trusted_proxies.as_slice())
            .unwrap_or_default();
        tracing::debug!(%request_id, client = %client_address(&req, trusted), "request");
    }
    let writes = matches!(
        method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let mut resp = crate::audit::scope(async move {
        let resp = next.call(req).await?.into_response();
        if writes && resp.status().is_success() && crate::audit::unrecorded() {
            tracing::error!(%request_id_for_check, "a write succeeded without an audit record");
            if cfg!(debug_assertions) {
                return Ok(problem_response(&Problem {
                    kind: ProblemKind::Internal.url(),
                    title: ProblemKind::Internal.title(),
                    status: ProblemKind::Internal.status().as_u16(),
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
    let route = route_name(&resp, &path, scim);
    let status = resp.status().as_u16();
    let elapsed = started.elapsed();
    if let Some(state) = state {
        state
            .metrics
            .observe_request(route, status, elapsed.as_secs_f64());
    }
    if quiet {
        tracing::debug!(%request_id, %method, route, status, "response (in process)");
    } else {
        tracing::info!(
            %request_id,
            %method,
            route,
            status,
            ms = elapsed.as_millis() as u64,
            "response"
        );
    }
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
    // Pages load only the project's own stylesheet; everything else stays as locked down as
    // the API.
    let page = !docs
        && resp
            .content_type()
            .is_some_and(|ct| ct.starts_with("text/html"));
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
        } else if page {
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             base-uri 'none'; frame-ancestors 'none'"
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
    match tokio::time::timeout(limit, Box::pin(next.call(req))).await {
        Ok(result) => Ok(result?.into_response()),
        Err(_) => {
            let mut resp = problem_response(&Problem {
                kind: ProblemKind::Timeout.url(),
                title: ProblemKind::Timeout.title(),
                status: ProblemKind::Timeout.status().as_u16(),
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
        return Ok(Box::pin(next.call(req)).await?.into_response());
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
    let resp = Box::pin(next.call(req)).await?.into_response();
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
        kind: ProblemKind::PayloadTooLarge.url(),
        title: ProblemKind::PayloadTooLarge.title(),
        status: ProblemKind::PayloadTooLarge.status().as_u16(),
        detail: format!("The request body is larger than this route's {limit}-byte limit."),
        errors: Some(vec![FieldError::new("body", "is too large")]),
    })
}

fn busy() -> Response {
    let mut resp = problem_response(&Problem {
        kind: ProblemKind::Busy.url(),
        title: ProblemKind::Busy.title(),
        status: ProblemKind::Busy.status().as_u16(),
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
        && let Err(wait) = state
            .public_limiter
            .check(&client_address(&req, &state.config.trusted_proxies))
    {
        return Err(crate::error::ApiError::TooManyRequests(wait).into());
    }
    Ok(next.call(req).await?.into_response())
}

/// Refuses text that databases would not store alike, or that misleads a reader, wherever a
/// request carries it — JSON bodies (the API, staff sync, SCIM), query parameters and the path —
/// before any handler runs: control characters (NUL, C0 other than tab, newline and carriage
/// return, DEL, C1) and bidirectional overrides and isolates (U+202A–U+202E, U+2066–U+2069)
/// anywhere; dates (`YYYY-MM-DD…`) before 1900 or after 2199; then anything the OpenAPI
/// document says otherwise of the path, query and body ([`crate::json_types`]: required fields,
/// types, enumerations, formats). A 422 names every field (a SCIM client gets SCIM's 400
/// `invalidValue`).
pub async fn sane_input<E: Endpoint>(next: E, mut req: Request) -> poem::Result<Response> {
    let mut errors = Vec::new();
    let path = req.uri().path().to_owned();
    if let Some(why) = percent_decode(&path).as_deref().and_then(insane) {
        errors.push(FieldError::new("path", why));
    }
    let query = req.uri().query().map(form_pairs).unwrap_or_default();
    for (name, value) in &query {
        if let Some(why) = insane(value) {
            errors.push(FieldError::new(name.clone(), why));
        }
    }
    let json = req
        .content_type()
        .is_some_and(|t| t.starts_with("application/") && t.contains("json"));
    let mut value = None;
    if json {
        let body = req.take_body().into_bytes().await?;
        value = serde_json::from_slice::<serde_json::Value>(&body).ok();
        if let Some(value) = &value {
            walk(value, String::new(), &mut errors);
        }
        req.set_body(body);
    }
    if errors.is_empty()
        && let Some(types) = req.data::<std::sync::Arc<crate::json_types::JsonTypes>>()
    {
        types.check(
            req.method().as_str(),
            &path,
            &query,
            value.as_ref(),
            &mut errors,
        );
    }
    if errors.is_empty() {
        return Ok(Box::pin(next.call(req)).await?.into_response());
    }
    errors.sort_by(|a, b| a.field.cmp(&b.field));
    errors.dedup();
    let err = crate::error::ApiError::Validation(errors);
    Ok(crate::scim_error::ErrorFormat::of(&req).answer(err))
}

/// Why a text is refused, if it is.
fn insane(text: &str) -> Option<String> {
    if let Some(c) = text.chars().find(|c| {
        (c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
            || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    }) {
        return Some(format!(
            "must not contain the control character U+{:04X}",
            u32::from(c)
        ));
    }
    let head = text.get(..10)?;
    let date = chrono::NaiveDate::parse_from_str(head, "%Y-%m-%d").ok()?;
    let year = chrono::Datelike::year(&date);
    (!(1900..=2199).contains(&year))
        .then(|| format!("must be a date between 1900 and 2199, not {year}"))
}

/// Checks every string (and key) of a JSON value, naming each by its path
/// (`people[3].name`, as field errors do everywhere).
fn walk(value: &serde_json::Value, at: String, errors: &mut Vec<FieldError>) {
    let field = |at: &str| {
        if at.is_empty() {
            "body".to_owned()
        } else {
            at.to_owned()
        }
    };
    match value {
        serde_json::Value::String(text) => {
            if let Some(why) = insane(text) {
                errors.push(FieldError::new(field(&at), why));
            }
        }
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, format!("{at}[{i}]"), errors);
            }
        }
        serde_json::Value::Object(map) => {
            for (key, item) in map {
                let path = if at.is_empty() {
                    key.clone()
                } else {
                    format!("{at}.{key}")
                };
                if let Some(why) = insane(key) {
                    errors.push(FieldError::new(field(&at), format!("a field name {why}")));
                }
                walk(item, path, errors);
            }
        }
        _ => {}
    }
}

/// `name=value` pairs of a query string, decoded.
fn form_pairs(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect()
}

/// Percent-decodes a path; `None` when the result is not UTF-8 (the router refuses such paths).
fn percent_decode(text: &str) -> Option<String> {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
}
