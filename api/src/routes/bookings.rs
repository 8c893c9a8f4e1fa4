use crate::ctx::Ctx;
use poem_openapi::{
    OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};
use uuid::Uuid;

use super::{ApiTags, Created, Page};
use crate::{
    auth::{Action, ApiKey},
    domain::bookings::{
        self, BatchBooking, Booking, BookingCancellation, BookingStatusCode, NewBooking,
        NewBookings,
    },
    error::ApiResult,
    pagination::PageRequest,
    state::AppState,
};

pub struct BookingsApi;

#[OpenApi(tag = "ApiTags::Bookings")]
impl BookingsApi {
    /// Book a place on a session
    ///
    /// Coordinators may book anyone; a partner key its own organisation's staff; a learner or
    /// trainer key only itself. The answer is `confirmed` (holding a `general` or `reserved`
    /// place) or `waitlisted` with a position. People of the course's reserved sector take a free
    /// reserved place first. Each refusal has its own problem `type`: `person-inactive`,
    /// `prerequisites-missing`, `already-booked`, `already-booked-on-course`, `schedule-clash`,
    /// `booking-not-open`, `booking-closed`, `session-cancelled`, `session-started`,
    /// `session-completed`, `organisation-cap-reached`, `no-organisation`,
    /// `organisation-inactive`. Send an `Idempotency-Key` to retry safely.
    #[oai(
        path = "/sessions/:id/bookings",
        method = "post",
        operation_id = "create_booking"
    )]
    async fn create(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        /// The session.
        id: Path<Uuid>,
        /// Any unique string (e.g. a UUID): a retry with the same key and body returns the first
        /// answer instead of booking twice.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
        body: Json<NewBooking>,
    ) -> ApiResult<Created<Booking>> {
        auth.0.require(Action::Book)?;
        let result = bookings::create(&Ctx::request(&state, &auth.0), id.0, body.0).await;
        state.metrics.booking(match &result {
            Ok(b) if b.status == BookingStatusCode::Confirmed => "confirmed",
            Ok(_) => "waitlisted",
            Err(e) if e.status().is_client_error() => "refused",
            Err(_) => "failed",
        });
        let booking = result?;
        let location = format!("/api/v1/bookings/{}", booking.id);
        Ok(Created::Created(Json(booking), location))
    }

    /// Add a walk-in at the venue
    ///
    /// For whoever keeps the register (coordinators, and trainers for sessions they facilitate):
    /// someone who turns up once the session has started or booking has closed gets a confirmed
    /// place, to be marked on the register like anyone booked. Only a free place: `session-full`
    /// when every place is taken (raise the capacity first), `booking-still-open` while people
    /// can still book the usual way; otherwise the booking rules and refusals of `POST
    /// /sessions/{id}/bookings` apply (`already-booked`, `person-inactive`, …). Send an
    /// `Idempotency-Key` to retry safely.
    #[oai(
        path = "/sessions/:id/walk-ins",
        method = "post",
        operation_id = "create_walk_in"
    )]
    async fn walk_in(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        /// The session.
        id: Path<Uuid>,
        /// Any unique string: a retry with the same key and body returns the first answer.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
        body: Json<NewBooking>,
    ) -> ApiResult<Created<Booking>> {
        auth.0.require(Action::KeepRegister)?;
        let booking = bookings::walk_in(&Ctx::request(&state, &auth.0), id.0, body.0).await?;
        let location = format!("/api/v1/bookings/{}", booking.id);
        Ok(Created::Created(Json(booking), location))
    }

    /// Book several people onto a session
    ///
    /// Each person in turn, in the order sent, under exactly the rules (and refusals) of a single
    /// booking, each in a transaction of its own: one refusal never undoes the others, and the
    /// answer reports every person's outcome — `201` with the booking (confirmed or waitlisted),
    /// or the refusal's status with its problem. 1–100 people, each once (`422 validation`
    /// otherwise). Send an `Idempotency-Key` to retry safely: the whole answer is stored.
    #[oai(
        path = "/sessions/:id/bookings/batch",
        method = "post",
        operation_id = "create_bookings"
    )]
    async fn create_many(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        /// The session.
        id: Path<Uuid>,
        /// Any unique string (e.g. a UUID): a retry with the same key and body returns the first
        /// answer instead of booking twice.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
        body: Json<NewBookings>,
    ) -> ApiResult<Json<BatchBooking>> {
        auth.0.require(Action::Book)?;
        let batch = bookings::create_many(&Ctx::request(&state, &auth.0), id.0, body.0).await?;
        for outcome in &batch.results {
            state.metrics.booking(match &outcome.booking {
                Some(b) if b.status == BookingStatusCode::Confirmed => "confirmed",
                Some(_) => "waitlisted",
                None => "refused",
            });
        }
        Ok(Json(batch))
    }

    /// List a session's bookings
    ///
    /// Coordinators and the session's facilitators see every booking; a partner sees the places
    /// booked for its organisation; a learner its own.
    #[oai(
        path = "/sessions/:id/bookings",
        method = "get",
        operation_id = "list_session_bookings"
    )]
    async fn list_for_session(
        &self,
        req: &poem::Request,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        /// The session.
        id: Path<Uuid>,
        /// Only bookings with this status.
        status: Query<Option<BookingStatusCode>>,
        /// Only bookings changed at or after this instant (RFC 3339): poll with the time of
        /// your last sync.
        updated_since: Query<Option<chrono::DateTime<chrono::Utc>>>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u64>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Json<Page<Booking>>> {
        auth.0.require(Action::Book)?;
        let page = PageRequest::parse(limit.0, cursor.0.as_deref())?;
        let status = status.0.map(Into::into);
        Ok(Page::json(
            bookings::list_for_session(
                &*crate::auth::reads(req, &state),
                &auth.0,
                id.0,
                status,
                updated_since.0,
                page,
            )
            .await?,
        ))
    }

    /// Get a booking
    ///
    /// Its status, the place it holds (general or reserved), waitlist position, who booked it and
    /// when, and its cancellation. A partner reaches the places booked for its organisation, a
    /// learner or trainer their own, and a trainer every booking of a session it facilitates.
    #[oai(path = "/bookings/:id", method = "get", operation_id = "get_booking")]
    async fn get(
        &self,
        req: &poem::Request,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<Booking>> {
        auth.0.require(Action::Book)?;
        Ok(Json(
            bookings::get(&*crate::auth::reads(req, &state), &auth.0, id.0).await?,
        ))
    }

    /// Cancel a booking
    ///
    /// By the person, their partner or a coordinator, before the session starts. A confirmed
    /// place given up within the session's late-cancellation period is marked late. The freed
    /// place goes to the first eligible person on the waitlist at once.
    #[oai(
        path = "/bookings/:id/cancel",
        method = "post",
        operation_id = "cancel_booking"
    )]
    async fn cancel(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
        body: Json<BookingCancellation>,
    ) -> ApiResult<Json<Booking>> {
        auth.0.require(Action::Book)?;
        Ok(Json(
            bookings::cancel(&Ctx::request(&state, &auth.0), id.0, body.0).await?,
        ))
    }

    /// Move someone off the waitlist (coordinators and admins)
    ///
    /// Ahead of the waitlist's order: the person takes a free place if the rules give them one,
    /// otherwise the session gains a place for them (its capacity rises by one, at most 1,000).
    /// Only before the first sitting starts (`session-started`); `booking-not-active` when the
    /// booking is not waiting; `schedule-clash` when they hold a place at an overlapping time.
    /// They are emailed as for any promotion.
    #[oai(
        path = "/bookings/:id/place",
        method = "post",
        operation_id = "give_waitlisted_place"
    )]
    async fn give_place(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<Booking>> {
        auth.0.require(Action::ManageSessions)?;
        let id =
            crate::domain::sessions::waitlist::give_place(&Ctx::request(&state, &auth.0), id.0)
                .await?;
        Ok(Json(bookings::get(&state.db, &auth.0, id).await?))
    }

    /// List a person's bookings
    ///
    /// A partner sees the places booked for its organisation; a learner or trainer its own.
    #[oai(
        path = "/people/:id/bookings",
        method = "get",
        operation_id = "list_person_bookings"
    )]
    async fn list_for_person(
        &self,
        req: &poem::Request,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        /// The person.
        id: Path<Uuid>,
        /// Only bookings with this status.
        status: Query<Option<BookingStatusCode>>,
        /// Only bookings changed at or after this instant (RFC 3339): poll with the time of
        /// your last sync.
        updated_since: Query<Option<chrono::DateTime<chrono::Utc>>>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u64>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Json<Page<Booking>>> {
        auth.0.require(Action::Book)?;
        let page = PageRequest::parse(limit.0, cursor.0.as_deref())?;
        let status = status.0.map(Into::into);
        Ok(Page::json(
            bookings::list_for_person(
                &*crate::auth::reads(req, &state),
                &auth.0,
                id.0,
                status,
                updated_since.0,
                page,
            )
            .await?,
        ))
    }
}
