//! One error type for every handler, and the problem+json (RFC 9457) body it becomes.
//!
//! Handlers return `Result<_, ApiError>`; `From<DbErr>` lives here and maps unique-constraint
//! violations to 409. Errors raised outside handlers (unknown route, wrong method, malformed JSON,
//! bad path parameter, body too large, missing credentials) are turned into problem+json by
//! [`problem_catcher`], which wraps the whole application.

use poem::{Endpoint, IntoResponse, Request, Response, http::StatusCode};
use poem_openapi::{
    ApiResponse, Object, OperationId,
    payload::Json,
    registry::{MetaResponses, Registry},
};
use sea_orm::{DbErr, SqlErr};

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";
/// SCIM's media type: its errors have their own format, which the problem catcher passes through.
pub const SCIM_CONTENT_TYPE: &str = "application/scim+json";
use crate::problem::ProblemKind;
/// How a refused write's problem ends; a refused read's drops it (see [`problem_catcher`]).
const WROTE_NOTHING: &str = "; nothing was written.";

/// An RFC 9457 problem: every non-2xx answer of this API has this shape.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Problem {
    /// A URI naming the kind of problem; stable, so clients can branch on it.
    #[oai(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request, in words a person can act on.
    pub detail: String,
    /// For invalid input: each field that was refused, and why.
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<Vec<FieldError>>,
}

/// One refused field of the request.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct FieldError {
    /// The field's path in the request, e.g. `memberships[0].organisation_id`, or a parameter name.
    pub field: String,
    /// Why the value was refused.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The documented error responses of every operation.
#[derive(ApiResponse)]
pub enum ProblemResponse {
    /// The request was refused (bad input, missing or invalid key, not allowed, not found,
    /// conflict with the current state). The body says which, and names each invalid field.
    #[oai(status_range = "4XX", content_type = "application/problem+json")]
    Client(StatusCode, Json<Problem>),
    /// An unexpected failure on the server; the detail is deliberately opaque and the cause is
    /// logged.
    #[oai(status_range = "5XX", content_type = "application/problem+json")]
    Server(StatusCode, Json<Problem>),
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    NotFound(String),
    #[error("invalid input")]
    Validation(Vec<FieldError>),
    /// A request whose shape is right but whose values break a rule; `kind` names the rule
    /// (and gives the status).
    #[error("{detail}")]
    Rule { kind: ProblemKind, detail: String },
    #[error("{0}")]
    Conflict(String),
    /// An `If-Match` that names no current version; `current` is the tag of the current one.
    #[error("{detail}")]
    Stale {
        detail: String,
        current: Option<String>,
    },
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Unauthorized(String),
    /// Too many requests from one client; retry after this many seconds.
    #[error("too many requests")]
    TooManyRequests(u64),
    #[error("database error: {0}")]
    Database(#[from] DbErr),
    #[error("internal error: {0}")]
    Internal(#[from] anyhow::Error),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn not_found(what: &str) -> Self {
        Self::NotFound(format!("{what} not found"))
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Rule { kind, .. } => kind.status(),
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Stale { .. } => StatusCode::PRECONDITION_FAILED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Database(err) if unique_violation(err) => StatusCode::CONFLICT,
            Self::Database(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn to_problem(&self) -> Problem {
        let status = self.status();
        let (kind, detail, errors) = match self {
            Self::NotFound(d) => (ProblemKind::NotFound, d.clone(), None),
            Self::Validation(errors) => (
                ProblemKind::Validation,
                format!(
                    "The request has {} invalid field{}{WROTE_NOTHING}",
                    errors.len(),
                    if errors.len() == 1 { "" } else { "s" }
                ),
                Some(errors.clone()),
            ),
            Self::Rule { kind, detail } => (*kind, detail.clone(), None),
            Self::Conflict(d) => (ProblemKind::Conflict, d.clone(), None),
            Self::Stale { detail, .. } => (
                ProblemKind::PreconditionFailed,
                detail.clone(),
                Some(vec![FieldError::new("If-Match", detail.clone())]),
            ),
            Self::Forbidden(d) => (ProblemKind::Forbidden, d.clone(), None),
            Self::Unauthorized(d) => (ProblemKind::Unauthorized, d.clone(), None),
            Self::TooManyRequests(seconds) => (
                ProblemKind::TooManyRequests,
                format!("Too many requests from this address; try again in {seconds} seconds."),
                None,
            ),
            Self::Database(err) if unique_violation(err) => (
                ProblemKind::Conflict,
                "A record with the same unique value already exists.".to_owned(),
                None,
            ),
            Self::Database(_) | Self::Internal(_) => (
                ProblemKind::Internal,
                "An unexpected error occurred; it has been logged.".to_owned(),
                None,
            ),
        };
        Problem {
            kind: kind.url(),
            title: title_for(status),
            status: status.as_u16(),
            detail,
            errors,
        }
    }
}

/// A refusal of a rule: the one way domain code says "no" with a named kind.
pub fn refused(kind: ProblemKind, detail: impl Into<String>) -> ApiError {
    ApiError::Rule {
        kind,
        detail: detail.into(),
    }
}

fn unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

fn title_for(status: StatusCode) -> String {
    status.canonical_reason().unwrap_or("Error").to_owned()
}

/// Builds the problem+json response for a status and detail.
pub fn problem_response(problem: &Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(&poem_openapi::types::ToJSON::to_json(problem))
        .unwrap_or_else(|_| b"{}".to_vec());
    Response::builder()
        .status(status)
        .content_type(PROBLEM_CONTENT_TYPE)
        .body(body)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status().is_server_error() {
            tracing::error!(error = ?self, "request failed");
        }
        let mut resp = problem_response(&self.to_problem());
        if let Self::Stale {
            current: Some(tag), ..
        } = &self
            && let Ok(value) = poem::http::HeaderValue::from_str(tag)
        {
            resp.headers_mut().insert(poem::http::header::ETAG, value);
        }
        if let Self::TooManyRequests(seconds) = self
            && let Ok(value) = poem::http::HeaderValue::from_str(&seconds.to_string())
        {
            resp.headers_mut()
                .insert(poem::http::header::RETRY_AFTER, value);
        }
        resp
    }
}

impl From<ApiError> for poem::Error {
    fn from(err: ApiError) -> Self {
        poem::Error::from_response(err.into_response())
    }
}

impl ApiResponse for ApiError {
    fn meta() -> MetaResponses {
        ProblemResponse::meta()
    }

    fn register(registry: &mut Registry) {
        ProblemResponse::register(registry);
    }
}

/// A PDF that would print a character as an empty box is refused instead.
impl From<crate::render::text::Unprintable> for ApiError {
    fn from(err: crate::render::text::Unprintable) -> Self {
        Self::Rule {
            kind: ProblemKind::UnprintableText,
            detail: format!(
                "{err}. The record stands (a certificate can still be verified); correct the \
                 text, or ask for the script to be added, then ask again."
            ),
        }
    }
}

impl From<validator::ValidationErrors> for ApiError {
    fn from(errors: validator::ValidationErrors) -> Self {
        let mut out = Vec::new();
        flatten_validation("", &errors, &mut out);
        out.sort_by(|a, b| a.field.cmp(&b.field));
        Self::Validation(out)
    }
}

fn flatten_validation(
    prefix: &str,
    errors: &validator::ValidationErrors,
    out: &mut Vec<FieldError>,
) {
    use validator::ValidationErrorsKind as Kind;
    for (field, kind) in errors.errors() {
        let path = if prefix.is_empty() {
            field.to_string()
        } else {
            format!("{prefix}.{field}")
        };
        match kind {
            Kind::Field(list) => {
                for e in list {
                    let message = e
                        .message
                        .as_ref()
                        .map(|m| m.to_string())
                        .unwrap_or_else(|| format!("is not valid ({})", e.code));
                    out.push(FieldError::new(path.clone(), message));
                }
            }
            Kind::Struct(inner) => flatten_validation(&path, inner, out),
            Kind::List(items) => {
                for (index, inner) in items {
                    flatten_validation(&format!("{path}[{index}]"), inner, out);
                }
            }
        }
    }
}

/// Kind and title of problems raised by the framework itself, keyed by status.
fn framework_problem(status: StatusCode, message: String) -> Problem {
    let (kind, detail) = match status {
        StatusCode::NOT_FOUND => (
            ProblemKind::NotFound,
            "No such resource or route.".to_owned(),
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            ProblemKind::MethodNotAllowed,
            "This route does not accept that HTTP method.".to_owned(),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            ProblemKind::PayloadTooLarge,
            "The request body is larger than this route's limit.".to_owned(),
        ),
        StatusCode::UNAUTHORIZED => (
            ProblemKind::Unauthorized,
            "A valid API key is required: send `Authorization: Bearer <key>`.".to_owned(),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            ProblemKind::UnsupportedMediaType,
            "Send the body as `application/json`.".to_owned(),
        ),
        s if s.is_server_error() => (
            ProblemKind::Internal,
            "An unexpected error occurred; it has been logged.".to_owned(),
        ),
        _ => (ProblemKind::BadRequest, message),
    };
    let errors = (status == StatusCode::BAD_REQUEST).then(|| parse_error_fields(&detail));
    Problem {
        kind: kind.url(),
        title: title_for(status),
        status: status.as_u16(),
        detail,
        errors: errors.filter(|e| !e.is_empty()),
    }
}

/// poem-openapi reports parse failures as text such as ``failed to parse path `param0`: …`` or
/// ``parse request payload error: …``; name the field where the text allows, so clients get the
/// same `errors` list as for other invalid input.
fn parse_error_fields(message: &str) -> Vec<FieldError> {
    let named = |marker: &str| -> Option<String> {
        let start = message.find(marker)? + marker.len();
        let rest = &message[start..];
        let end = rest.find('`')?;
        Some(rest[..end].to_owned())
    };
    if named("path `").is_some() {
        let why = if message.contains("uuid") {
            "must be a UUID"
        } else {
            message
        };
        return vec![FieldError::new("path", why)];
    }
    for marker in [
        "parameter `",
        "query `",
        "header `",
        "missing field `",
        "unknown field `",
    ] {
        if let Some(field) = named(marker) {
            return vec![FieldError::new(field, message)];
        }
    }
    if message.contains("payload") {
        return vec![FieldError::new("body", message)];
    }
    Vec::new()
}

/// Wraps the application so that every error, whoever raised it, leaves as problem+json.
pub async fn problem_catcher<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let reads = matches!(
        *req.method(),
        poem::http::Method::GET | poem::http::Method::HEAD
    );
    let (mut resp, operation) = match next.call(req).await {
        Ok(resp) => {
            let resp = resp.into_response();
            let operation = resp.data::<OperationId>().copied();
            // SCIM answers errors in its own format (RFC 7644 §3.12).
            if (resp.status().is_client_error() || resp.status().is_server_error())
                && resp.content_type() != Some(PROBLEM_CONTENT_TYPE)
                && resp.content_type() != Some(SCIM_CONTENT_TYPE)
                && !resp
                    .content_type()
                    .is_some_and(|ct| ct.starts_with("text/html"))
            {
                let status = resp.status();
                let text = resp.into_body().into_string().await.unwrap_or_default();
                (
                    problem_response(&framework_problem(status, text)),
                    operation,
                )
            } else {
                (resp, operation)
            }
        }
        Err(err) => {
            let operation = err.data::<OperationId>().copied();
            let message = err.to_string();
            let status = err.status();
            let resp = err.into_response();
            if resp.content_type() == Some(PROBLEM_CONTENT_TYPE) {
                (resp, operation)
            } else {
                if status.is_server_error() {
                    tracing::error!(error = %message, "request failed");
                }
                (
                    problem_response(&framework_problem(status, message)),
                    operation,
                )
            }
        }
    };
    // A refused read wrote nothing to begin with: it does not say so.
    if reads && resp.content_type() == Some(PROBLEM_CONTENT_TYPE) {
        let (parts, body) = resp.into_parts();
        let text = body.into_string().await.unwrap_or_default();
        resp = Response::from_parts(parts, text.replace(WROTE_NOTHING, ".").into());
    }
    // Keep the operation for the access log and metrics (see `guard::observe`).
    if let Some(operation) = operation {
        resp.set_data(operation);
    }
    Ok(resp)
}
