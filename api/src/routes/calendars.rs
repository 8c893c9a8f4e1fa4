use crate::ctx::Ctx;
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Header, Path, Query},
    payload::{Json, PlainText},
};
use uuid::Uuid;

use super::{ApiTags, Created, Page};
use crate::{
    auth::{Action, ApiKey},
    domain::calendars::{self, CalendarFeed, NewCalendarFeed},
    error::ApiResult,
    pagination::PageRequest,
    state::AppState,
};

/// An iCalendar document.
#[derive(ApiResponse)]
pub enum IcsResponse {
    /// The calendar (RFC 5545), with an ETag for conditional requests.
    #[oai(status = 200, content_type = "text/calendar; charset=utf-8")]
    Calendar(
        PlainText<String>,
        #[oai(header = "ETag")] String,
        #[oai(header = "Cache-Control")] String,
    ),
    /// Unchanged since the ETag sent in `If-None-Match`.
    #[oai(status = 304)]
    NotModified(#[oai(header = "ETag")] String),
}

impl IcsResponse {
    fn of(body: String, if_none_match: Option<&str>, cache: &str) -> Self {
        let etag = crate::digest::etag(body.as_bytes());
        if if_none_match.is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
        {
            return Self::NotModified(etag);
        }
        Self::Calendar(PlainText(body), etag, cache.to_owned())
    }
}

pub struct CalendarsApi;

#[OpenApi(tag = "ApiTags::Calendars")]
impl CalendarsApi {
    /// Download a session's calendar
    ///
    /// Every sitting as its own event with a stable UID, times in Europe/London (with its
    /// VTIMEZONE), `SEQUENCE` = the session's revision, and `STATUS:CANCELLED` once cancelled.
    #[oai(
        path = "/sessions/:id/calendar.ics",
        method = "get",
        operation_id = "get_session_calendar"
    )]
    async fn session(
        &self,
        req: &poem::Request,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
        /// An ETag from an earlier answer: 304 when nothing changed.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
    ) -> ApiResult<IcsResponse> {
        auth.0.require(Action::ReadCatalogue)?;
        let body =
            calendars::session_calendar(&*crate::auth::reads(req, &state), &state.clock, id.0)
                .await?;
        Ok(IcsResponse::of(
            body,
            if_none_match.0.as_deref(),
            "private, max-age=60",
        ))
    }

    /// Download a booking's invitation
    ///
    /// `METHOD:REQUEST` with the organiser and the attendee, one event per sitting, while the
    /// place is held; `METHOD:CANCEL` with the same UIDs and a higher `SEQUENCE` once the booking
    /// or the session is cancelled, so calendar clients remove the events. A waitlisted booking
    /// has no invitation yet (409 `booking-waitlisted`).
    #[oai(
        path = "/bookings/:id/invite.ics",
        method = "get",
        operation_id = "get_booking_invite"
    )]
    async fn invite(
        &self,
        req: &poem::Request,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
        /// An ETag from an earlier answer: 304 when nothing changed.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
    ) -> ApiResult<IcsResponse> {
        auth.0.require(Action::Book)?;
        let body = calendars::invite(
            &*crate::auth::reads(req, &state),
            &state.config,
            &state.clock,
            &auth.0,
            id.0,
        )
        .await?;
        Ok(IcsResponse::of(
            body,
            if_none_match.0.as_deref(),
            "private, no-cache",
        ))
    }

    /// List calendar feeds
    ///
    /// Coordinators see all; others the feeds they created and their own. Tokens are never shown
    /// again after creation or rotation.
    #[oai(
        path = "/calendar-feeds",
        method = "get",
        operation_id = "list_calendar_feeds"
    )]
    async fn list(
        &self,
        req: &poem::Request,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u64>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Json<Page<CalendarFeed>>> {
        auth.0.require(Action::ReadCatalogue)?;
        let page = PageRequest::parse(limit.0, cursor.0.as_deref())?;
        Ok(Page::json(
            calendars::list_feeds(
                &*crate::auth::reads(req, &state),
                &state.config,
                &auth.0,
                page,
            )
            .await?,
        ))
    }

    /// Create a calendar feed
    ///
    /// A person's feed (their places and the sessions they facilitate) or a programme's (its
    /// sessions). The answer carries the secret address once, as `url` and `webcal_url`.
    #[oai(
        path = "/calendar-feeds",
        method = "post",
        operation_id = "create_calendar_feed"
    )]
    async fn create(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        body: Json<NewCalendarFeed>,
    ) -> ApiResult<Created<CalendarFeed>> {
        auth.0.require(Action::ReadCatalogue)?;
        let feed =
            calendars::create_feed(&Ctx::request(&state, &auth.0), &state.config, body.0).await?;
        let location = format!("/api/v1/calendar-feeds/{}", feed.id);
        Ok(Created::Created(Json(feed), location))
    }

    /// Rotate a calendar feed's address
    ///
    /// The old address stops working at once; the answer carries the new one.
    #[oai(
        path = "/calendar-feeds/:id/rotate",
        method = "post",
        operation_id = "rotate_calendar_feed"
    )]
    async fn rotate(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<CalendarFeed>> {
        auth.0.require(Action::ReadCatalogue)?;
        Ok(Json(
            calendars::rotate_feed(&Ctx::request(&state, &auth.0), &state.config, id.0).await?,
        ))
    }

    /// Revoke a calendar feed
    ///
    /// Its address stops answering at once (404). Revoking twice changes nothing. Create a new feed
    /// to subscribe again.
    #[oai(
        path = "/calendar-feeds/:id/revoke",
        method = "post",
        operation_id = "revoke_calendar_feed"
    )]
    async fn revoke(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<CalendarFeed>> {
        auth.0.require(Action::ReadCatalogue)?;
        Ok(Json(
            calendars::revoke_feed(&Ctx::request(&state, &auth.0), &state.config, id.0).await?,
        ))
    }

    /// Read a calendar feed (public, by secret address)
    ///
    /// No key needed: the token in the address is the secret. Subscribe with the `webcal_url`.
    #[oai(
        path = "/feeds/:token/calendar.ics",
        method = "get",
        operation_id = "get_calendar_feed"
    )]
    async fn feed(
        &self,
        req: &poem::Request,
        state: poem::web::Data<&AppState>,
        /// The feed's secret token.
        token: Path<String>,
        /// An ETag from an earlier answer: 304 when nothing changed.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
    ) -> ApiResult<IcsResponse> {
        let body =
            calendars::feed_calendar(&*crate::auth::reads(req, &state), &state.clock, &token.0)
                .await?;
        Ok(IcsResponse::of(
            body,
            if_none_match.0.as_deref(),
            "private, max-age=300",
        ))
    }
}
