//! Requests that do one thing for several people (book them onto a session, record the same
//! trainer step): each person's outcome is reported apart, under the same rules and refusals as
//! the single operation, in a transaction of its own — so one refusal never undoes the others.
//! Under an `Idempotency-Key` the answer is stored with the last person's transaction; a retry
//! after a crash part-way reports those already done as the single operation would (for
//! bookings, `already-booked`).

use std::{collections::HashSet, future::Future};

use uuid::Uuid;

use crate::error::{ApiError, ApiResult, Problem};

/// The most people one request may name.
pub const MAX_PEOPLE: usize = 100;

/// Checks a request's list of people: 1 to [`MAX_PEOPLE`], none twice.
pub fn check_people(field: &str, ids: &[Uuid]) -> ApiResult<()> {
    if ids.is_empty() || ids.len() > MAX_PEOPLE {
        return Err(ApiError::invalid(
            field,
            format!("must list 1 to {MAX_PEOPLE} people"),
        ));
    }
    let mut seen = HashSet::new();
    if let Some(twice) = ids.iter().find(|id| !seen.insert(**id)) {
        return Err(ApiError::invalid(field, format!("lists {twice} twice")));
    }
    Ok(())
}

/// Runs `one` for each person in turn. A refusal (4xx) becomes that person's problem; a server
/// failure stops the request (what was done before it stays done, as with single requests).
pub async fn each<T, F, Fut>(ids: &[Uuid], mut one: F) -> ApiResult<Vec<(Uuid, Result<T, Problem>)>>
where
    F: FnMut(Uuid) -> Fut,
    Fut: Future<Output = ApiResult<T>>,
{
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        match one(*id).await {
            Ok(done) => out.push((*id, Ok(done))),
            Err(err) if err.status().is_client_error() => out.push((*id, Err(err.to_problem()))),
            Err(err) => return Err(err),
        }
    }
    if out.iter().all(|(_, r)| r.is_err()) {
        // Everyone refused: nothing was written, so there is nothing to audit.
        crate::audit::mark_read_only();
    }
    Ok(out)
}
