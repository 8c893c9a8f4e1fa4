//! Every kind of problem Cascade answers with, in one list: its slug (the last segment of the
//! problem `type`), its status and what it means. The error model builds problems from it, and a
//! test holds the README's list of refusals to it.

use poem::http::StatusCode;

/// The base of every problem `type` URL.
pub const TYPE_BASE: &str = "https://cascade.invalid/problems/";

/// A kind of problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProblemKind {
    /// Malformed JSON, an unknown field, or a malformed header.
    BadRequest,
    /// Invalid input; `errors` names each field.
    Validation,
    /// No valid API key.
    Unauthorized,
    /// The key's role may not do this, or the record is another partner's.
    Forbidden,
    /// Only the person's employing organisation may change their own details.
    NotEmployer,
    /// No such record, or not one the key may see.
    NotFound,
    /// The route does not take this method.
    MethodNotAllowed,
    /// A unique value is taken.
    Conflict,
    /// The same Idempotency-Key is still being answered.
    IdempotencyKeyInProgress,
    /// The Idempotency-Key was used for a different request.
    IdempotencyKeyReused,
    /// `If-Match` names a stale version.
    PreconditionFailed,
    /// The body is over the route's limit.
    PayloadTooLarge,
    /// The body is not JSON.
    UnsupportedMediaType,
    /// Over a rate limit; `Retry-After` says when to try again.
    TooManyRequests,
    /// The person is inactive.
    PersonInactive,
    /// The course's prerequisites are not completed.
    PrerequisitesMissing,
    /// The person holds or awaits a place on this session.
    AlreadyBooked,
    /// The person holds or awaits a place on another upcoming session of the course.
    AlreadyBookedOnCourse,
    /// The person holds a place at an overlapping time.
    ScheduleClash,
    /// Booking has not opened yet.
    BookingNotOpen,
    /// Booking has closed.
    BookingClosed,
    /// The session was cancelled.
    SessionCancelled,
    /// The session has started.
    SessionStarted,
    /// The session is completed.
    SessionCompleted,
    /// The organisation holds as many places as the course allows it.
    OrganisationCapReached,
    /// The person has no active membership to book for.
    NoOrganisation,
    /// The organisation is inactive.
    OrganisationInactive,
    /// A walk-in was asked for while booking is still open.
    BookingStillOpen,
    /// A walk-in was asked for and every place is taken.
    SessionFull,
    /// The booking is already cancelled.
    BookingNotActive,
    /// The booking is on the waitlist.
    BookingWaitlisted,
    /// The capacity would be below the places confirmed.
    CapacityBelowConfirmed,
    /// The session is no longer scheduled.
    SessionNotScheduled,
    /// The session's last sitting has not ended.
    SessionNotFinished,
    /// The cascade session's correction period is over.
    CorrectionWindowClosed,
    /// The person is not a licensed trainer.
    TrainerNotEligible,
    /// Pipeline steps go in order.
    StepOutOfOrder,
    /// The step is already recorded.
    StepAlreadyRecorded,
    /// Cascade records this step itself from the data.
    StepAutomatic,
    /// Only an accredited trainer signs off.
    SignOffNotAccredited,
    /// Renewal needs the required cascade sessions, or a reason.
    RenewalNeedsDeliveries,
    /// The year's trainer target is reached; a reason is needed.
    TrainerTargetReached,
    /// The certificate is revoked or superseded.
    CertificateNotCurrent,
    /// The session has no certificates yet.
    NoCertificates,
    /// Text has a character no built-in font has.
    UnprintableText,
    /// Only a late cancellation or a no-show is charged.
    NothingToWaive,
    /// The calendar feed is revoked.
    FeedRevoked,
    /// The membership request is already decided.
    RequestDecided,
    /// The requesting organisation or the person has gone.
    RequestStale,
    /// The person is already erased.
    AlreadyErased,
    /// A key cannot revoke itself.
    OwnKey,
    /// The request ran over its time; nothing was written.
    Timeout,
    /// The server's body memory is in use; retry.
    Busy,
    /// The database is unreachable.
    NotReady,
    /// An unexpected failure, logged.
    Internal,
}

impl ProblemKind {
    /// Every kind, in the README's order.
    pub const ALL: [ProblemKind; 55] = [
        Self::BadRequest,
        Self::Validation,
        Self::Unauthorized,
        Self::Forbidden,
        Self::NotEmployer,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::Conflict,
        Self::IdempotencyKeyInProgress,
        Self::IdempotencyKeyReused,
        Self::PreconditionFailed,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::TooManyRequests,
        Self::PersonInactive,
        Self::PrerequisitesMissing,
        Self::AlreadyBooked,
        Self::AlreadyBookedOnCourse,
        Self::ScheduleClash,
        Self::BookingNotOpen,
        Self::BookingClosed,
        Self::SessionCancelled,
        Self::SessionStarted,
        Self::SessionCompleted,
        Self::OrganisationCapReached,
        Self::NoOrganisation,
        Self::OrganisationInactive,
        Self::BookingStillOpen,
        Self::SessionFull,
        Self::BookingNotActive,
        Self::BookingWaitlisted,
        Self::CapacityBelowConfirmed,
        Self::SessionNotScheduled,
        Self::SessionNotFinished,
        Self::CorrectionWindowClosed,
        Self::TrainerNotEligible,
        Self::StepOutOfOrder,
        Self::StepAlreadyRecorded,
        Self::StepAutomatic,
        Self::SignOffNotAccredited,
        Self::RenewalNeedsDeliveries,
        Self::TrainerTargetReached,
        Self::CertificateNotCurrent,
        Self::NoCertificates,
        Self::UnprintableText,
        Self::NothingToWaive,
        Self::FeedRevoked,
        Self::RequestDecided,
        Self::RequestStale,
        Self::AlreadyErased,
        Self::OwnKey,
        Self::Timeout,
        Self::Busy,
        Self::NotReady,
        Self::Internal,
    ];

    /// The last segment of the problem `type`, e.g. `already-booked`.
    pub fn slug(self) -> &'static str {
        match self {
            Self::BadRequest => "bad-request",
            Self::Validation => "validation",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotEmployer => "not-employer",
            Self::NotFound => "not-found",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::Conflict => "conflict",
            Self::IdempotencyKeyInProgress => "idempotency-key-in-progress",
            Self::IdempotencyKeyReused => "idempotency-key-reused",
            Self::PreconditionFailed => "precondition-failed",
            Self::PayloadTooLarge => "payload-too-large",
            Self::UnsupportedMediaType => "unsupported-media-type",
            Self::TooManyRequests => "too-many-requests",
            Self::PersonInactive => "person-inactive",
            Self::PrerequisitesMissing => "prerequisites-missing",
            Self::AlreadyBooked => "already-booked",
            Self::AlreadyBookedOnCourse => "already-booked-on-course",
            Self::ScheduleClash => "schedule-clash",
            Self::BookingNotOpen => "booking-not-open",
            Self::BookingStillOpen => "booking-still-open",
            Self::SessionFull => "session-full",
            Self::BookingClosed => "booking-closed",
            Self::SessionCancelled => "session-cancelled",
            Self::SessionStarted => "session-started",
            Self::SessionCompleted => "session-completed",
            Self::OrganisationCapReached => "organisation-cap-reached",
            Self::NoOrganisation => "no-organisation",
            Self::OrganisationInactive => "organisation-inactive",
            Self::BookingNotActive => "booking-not-active",
            Self::BookingWaitlisted => "booking-waitlisted",
            Self::CapacityBelowConfirmed => "capacity-below-confirmed",
            Self::SessionNotScheduled => "session-not-scheduled",
            Self::SessionNotFinished => "session-not-finished",
            Self::CorrectionWindowClosed => "correction-window-closed",
            Self::TrainerNotEligible => "trainer-not-eligible",
            Self::StepOutOfOrder => "step-out-of-order",
            Self::StepAlreadyRecorded => "step-already-recorded",
            Self::StepAutomatic => "step-automatic",
            Self::SignOffNotAccredited => "sign-off-not-accredited",
            Self::RenewalNeedsDeliveries => "renewal-needs-deliveries",
            Self::TrainerTargetReached => "trainer-target-reached",
            Self::CertificateNotCurrent => "certificate-not-current",
            Self::NoCertificates => "no-certificates",
            Self::UnprintableText => "unprintable-text",
            Self::NothingToWaive => "nothing-to-waive",
            Self::FeedRevoked => "feed-revoked",
            Self::RequestDecided => "request-decided",
            Self::RequestStale => "request-stale",
            Self::AlreadyErased => "already-erased",
            Self::OwnKey => "own-key",
            Self::Timeout => "timeout",
            Self::Busy => "busy",
            Self::NotReady => "not-ready",
            Self::Internal => "internal",
        }
    }

    /// The HTTP status this kind is answered with.
    pub fn status(self) -> StatusCode {
        match self {
            Self::BadRequest => StatusCode::BAD_REQUEST,
            Self::Validation | Self::IdempotencyKeyReused | Self::UnprintableText => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::NotEmployer => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict
            | Self::IdempotencyKeyInProgress
            | Self::PersonInactive
            | Self::PrerequisitesMissing
            | Self::AlreadyBooked
            | Self::AlreadyBookedOnCourse
            | Self::ScheduleClash
            | Self::BookingNotOpen
            | Self::BookingStillOpen
            | Self::SessionFull
            | Self::BookingClosed
            | Self::SessionCancelled
            | Self::SessionStarted
            | Self::SessionCompleted
            | Self::OrganisationCapReached
            | Self::NoOrganisation
            | Self::OrganisationInactive
            | Self::BookingNotActive
            | Self::BookingWaitlisted
            | Self::CapacityBelowConfirmed
            | Self::SessionNotScheduled
            | Self::SessionNotFinished
            | Self::CorrectionWindowClosed
            | Self::TrainerNotEligible
            | Self::StepOutOfOrder
            | Self::StepAlreadyRecorded
            | Self::StepAutomatic
            | Self::SignOffNotAccredited
            | Self::RenewalNeedsDeliveries
            | Self::TrainerTargetReached
            | Self::CertificateNotCurrent
            | Self::NoCertificates
            | Self::NothingToWaive
            | Self::FeedRevoked
            | Self::RequestDecided
            | Self::RequestStale
            | Self::AlreadyErased
            | Self::OwnKey => StatusCode::CONFLICT,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Self::Timeout | Self::Busy | Self::NotReady => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The problem's title: the status's reason phrase.
    pub fn title(self) -> String {
        self.status()
            .canonical_reason()
            .unwrap_or("Error")
            .to_owned()
    }

    /// The problem `type` URL.
    pub fn url(self) -> String {
        format!("{TYPE_BASE}{}", self.slug())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's table of problem kinds lists every kind, with its status, and no other.
    #[test]
    fn the_readme_lists_every_kind_with_its_status() {
        let readme = include_str!("../../README.md");
        let mut listed: Vec<(String, u16)> = Vec::new();
        for line in readme.lines().filter(|l| l.starts_with("| `")) {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let Ok(status) = cells.get(2).copied().unwrap_or_default().parse::<u16>() else {
                continue;
            };
            for kind in cells[1].split(", ") {
                listed.push((kind.trim_matches('`').to_owned(), status));
            }
        }
        let known: Vec<(String, u16)> = ProblemKind::ALL
            .iter()
            .map(|k| (k.slug().to_owned(), k.status().as_u16()))
            .collect();
        assert_eq!(listed, known);
    }
}
