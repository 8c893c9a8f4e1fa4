use poem_openapi::{OpenApi, param::Query, payload::Json};

use super::ApiTags;
use crate::{
    auth::ApiKey,
    domain::events::{self, EventPage},
    error::{ApiError, ApiResult},
    state::AppState,
};

pub struct EventsApi;

/// The most events one call returns.
const MAX_LIMIT: u64 = 500;

#[OpenApi(prefix_path = "/events", tag = "ApiTags::Events")]
impl EventsApi {
    /// Read the change feed
    ///
    /// Every change a partner system cares about, in the order it was committed: bookings
    /// confirmed, waitlisted, promoted and cancelled; sessions changed and cancelled; completions
    /// recorded; certificates issued and revoked; trainer status changes. Poll with the
    /// `next_after` of your previous call as `after`; an empty page means nothing new yet. No
    /// event is ever inserted before a cursor you have been given, so processing each page in
    /// order and storing `next_after` misses nothing. An event shows once every change that
    /// began before it has been committed, usually within moments. Partner keys see their organisation's
    /// events and every session change; trainer and learner keys may not read the feed.
    #[oai(path = "/", method = "get", operation_id = "list_events")]
    async fn list(
        &self,
        req: &poem::Request,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        /// The cursor of the last event you processed (`next_after` of the previous page);
        /// omit to start from the beginning.
        after: Query<Option<String>>,
        /// Only events of this type, e.g. `booking.cancelled`.
        #[oai(name = "type")]
        kind: Query<Option<String>>,
        /// Page size, 1–500 (default 100).
        limit: Query<Option<u64>>,
    ) -> ApiResult<Json<EventPage>> {
        let limit = limit.0.unwrap_or(100);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::invalid(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        Ok(Json(
            events::feed(
                &*crate::auth::reads(req, &state),
                &auth.0,
                after.0.as_deref(),
                limit,
                kind.0.as_deref(),
            )
            .await?,
        ))
    }
}
