//! `Idempotency-Key` for POST requests: the first request with a key claims it in the database
//! (a unique index, so two replicas cannot both run it), its answer is stored in the same
//! transaction as the change it answers, and a retry with the same key and the same request gets
//! that answer again. The same key with a different request is refused (422); a retry while the
//! first is still running is told to wait (409). Keys are scoped to the API key that sent them
//! and kept for at least 48 hours. Answers a retry should not meet again (5xx, 401, 403, 408,
//! 429) are not stored, so the request can be retried.

use crate::db::FirstRow as _;
use crate::problem::ProblemKind;
use chrono::Duration;
use entities::idempotency_keys;
use poem::{
    Endpoint, IntoResponse, Request, Response,
    http::{Method, StatusCode, header},
};
use sea_orm::{ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, QueryFilter, Set, SqlErr};
use uuid::Uuid;

use crate::{
    auth,
    ctx::Ctx,
    error::{FieldError, Problem, problem_response},
    state::AppState,
};

pub const HEADER: &str = "Idempotency-Key";
/// Stored answers older than this are purged.
pub const RETENTION_HOURS: i64 = 48;

fn problem(kind: ProblemKind, detail: &str, field: bool) -> Response {
    problem_response(&Problem {
        kind: kind.url(),
        title: kind.title(),
        status: kind.status().as_u16(),
        detail: detail.to_owned(),
        errors: field.then(|| vec![FieldError::new(HEADER, detail)]),
    })
}

fn unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// Whether an answer is the handler's own, to be given again on a retry. Refusals a retry may
/// not meet again — authentication and scope (401, 403), limits (408, 429) and failures (5xx) —
/// are not stored, so the retry runs.
fn storable(status: StatusCode) -> bool {
    !(status.is_server_error()
        || matches!(
            status,
            StatusCode::UNAUTHORIZED
                | StatusCode::FORBIDDEN
                | StatusCode::REQUEST_TIMEOUT
                | StatusCode::TOO_MANY_REQUESTS
        ))
}

fn in_progress() -> Response {
    let mut resp = problem(
        ProblemKind::IdempotencyKeyInProgress,
        "A request with this Idempotency-Key is still being processed; retry shortly.",
        false,
    );
    resp.headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    resp
}

pub async fn idempotency<E: Endpoint>(next: E, mut req: Request) -> poem::Result<Response> {
    if req.method() != Method::POST {
        return Ok(next.call(req).await?.into_response());
    }
    let Some(raw) = req.headers().get(HEADER).cloned() else {
        return Ok(next.call(req).await?.into_response());
    };
    let key = match raw.to_str() {
        Ok(key)
            if !key.is_empty() && key.len() <= 255 && key.chars().all(|c| c.is_ascii_graphic()) =>
        {
            key.to_owned()
        }
        _ => {
            return Ok(problem(
                ProblemKind::BadRequest,
                "Idempotency-Key must be 1 to 255 visible ASCII characters.",
                true,
            ));
        }
    };
    // Keys are scoped to the API key that sent them, which `auth::authenticate_first` checked
    // before the body was read. A request without a valid key runs without a claim (and is
    // refused by its handler), so an unauthenticated client writes nothing here.
    let (Some(caller), Some(state)) = (auth::caller(&req), req.data::<AppState>().cloned()) else {
        return Ok(next.call(req).await?.into_response());
    };
    let body = req.take_body().into_bytes().await?;
    let target = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let request_hash = crate::digest::sha256_hex_of_parts(&[
        req.method().as_str().as_bytes(),
        target.as_bytes(),
        &body,
    ]);
    req.set_body(body);
    let scope = caller.key_id.to_string();
    let ctx = Ctx::request(&state, &caller);
    let db = &ctx.db;
    // Claims and answers are writes like any other: on SQLite they queue for the write turn
    // instead of polling the file lock (see `db::begin_write`).
    let turn = ctx.begin().await.map_err(crate::error::ApiError::from)?;
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
    // The claim commits on its own, before the request runs, so another replica sees it; a
    // unique violation rolls back.
    match &claim {
        Ok(_) => turn.commit_now().await,
        Err(_) => turn.rollback().await,
    }
    .map_err(crate::error::ApiError::from)?;
    let claim = match claim {
        Ok(row) => row,
        Err(err) if unique_violation(&err) => {
            let stored = idempotency_keys::Entity::find()
                .filter(idempotency_keys::Column::Scope.eq(&scope))
                .filter(idempotency_keys::Column::Key.eq(&key))
                .first(db)
                .await
                .map_err(crate::error::ApiError::from)?;
            // A claim still unanswered long after any request could have finished was abandoned
            // (its replica died before its change committed, or it timed out): the retry takes
            // it over and runs. A change that did commit committed its answer with it.
            let now = state.clock.now();
            let stale = now
                - Duration::from_std(state.config.request_timeout * 2)
                    .unwrap_or(Duration::minutes(1));
            if let Some(abandoned) = stored.as_ref().filter(|s| {
                s.status.is_none() && s.request_hash == request_hash && s.created_at < stale
            }) {
                let turn = ctx.begin().await.map_err(crate::error::ApiError::from)?;
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
                turn.commit_now()
                    .await
                    .map_err(crate::error::ApiError::from)?;
                if taken.rows_affected == 1 {
                    let mut claim = abandoned.clone();
                    claim.created_at = now;
                    return run_and_store(next, req, &ctx, claim).await;
                }
            }
            return Ok(match stored {
                Some(stored) if stored.request_hash != request_hash => problem(
                    ProblemKind::IdempotencyKeyReused,
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
                    None => in_progress(),
                },
                None => in_progress(),
            });
        }
        Err(err) => return Err(crate::error::ApiError::from(err).into()),
    };
    run_and_store(next, req, &ctx, claim).await
}

/// Frees a claim whose request left nothing to give again.
async fn release(ctx: &Ctx, claim: Uuid) -> poem::Result<()> {
    let turn = ctx.begin().await.map_err(crate::error::ApiError::from)?;
    idempotency_keys::Entity::delete_by_id(claim)
        .exec(&turn)
        .await
        .map_err(crate::error::ApiError::from)?;
    turn.commit_now()
        .await
        .map_err(crate::error::ApiError::from)?;
    Ok(())
}

/// Runs the request that holds `claim` with its last write transaction deferred, stores the
/// answer in that same transaction and commits both: a crash before the commit loses both (the
/// retry runs again), a crash after it loses neither (the retry gets this answer).
async fn run_and_store<E: Endpoint>(
    next: E,
    req: Request,
    ctx: &Ctx,
    claim: idempotency_keys::Model,
) -> poem::Result<Response> {
    let slot = crate::db::Deferred::default();
    let resp = match crate::db::deferring(slot.clone(), Box::pin(next.call(req))).await {
        Ok(resp) => resp.into_response(),
        Err(err) => err.into_response(),
    };
    let parked = crate::db::take_deferred(&slot);
    let status = resp.status();
    if !storable(status) {
        if let Some(parked) = parked {
            // A failure after the handler's last commit: nothing was acknowledged, so nothing
            // is kept. A refusal after a commit keeps what committed.
            if status.is_server_error() {
                parked
                    .rollback()
                    .await
                    .map_err(crate::error::ApiError::from)?;
            } else {
                parked
                    .commit_now()
                    .await
                    .map_err(crate::error::ApiError::from)?;
            }
        }
        release(ctx, claim.id).await?;
        return Ok(resp);
    }
    let content_type = resp.content_type().map(str::to_owned);
    let location = resp.header(header::LOCATION).map(str::to_owned);
    let headers = resp.headers().clone();
    let operation = resp.data::<poem_openapi::OperationId>().copied();
    let body = resp.into_body().into_string().await?;
    let mut stored: idempotency_keys::ActiveModel = claim.clone().into();
    stored.status = Set(Some(i32::from(status.as_u16())));
    stored.content_type = Set(content_type.clone());
    stored.location = Set(location.clone());
    stored.body = Set(Some(body.clone()));
    let turn = match parked {
        Some(parked) => parked,
        None => ctx.begin().await.map_err(crate::error::ApiError::from)?,
    };
    let saved = async {
        stored.update(&turn).await?;
        turn.commit_now().await
    }
    .await;
    if let Err(err) = saved {
        // Neither the change nor its answer committed: free the key so the retry runs.
        release(ctx, claim.id).await?;
        return Err(crate::error::ApiError::from(err).into());
    }
    pause_after_commit_for_tests(&claim.key).await;
    let mut resp = replay(status, content_type, location, Some(body));
    for (name, value) in &headers {
        if !resp.headers().contains_key(name) {
            resp.headers_mut().insert(name.clone(), value.clone());
        }
    }
    if let Some(operation) = operation {
        resp.set_data(operation);
    }
    Ok(resp)
}

/// Debug builds only: a request whose Idempotency-Key contains `CASCADE_FAULT_PAUSE_AFTER_COMMIT`
/// stops after its change and answer committed and before the answer is sent, so the crash test
/// can kill the server at exactly that point.
async fn pause_after_commit_for_tests(key: &str) {
    if cfg!(debug_assertions)
        && let Ok(marker) = std::env::var("CASCADE_FAULT_PAUSE_AFTER_COMMIT")
        && !marker.is_empty()
        && key.contains(&marker)
    {
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
    }
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
