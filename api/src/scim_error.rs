//! SCIM's error format (RFC 7644 §3.12): what a SCIM refusal holds and the response it
//! becomes. Low-level, so the middleware that answers SCIM requests before they reach their
//! routes (authentication, conditional requests, body limits, panics) needs neither the SCIM
//! routes nor the domain.

use poem::{
    Response,
    http::{StatusCode, header},
};
use serde_json::{Value, json};

use crate::error::ApiError;

/// SCIM's media type.
pub const CONTENT_TYPE: &str = crate::error::SCIM_CONTENT_TYPE;
const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// A SCIM refusal: its status, `scimType` and detail.
#[derive(Debug)]
pub struct ScimError {
    pub status: StatusCode,
    pub scim_type: Option<&'static str>,
    pub detail: String,
    /// For 429: the seconds to wait, sent as `Retry-After`.
    pub retry_after: Option<u64>,
}

impl ScimError {
    pub fn new(
        status: StatusCode,
        scim_type: Option<&'static str>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            scim_type,
            detail: detail.into(),
            retry_after: None,
        }
    }

    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some("invalidValue"), detail)
    }
}

impl From<ApiError> for ScimError {
    fn from(err: ApiError) -> Self {
        let status = err.status();
        let problem = err.to_problem();
        if let ApiError::TooManyRequests(seconds) = err {
            return Self {
                retry_after: Some(seconds),
                ..Self::new(status, None, problem.detail)
            };
        }
        match err {
            ApiError::Validation(list) => Self::invalid(
                list.iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            ApiError::Conflict(_) => Self::new(status, Some("uniqueness"), problem.detail),
            _ if status == StatusCode::CONFLICT => {
                Self::new(status, Some("uniqueness"), problem.detail)
            }
            _ => Self::new(status, None, problem.detail),
        }
    }
}

impl From<sea_orm::DbErr> for ScimError {
    fn from(err: sea_orm::DbErr) -> Self {
        ApiError::from(err).into()
    }
}

pub type ScimResult<T> = Result<T, ScimError>;

/// A SCIM JSON body with its status.
pub fn json_response(status: StatusCode, body: &Value) -> Response {
    Response::builder()
        .status(status)
        .content_type(CONTENT_TYPE)
        .body(body.to_string())
}

/// The SCIM error response of a refusal.
pub fn error_response(err: &ScimError) -> Response {
    let mut body = json!({
        "schemas": [ERROR_SCHEMA],
        "status": err.status.as_u16().to_string(),
        "detail": err.detail,
    });
    if let Some(kind) = err.scim_type {
        body["scimType"] = json!(kind);
    }
    let mut resp = json_response(err.status, &body);
    if let Some(seconds) = err.retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
    }
    if err.status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer realm=\"cascade-scim\""),
        );
    }
    resp
}

/// How a request's errors are written: problem+json (the API) or SCIM's error schema (RFC 7644
/// §3.12). The application marks each request once, from the tree its path is mounted in
/// (`crate::app`); middleware reads the mark and never looks at the path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ErrorFormat {
    #[default]
    Problem,
    Scim,
}

impl ErrorFormat {
    /// The format the request was marked with (problem+json when unmarked).
    pub fn of(req: &poem::Request) -> Self {
        req.extensions()
            .get::<ErrorFormat>()
            .copied()
            .unwrap_or_default()
    }

    /// Answers `err` in this format.
    pub fn answer(self, err: ApiError) -> Response {
        match self {
            ErrorFormat::Scim => error_response(&ScimError::from(err)),
            ErrorFormat::Problem => poem::Error::from(err).into_response(),
        }
    }
}
