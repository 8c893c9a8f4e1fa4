use crate::ctx::Ctx;
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Path, Query},
    payload::{Binary, Json},
};
use uuid::Uuid;

use super::{ApiTags, Page};
use crate::{
    auth::{Action, ApiKey},
    domain::certificates::{
        self, Certificate, CertificateFilter, CertificateKind, Revocation, Verification,
    },
    error::{ApiError, ApiResult},
    pagination::PageRequest,
    state::AppState,
};

/// A PDF document.
#[derive(ApiResponse)]
pub enum PdfResponse {
    /// The PDF (A4 landscape, one certificate per page).
    #[oai(status = 200, content_type = "application/pdf")]
    Pdf(
        Binary<Vec<u8>>,
        #[oai(header = "Content-Disposition")] String,
    ),
}

pub struct CertificatesApi;

#[OpenApi(tag = "ApiTags::Certificates")]
impl CertificatesApi {
    /// List certificates
    ///
    /// Coordinators see all; a partner its own staff's; a learner or trainer their own.
    #[oai(
        path = "/certificates",
        method = "get",
        operation_id = "list_certificates"
    )]
    async fn list(
        &self,
        req: &poem::Request,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        /// Only this person's.
        person_id: Query<Option<Uuid>>,
        /// Only certificates of this course.
        course_id: Query<Option<Uuid>>,
        /// Only certificates of this programme.
        programme_id: Query<Option<Uuid>>,
        /// Only certificates from this session.
        session_id: Query<Option<Uuid>>,
        /// Only completion certificates or only trainer licences.
        kind: Query<Option<CertificateKind>>,
        /// Only certificates issued, revoked or superseded at or after this instant (RFC 3339):
        /// poll with the time of your last sync.
        updated_since: Query<Option<chrono::DateTime<chrono::Utc>>>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u64>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Json<Page<Certificate>>> {
        auth.0.require(Action::ReadRecords)?;
        let page = PageRequest::parse(limit.0, cursor.0.as_deref())?;
        let filter = CertificateFilter {
            person_id: person_id.0,
            course_id: course_id.0,
            programme_id: programme_id.0,
            session_id: session_id.0,
            kind: kind.0,
            updated_since: updated_since.0,
        };
        Ok(Page::json(
            certificates::list(
                &*crate::auth::reads(req, &state),
                &state.config,
                &state.clock,
                &auth.0,
                filter,
                page,
            )
            .await?,
        ))
    }

    /// Get a certificate
    ///
    /// What it prints (name, course, programme, dates, CPD hours, issuer), its number, verification
    /// code and link, and its status: valid, expired, revoked or superseded. Partners read the
    /// certificates produced for their organisation; learners and trainers their own.
    #[oai(
        path = "/certificates/:id",
        method = "get",
        operation_id = "get_certificate"
    )]
    async fn get(
        &self,
        req: &poem::Request,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<Certificate>> {
        auth.0.require(Action::ReadRecords)?;
        Ok(Json(
            certificates::get(
                &*crate::auth::reads(req, &state),
                &state.config,
                &state.clock,
                &auth.0,
                id.0,
            )
            .await?,
        ))
    }

    /// Download a certificate as PDF
    ///
    /// The name exactly as recorded (in any script the built-in fonts cover), the course and
    /// programme, dates, CPD hours, the issuing partnership, the number, and the verification
    /// link with its QR code. A character no built-in font has is refused with
    /// `422 unprintable-text` naming it, never printed as a box.
    #[oai(
        path = "/certificates/:id/pdf",
        method = "get",
        operation_id = "get_certificate_pdf"
    )]
    async fn pdf(
        &self,
        req: &poem::Request,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<PdfResponse> {
        auth.0.require(Action::ReadRecords)?;
        let (bytes, number) = certificates::pdf(
            &*crate::auth::reads(req, &state),
            &state.config,
            &auth.0,
            id.0,
        )
        .await?;
        Ok(PdfResponse::Pdf(
            Binary(bytes),
            format!("inline; filename=\"{number}.pdf\""),
        ))
    }

    /// Revoke a certificate (coordinators and admins)
    ///
    /// It then verifies as `revoked`, with the date.
    #[oai(
        path = "/certificates/:id/revoke",
        method = "post",
        operation_id = "revoke_certificate"
    )]
    async fn revoke(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
        body: Json<Revocation>,
    ) -> ApiResult<Json<Certificate>> {
        auth.0.require(Action::ManageCertificates)?;
        Ok(Json(
            certificates::revoke(&Ctx::request(&state, &auth.0), &state.config, id.0, body.0)
                .await?,
        ))
    }

    /// Reissue a certificate (coordinators and admins)
    ///
    /// Certificates are never edited: a reissue has the current details (e.g. a corrected name),
    /// a new number and a new code; the old one verifies as `superseded`.
    #[oai(
        path = "/certificates/:id/reissue",
        method = "post",
        operation_id = "reissue_certificate"
    )]
    async fn reissue(
        &self,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<Certificate>> {
        auth.0.require(Action::ManageCertificates)?;
        Ok(Json(
            certificates::reissue(&Ctx::request(&state, &auth.0), &state.config, id.0).await?,
        ))
    }

    /// Every certificate of a session as one PDF (coordinators and admins)
    ///
    /// One page per current certificate issued for the session's completions, in name order, for
    /// printing at the venue. `409 no-certificates` before the session is completed;
    /// `422 unprintable-text` when a name has a character no built-in font has.
    #[oai(
        path = "/sessions/:id/certificates/pdf",
        method = "get",
        operation_id = "get_session_certificates_pdf"
    )]
    async fn session_pdf(
        &self,
        req: &poem::Request,
        auth: ApiKey,
        state: poem::web::Data<&AppState>,
        id: Path<Uuid>,
    ) -> ApiResult<PdfResponse> {
        auth.0.require(Action::ManageCertificates)?;
        let bytes =
            certificates::session_pdf(&*crate::auth::reads(req, &state), &state.config, id.0)
                .await?;
        Ok(PdfResponse::Pdf(
            Binary(bytes),
            format!("inline; filename=\"session-{}-certificates.pdf\"", id.0),
        ))
    }
}

pub struct VerifyApi;

#[OpenApi(tag = "ApiTags::Certificates")]
impl VerifyApi {
    /// Verify a certificate (public)
    ///
    /// No key needed: anyone holding the code printed on a certificate can check it. Answers
    /// `valid`, `expired`, `revoked` (with the date) or `superseded`, and only what the
    /// certificate itself shows. Dashes, spaces and case in the code do not matter. An unknown
    /// code is a 404. Limited per client address (429 with `Retry-After`).
    #[oai(
        path = "/verify/:code",
        method = "get",
        operation_id = "verify_certificate"
    )]
    async fn verify(
        &self,
        req: &poem::Request,
        state: poem::web::Data<&AppState>,
        /// The verification code, e.g. `K7QM-3XRT-9PLD-W2HF-6VZB`.
        code: Path<String>,
    ) -> ApiResult<Json<Verification>> {
        let client = crate::ratelimit::client_address(req, &state.config.trusted_proxies);
        state
            .verify_limiter
            .check(&client)
            .map_err(ApiError::TooManyRequests)?;
        Ok(Json(
            certificates::verify(&state.db, &state.clock, &code.0).await?,
        ))
    }
}
