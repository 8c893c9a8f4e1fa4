//! `Idempotency-Key` for POST requests: the first request with a key claims it in the database
//! (a unique index, so two replicas cannot both run it), its answer is stored, and a retry with the
//! same key and the same request gets that answer again. The same key with a different request
//! is refused (422); a retry while the first is still running is told to wait (409). Keys are
//! scoped to the credentials that sent them and kept for at least 24 hours. A 5xx answer is not
//! stored, so the request can be retried.

use chrono::Duration;
use entities::idempotency_keys;
use poem::{
    Endpoint, IntoResponse, Request, Response,
    http::{Method, StatusCode, header},
};
use sea_orm::{ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, QueryFilter, Set, SqlErr};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{
    db::begin_write,
    error::{FieldError, Problem, problem_response},
    state::AppState,
};

pub const HEADER: &str = "Idempotency-Key";
/// Stored answers older than this are purged.
pub const RETENTION_HOURS: i64 = 48;

fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn problem(status: StatusCode, kind: &str, detail: &str, field: bool) -> Response {
    problem_response(&Problem {
        kind: format!("https://cascade.invalid/problems/{kind}"),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail: detail.to_owned(),
        errors: field.then(|| vec![FieldError::new(HEADER, detail)]),
    })
}

fn unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

pub async fn idempotency<E: Endpoint>(next: E, mut req: Request) -> poem::Result<Response> {
    let key = req.header(HEADER).map(str::to_owned);
    let credentials = req.header(header::AUTHORIZATION).map(str::to_owned);
    let state = req.data::<AppState>().cloned();
    let (Some(key), Some(credentials), Some(state), true) =
        (key, credentials, state, req.method() == Method::POST)
    else {
        return Ok(next.call(req).await?.into_response());
    };
    if key.is_empty() || key.len() > 255 || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Ok(problem(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "Idempotency-Key must be 1 to 255 visible ASCII characters.",
            true,
        ));
    }
    let body = req.take_body().into_bytes().await?;
    let target = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let request_hash = sha256_hex(&[req.method().as_str().as_bytes(), target.as_bytes(), &body]);
    req.set_body(body);
    let scope = sha256_hex(&[credentials.as_bytes()]);
    let db = &state.db;
    // Claims and answers are writes like any other: on SQLite they queue for the write turn
    // instead of polling the file lock (see `db::begin_write`).
    let turn = begin_write(db)
        .await
        .map_err(crate::error::ApiError::from)?;
    let claim = idempotency_keys::ActiveModel {
        id: Set(Uuid::now_v7()),
        scope: Set(scope.clone()),
        key: Set(key.clone()),
        request_hash: Set(request_hash.clone()),
        status: Set(None),
        content_type: Set(None),
        location: Set(None),
        body: Set(None),
        created_at: Set(state.clock.now()),
    }
    .insert(&turn)
    .await;
    // The claim commits on its own, before the request runs: a unique violation rolls back.
    match &claim {
        Ok(_) => turn.commit().await,
        Err(_) => turn.rollback().await,
    }
    .map_err(crate::error::ApiError::from)?;
    let claim = match claim {
        Ok(row) => row,
        Err(err) if unique_violation(&err) => {
            let stored = idempotency_keys::Entity::find()
                .filter(idempotency_keys::Column::Scope.eq(&scope))
                .filter(idempotency_keys::Column::Key.eq(&key))
                .one(db)
                .await
                .map_err(crate::error::ApiError::from)?;
            // A claim still unanswered long after any request could have finished was abandoned
            // (its replica died, or it timed out): the retry takes it over and runs.
            let now = state.clock.now();
            let stale = now
                - Duration::from_std(state.config.request_timeout * 2)
                    .unwrap_or(Duration::minutes(1));
            if let Some(abandoned) = stored.as_ref().filter(|s| {
                s.status.is_none() && s.request_hash == request_hash && s.created_at < stale
            }) {
                let turn = begin_write(db)
                    .await
                    .map_err(crate::error::ApiError::from)?;
                let taken = idempotency_keys::Entity::update_many()
                    .col_expr(
                        idempotency_keys::Column::CreatedAt,
                        sea_orm::sea_query::Expr::value(now),
                    )
                    .filter(idempotency_keys::Column::Id.eq(abandoned.id))
                    .filter(idempotency_keys::Column::CreatedAt.eq(abandoned.created_at))
                    .filter(idempotency_keys::Column::Status.is_null())
                    .exec(&turn)
                    .await
                    .map_err(crate::error::ApiError::from)?;
                turn.commit().await.map_err(crate::error::ApiError::from)?;
                if taken.rows_affected == 1 {
                    let mut claim = abandoned.clone();
                    claim.created_at = now;
                    return run_and_store(next, req, db, claim).await;
                }
            }
            return Ok(match stored {
                Some(stored) if stored.request_hash != request_hash => problem(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency-key-reused",
                    "This Idempotency-Key was used for a different request; use a new key.",
                    true,
                ),
                Some(stored) => match stored
                    .status
                    .and_then(|s| StatusCode::from_u16(s as u16).ok())
                {
                    Some(status) => {
                        crate::audit::mark_replayed();
                        replay(status, stored.content_type, stored.location, stored.body)
                    }
                    None => {
                        let mut resp = problem(
                            StatusCode::CONFLICT,
                            "idempotency-key-in-progress",
                            "A request with this Idempotency-Key is still being processed; retry shortly.",
                            false,
                        );
                        resp.headers_mut()
                            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
                        resp
                    }
                },
                None => problem(
                    StatusCode::CONFLICT,
                    "idempotency-key-in-progress",
                    "A request with this Idempotency-Key is still being processed; retry shortly.",
                    false,
                ),
            });
        }
        Err(err) => return Err(crate::error::ApiError::from(err).into()),
    };
    run_and_store(next, req, db, claim).await
}

/// Runs the request that holds `claim` and stores its answer (a 5xx frees the key instead).
async fn run_and_store<E: Endpoint>(
    next: E,
    req: Request,
    db: &sea_orm::DatabaseConnection,
    claim: idempotency_keys::Model,
) -> poem::Result<Response> {
    let resp = match next.call(req).await {
        Ok(resp) => resp.into_response(),
        Err(err) => err.into_response(),
    };
    let status = resp.status();
    if status.is_server_error() {
        let turn = begin_write(db)
            .await
            .map_err(crate::error::ApiError::from)?;
        idempotency_keys::Entity::delete_by_id(claim.id)
            .exec(&turn)
            .await
            .map_err(crate::error::ApiError::from)?;
        turn.commit().await.map_err(crate::error::ApiError::from)?;
        return Ok(resp);
    }
    let content_type = resp.content_type().map(str::to_owned);
    let location = resp.header(header::LOCATION).map(str::to_owned);
    let body = resp.into_body().into_string().await?;
    let mut stored: idempotency_keys::ActiveModel = claim.into();
    stored.status = Set(Some(i32::from(status.as_u16())));
    stored.content_type = Set(content_type.clone());
    stored.location = Set(location.clone());
    stored.body = Set(Some(body.clone()));
    let turn = begin_write(db)
        .await
        .map_err(crate::error::ApiError::from)?;
    stored
        .update(&turn)
        .await
        .map_err(crate::error::ApiError::from)?;
    turn.commit().await.map_err(crate::error::ApiError::from)?;
    Ok(replay(status, content_type, location, Some(body)))
}

fn replay(
    status: StatusCode,
    content_type: Option<String>,
    location: Option<String>,
    body: Option<String>,
) -> Response {
    let mut builder = Response::builder().status(status);
    if let Some(content_type) = content_type {
        builder = builder.content_type(content_type);
    }
    if let Some(location) = location {
        builder = builder.header(header::LOCATION, location);
    }
    builder.body(body.unwrap_or_default())
}

/// Deletes stored answers past their retention (run periodically by `cascade serve`).
pub async fn purge(state: &AppState) -> Result<u64, DbErr> {
    let cutoff = state.clock.now() - Duration::hours(RETENTION_HOURS);
    Ok(idempotency_keys::Entity::delete_many()
        .filter(idempotency_keys::Column::CreatedAt.lt(cutoff))
        .exec(&state.db)
        .await?
        .rows_affected)
}
