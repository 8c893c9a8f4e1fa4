//! Conditional requests (RFC 9110 §13): every JSON `GET` answer carries a strong `ETag`,
//! `If-None-Match` on a `GET` answers 304 when it still matches, and `If-Match` on a `PATCH` or
//! `PUT` refuses with 412 when the resource has changed since the caller read it.
//!
//! The tag of a resource that can be updated is `"<version>-<digest>"` (see
//! [`crate::versions`]): its handler names the version it read, and the update claims that
//! version inside its own transaction (`UPDATE … WHERE version = ?`). Other answers' tags are
//! the digest of the representation alone. This middleware computes tags, answers 304s, refuses
//! unreadable preconditions, and (in debug builds) refuses an update whose handler did not take
//! its `If-Match`, so no update can ignore the check a client asked for.

use std::sync::atomic::Ordering;

use poem::{
    Body, Endpoint, IntoResponse, Request, Response,
    http::{HeaderValue, Method, StatusCode, header},
};

use crate::{
    error::{FieldError, Problem, problem_response},
    problem::ProblemKind,
    scim_error::ErrorFormat,
    versions::{PreconditionTaken, VERSION_HEADER},
};

/// The strong entity tag of a representation.
pub fn etag_of(body: &[u8]) -> String {
    crate::digest::etag(body)
}

/// Whether a list of entity tags (`If-None-Match`) holds `etag`. Weak tags never match.
fn matches(list: &str, etag: &str) -> bool {
    list.split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag == etag)
}

/// Buffers a JSON answer and gives it its `ETag`; other answers pass untouched.
async fn tag(mut resp: Response) -> poem::Result<(Response, Option<String>)> {
    let json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.starts_with("application/json") || ct.starts_with("application/scim+json")
        });
    let version = resp
        .headers_mut()
        .remove(VERSION_HEADER)
        .and_then(|v| v.to_str().ok().map(str::to_owned));
    if resp.status() != StatusCode::OK || !json {
        return Ok((resp, None));
    }
    let (parts, body) = resp.into_parts();
    let bytes = body.into_bytes().await?;
    let etag = match version {
        Some(version) => crate::versions::etag(&version, &bytes),
        None => etag_of(&bytes),
    };
    let mut resp = Response::from_parts(parts, Body::from(bytes));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        resp.headers_mut().insert(header::ETAG, value);
    }
    Ok((resp, Some(etag)))
}

/// An `If-Match` or `If-None-Match` that is not visible ASCII cannot name any entity tag: it is
/// refused (400), never ignored, so a client never updates without the check it asked for.
fn unreadable_precondition(req: &Request) -> Option<Response> {
    let name = [header::IF_MATCH, header::IF_NONE_MATCH]
        .into_iter()
        .find(|name| {
            req.headers().get_all(name).iter().any(|v| {
                !v.as_bytes()
                    .iter()
                    .all(|b| b.is_ascii_graphic() || *b == b' ')
            })
        })?;
    let field = if name == header::IF_MATCH {
        "If-Match"
    } else {
        "If-None-Match"
    };
    let detail = format!(
        "{field} must hold entity tags in visible ASCII (e.g. \"3f1c…\" or *), as an ETag \
         header gave them."
    );
    Some(if ErrorFormat::of(req) == ErrorFormat::Scim {
        crate::scim_error::error_response(&crate::scim_error::ScimError::new(
            StatusCode::BAD_REQUEST,
            Some("invalidValue"),
            detail,
        ))
    } else {
        problem_response(&Problem {
            kind: ProblemKind::BadRequest.url(),
            title: ProblemKind::BadRequest.title(),
            status: ProblemKind::BadRequest.status().as_u16(),
            detail: detail.clone(),
            errors: Some(vec![FieldError::new(field, detail)]),
        })
    })
}

pub async fn conditional<E: Endpoint>(next: E, mut req: Request) -> poem::Result<Response> {
    if let Some(refused) = unreadable_precondition(&req) {
        return Ok(refused);
    }
    let method = req.method().clone();
    if method == Method::GET {
        let if_none_match = req.header(header::IF_NONE_MATCH).map(str::to_owned);
        let (resp, etag) = tag(next.call(req).await?.into_response()).await?;
        if let (Some(list), Some(etag)) = (if_none_match, &etag)
            && matches(&list, etag)
        {
            let mut not_modified = Response::builder()
                .status(StatusCode::NOT_MODIFIED)
                .finish();
            if let Ok(value) = HeaderValue::from_str(etag) {
                not_modified.headers_mut().insert(header::ETAG, value);
            }
            return Ok(not_modified);
        }
        return Ok(resp);
    }
    if method != Method::PATCH && method != Method::PUT {
        return Ok(next.call(req).await?.into_response());
    }
    let taken = req.headers().contains_key(header::IF_MATCH).then(|| {
        let taken = PreconditionTaken::default();
        req.extensions_mut().insert(taken.clone());
        taken
    });
    let (resp, _) = tag(next.call(req).await?.into_response()).await?;
    if let Some(taken) = taken
        && !taken.0.load(Ordering::Relaxed)
        && resp.status().is_success()
    {
        tracing::error!("an update ignored its If-Match: its handler takes no Precondition");
        if cfg!(debug_assertions) {
            return Ok(Response::builder()
                .status(StatusCode::INTERNAL_SERVER_ERROR)
                .finish());
        }
    }
    Ok(resp)
}
