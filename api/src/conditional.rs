//! Conditional requests (RFC 9110 §13): every JSON `GET` answer carries a strong `ETag` (a hash of
//! the representation the caller sees), `If-None-Match` on a `GET` answers 304 when it still
//! matches, and `If-Match` on a `PATCH` or `PUT` refuses with 412 when the resource has changed
//! since the caller read it.
//!
//! The precondition is checked against the resource's current `GET` representation (the same
//! path, the same credentials), and the check and the update run under one lock per path: a
//! PostgreSQL advisory transaction lock (so replicas serialise too) or, on SQLite, a process lock.
//! Every `PATCH` and `PUT` takes that lock, conditional or not, so no update through the API's
//! update operations can slip between a check and the update it guards.

use crate::problem::ProblemKind;
use std::sync::LazyLock;

use poem::{
    Body, Endpoint, IntoResponse, Request, Response,
    http::{HeaderValue, Method, StatusCode, header},
};
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};

use crate::{
    error::{FieldError, Problem, problem_response},
    scim_error::ErrorFormat,
    state::AppState,
};

/// Serialises updates on SQLite, where there is one process and one writer.
static SQLITE_UPDATES: LazyLock<tokio::sync::Mutex<()>> =
    LazyLock::new(|| tokio::sync::Mutex::new(()));

/// Bounds the PostgreSQL lock transactions held at once to half the pool (16), so the updates
/// they guard always find a connection of their own.
static PG_LOCK_HOLDERS: LazyLock<tokio::sync::Semaphore> =
    LazyLock::new(|| tokio::sync::Semaphore::new(8));

/// The strong entity tag of a representation.
pub fn etag_of(body: &[u8]) -> String {
    crate::digest::etag(body)
}

/// Whether a list of entity tags (`If-Match` / `If-None-Match`) holds `etag`. Weak tags never
/// match: updates need the strong comparison, and Cascade only issues strong tags.
fn matches(list: &str, etag: &str) -> bool {
    list.split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag == etag)
}

/// The 412 answer: problem+json, or SCIM's error format under `/scim/`.
fn precondition_failed(scim: bool, detail: &str, current: Option<&str>) -> Response {
    let mut resp = if scim {
        crate::scim_error::error_response(&crate::scim_error::ScimError::new(
            StatusCode::PRECONDITION_FAILED,
            None,
            detail,
        ))
    } else {
        problem_response(&Problem {
            kind: ProblemKind::PreconditionFailed.url(),
            title: ProblemKind::PreconditionFailed.title(),
            status: ProblemKind::PreconditionFailed.status().as_u16(),
            detail: detail.to_owned(),
            errors: Some(vec![FieldError::new("If-Match", detail)]),
        })
    };
    if let Some(tag) = current.and_then(|t| HeaderValue::from_str(t).ok()) {
        resp.headers_mut().insert(header::ETAG, tag);
    }
    resp
}

/// Buffers a JSON answer and gives it its `ETag`; other answers pass untouched.
async fn tag(resp: Response) -> poem::Result<(Response, Option<String>)> {
    let json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.starts_with("application/json") || ct.starts_with("application/scim+json")
        });
    if resp.status() != StatusCode::OK || !json {
        return Ok((resp, None));
    }
    let (parts, body) = resp.into_parts();
    let bytes = body.into_bytes().await?;
    let etag = etag_of(&bytes);
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

pub async fn conditional<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
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
    let Some(state) = req.data::<AppState>().cloned() else {
        return Ok(next.call(req).await?.into_response());
    };
    if method != Method::PATCH && method != Method::PUT {
        return Ok(next.call(req).await?.into_response());
    }

    // Hold the path's lock until the update has committed.
    let path = req.uri().path().to_owned();
    let scim = ErrorFormat::of(&req) == ErrorFormat::Scim;
    let (_permit, _sqlite, lock_txn) = match state.db.get_database_backend() {
        DbBackend::Postgres => {
            let permit = PG_LOCK_HOLDERS
                .acquire()
                .await
                .map_err(|_| poem::Error::from_status(StatusCode::SERVICE_UNAVAILABLE))?;
            let txn = state
                .db
                .begin()
                .await
                .map_err(crate::error::ApiError::from)?;
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 7))",
                [path.clone().into()],
            ))
            .await
            .map_err(crate::error::ApiError::from)?;
            (Some(permit), None, Some(txn))
        }
        _ => (None, Some(SQLITE_UPDATES.lock().await), None),
    };

    if let Some(list) = req.header(header::IF_MATCH).map(str::to_owned) {
        let mut read = Request::builder()
            .method(Method::GET)
            .uri(req.uri().clone());
        if let Some(auth) = req.header(header::AUTHORIZATION) {
            read = read.header(header::AUTHORIZATION, auth);
        }
        let mut read = read.finish();
        read.extensions_mut().insert(state.clone());
        let current = match next.call(read).await {
            Ok(resp) => resp.into_response(),
            Err(err) => err.into_response(),
        };
        let status = current.status();
        if matches!(status.as_u16(), 401 | 403 | 404 | 429) {
            return Ok(current);
        }
        let (_, etag) = tag(current).await?;
        let Some(etag) = etag else {
            return Ok(precondition_failed(
                scim,
                "This resource cannot be read at this address, so there is no entity tag to \
                 match; send the update without If-Match.",
                None,
            ));
        };
        if !matches(&list, &etag) {
            return Ok(precondition_failed(
                scim,
                "The resource has changed since you read it: read it again (its current ETag \
                 is in this answer's ETag header) and reapply your change.",
                Some(&etag),
            ));
        }
    }
    let (resp, _) = tag(next.call(req).await?.into_response()).await?;
    if let Some(txn) = lock_txn {
        txn.commit().await.map_err(crate::error::ApiError::from)?;
    }
    Ok(resp)
}
