use crate::ctx::Ctx;
use crate::versions::{Precondition, versioned};
use chrono::NaiveDate;
use poem_openapi::{
    OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};
use uuid::Uuid;

use super::{ApiTags, Created, Page, Serialized};
use crate::{
    auth::{Action, ApiKey},
    domain::mail,
    domain::sessions::{
        self, NewSession, Session, SessionFilter, SessionStatusCode,
        changes::{SessionCancellation, SessionChanges},
        past::PastSession,
        preview,
    },
    error::ApiResult,
    pagination::PageRequest,
    state::AppState,
};

pub struct SessionsApi;

#[OpenApi(prefix_path = "/sessions", tag = "ApiTags::Sessions")]
impl SessionsApi {
    /// List sessions
    ///
    /// Every role may browse sessions. Each carries its availability (confirmed, reserved and
    /// general places free, waitlist). Filter by programme, course, locality, status, the London
    /// date range of the first sitting, and whether places are free.
    #[oai(path = "/", method = "get", operation_id = "list_sessions")]
    async fn list(
        &self,
        req: &poem::Request,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        /// Only sessions of this programme.
        programme_id: Query<Option<Uuid>>,
        /// Only sessions of this course.
        course_id: Query<Option<Uuid>>,
        /// Only sessions at a venue in this locality.
        locality_id: Query<Option<Uuid>>,
        /// Only sessions with this status.
        status: Query<Option<SessionStatusCode>>,
        /// Only sessions whose first sitting is on or after this London date.
        from: Query<Option<NaiveDate>>,
        /// Only sessions whose first sitting is on or before this London date.
        to: Query<Option<NaiveDate>>,
        /// true: only scheduled sessions with a free place (general or reserved); false: only full,
        /// cancelled or completed ones.
        has_free_places: Query<Option<bool>>,
        /// Only sessions this person facilitates.
        facilitator_id: Query<Option<Uuid>>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u64>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Serialized<Page<Session>>> {
        auth.0.require(Action::ReadCatalogue)?;
        let page = PageRequest::parse(limit.0, cursor.0.as_deref())?;
        let filter = SessionFilter {
            programme_id: programme_id.0,
            course_id: course_id.0,
            locality_id: locality_id.0,
            status: status.0.map(Into::into),
            from: from.0,
            to: to.0,
            has_free_places: has_free_places.0,
            facilitator_id: facilitator_id.0,
        };
        let reads = crate::auth::reads(req, &state);
        Ok(Page::serialized(
            sessions::list(&*reads, &state.clock, filter, page).await?,
        ))
    }

    /// Schedule a session (coordinators and admins)
    ///
    /// Sittings are given as London dates and wall-clock times and stored as instants. The
    /// course's reserved-place policy is fixed for the session now: it reserves
    /// ceil(capacity × share) places for the sector until the release date. Send an
    /// `Idempotency-Key` to retry safely.
    #[oai(path = "/", method = "post", operation_id = "create_session")]
    async fn create(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        /// Any unique string (e.g. a UUID): a retry with the same key and body returns the first
        /// answer instead of scheduling twice.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
        body: Json<NewSession>,
    ) -> ApiResult<Created<Session>> {
        auth.0.require(Action::ManageSessions)?;
        let session = sessions::create(&Ctx::request(&state, &auth.0), body.0).await?;
        let location = format!("/api/v1/sessions/{}", session.id);
        Ok(Created::Created(Json(session), location))
    }

    /// Preview a session before scheduling it (coordinators and admins)
    ///
    /// Checks the session exactly as `POST /sessions` would (the same `422` refusals) and writes
    /// nothing: the capacity, the places the course's policy would hold for the reserved sector
    /// and when they would be released, when booking would close, and the conflicts — other
    /// scheduled sessions at an overlapping time that share a facilitator or the venue (by name,
    /// ignoring case). Conflicts do not stop scheduling.
    #[oai(path = "/preview", method = "post", operation_id = "preview_session")]
    async fn preview(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        body: Json<NewSession>,
    ) -> ApiResult<Json<preview::SessionPreview>> {
        auth.0.require(Action::ManageSessions)?;
        crate::audit::mark_read_only();
        Ok(Json(
            preview::preview(&state.db, &state.clock, &body.0).await?,
        ))
    }

    /// Get a session with its availability
    ///
    /// Its sittings (London dates and times, and UTC instants), venue or link, facilitators,
    /// booking window, status, revision, reserved places and release time, and availability now:
    /// confirmed, reserved and general places free, and the waitlist.
    #[oai(path = "/:id", method = "get", operation_id = "get_session")]
    async fn get(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<poem_openapi::payload::Response<Json<Session>>> {
        auth.0.require(Action::ReadCatalogue)?;
        let (session, version) = sessions::get_settled(&state.db, &state.clock, id.0).await?;
        Ok(versioned(session, version))
    }

    /// Change a scheduled session (coordinators and admins)
    ///
    /// Changes to times, venue, link or facilitators raise `revision`. Capacity may not go below
    /// the confirmed places (409 `capacity-below-confirmed`); raising it promotes from the
    /// waitlist at once.
    #[oai(path = "/:id", method = "patch", operation_id = "update_session")]
    async fn update(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
        body: Json<SessionChanges>,
        precondition: Precondition,
    ) -> ApiResult<poem_openapi::payload::Response<Json<Session>>> {
        auth.0.require(Action::ManageSessions)?;
        let ctx = Ctx::request(&state, &auth.0).expecting(precondition);
        let (session, version) = sessions::update(&ctx, id.0, body.0).await?;
        Ok(versioned(session, version))
    }

    /// Cancel a session (coordinators and admins)
    ///
    /// Every confirmed and waitlisted booking is cancelled with the reason `session_cancelled`.
    #[oai(path = "/:id/cancel", method = "post", operation_id = "cancel_session")]
    async fn cancel(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
        body: Json<SessionCancellation>,
    ) -> ApiResult<Json<Session>> {
        auth.0.require(Action::ManageSessions)?;
        Ok(Json(
            sessions::cancel(&Ctx::request(&state, &auth.0), id.0, body.0).await?,
        ))
    }

    /// Message everyone with a place (coordinators and admins)
    ///
    /// One email to each person with a confirmed place on a scheduled session: the subject after
    /// the session's title, the text, and the session's details (a room change, what to bring).
    /// Sent by the mail worker like every other message; the answer says how many were queued.
    #[oai(
        path = "/:id/messages",
        method = "post",
        operation_id = "message_session_attendees"
    )]
    async fn message(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
        body: Json<mail::SessionMessage>,
    ) -> ApiResult<Json<mail::MessageSent>> {
        auth.0.require(Action::ManageSessions)?;
        Ok(Json(
            mail::message_attendees(
                &Ctx::request(&state, &auth.0),
                id.0,
                "Your training coordinator",
                body.0,
            )
            .await?,
        ))
    }
}

pub struct PastSessionsApi;

#[OpenApi(tag = "ApiTags::Sessions")]
impl PastSessionsApi {
    /// Record a session that already took place (coordinators and admins)
    ///
    /// For a partnership that adopts Cascade part-way through a year: the session, everyone who
    /// held a place and the sittings each attended, in one request and one transaction (all of
    /// it or none). The live rules run as they would have then — the booking rules a minute
    /// before the first sitting, the register and the completion when the last sitting ended
    /// — so champions, trainer steps, funding and charges follow as for a live session; only
    /// the checks that the session is still to come are left out. Sittings must all have ended.
    /// A refused booking names the attendee (`attendees[2] (…): …`) with the booking's own
    /// problem `type`; more attendees than places is `422` on `capacity`. Certificates are issued
    /// only with `issue_certificates: true`. Audit entries say "recorded after the fact".
    #[oai(
        path = "/past-sessions",
        method = "post",
        operation_id = "record_past_session"
    )]
    async fn record(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        /// Any unique string (e.g. a UUID): a retry with the same key and body returns the first
        /// answer instead of recording twice.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
        body: Json<PastSession>,
    ) -> ApiResult<Created<Session>> {
        auth.0.require(Action::ManageSessions)?;
        let session =
            sessions::past::record(&Ctx::request(&state, &auth.0), &state.config, body.0).await?;
        let location = format!("/api/v1/sessions/{}", session.id);
        Ok(Created::Created(Json(session), location))
    }
}
