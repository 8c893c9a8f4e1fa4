//! Pages for people, served by the same binary as the API: server-rendered HTML from
//! compile-time-checked templates (`api/templates/`, askama) and one stylesheet of our own
//! (`api/assets/cascade.css`), working without JavaScript. A page calls the same domain function
//! as the API operation it mirrors.
//!
//! - [`door`]: sign-in by emailed link, the session cookie and CSRF protection of forms;
//! - [`my`]: "My training" for a signed-in person (places, finding and booking a session,
//!   certificates, email preferences) and the unsubscribe link of email;
//! - here: the certificate check that a certificate's QR code and printed link open
//!   (`/verify/{code}`), in words; `Accept: application/json` there answers the API's JSON.

pub mod console;
pub mod door;
pub mod my;
pub mod people;
pub mod pipeline;

use askama::Template;
use chrono::NaiveDate;
use poem::{
    IntoResponse, Request, Response, handler,
    http::{StatusCode, header},
    web::{Data, Path},
};
use poem_openapi::types::ToJSON;

use crate::{
    domain::certificates::{self, CertificateStatus, Verification},
    error::ApiError,
    state::AppState,
};

/// The stylesheet every page links to.
const STYLESHEET: &str = include_str!("../assets/cascade.css");

/// The stylesheet, at `/assets/cascade.css`.
#[handler]
pub fn stylesheet() -> Response {
    Response::builder()
        .content_type("text/css; charset=utf-8")
        .header(header::CACHE_CONTROL, "public, max-age=3600")
        .body(STYLESHEET)
}

/// What the certificate shows, as a page puts it.
struct Shown {
    name: String,
    title: String,
    programme: String,
    completed_on: String,
    expires_on: Option<String>,
    cpd_hours: String,
    issuer: String,
    issued_on: String,
    number: String,
}

#[derive(Template)]
#[template(path = "verify.html")]
struct VerifyPage {
    chrome: door::Chrome,
    heading: String,
    explanation: String,
    /// `good`, `bad` or `neutral`: the panel's colour (its words say the same).
    tone: &'static str,
    certificate: Option<Shown>,
    json_path: String,
}

/// A date as people write it: 3 March 2027.
fn spoken(date: NaiveDate) -> String {
    date.format("%-d %B %Y").to_string()
}

fn hours(h: f64) -> String {
    if h.fract() == 0.0 {
        format!("{h:.0}")
    } else {
        format!("{h}")
    }
}

impl VerifyPage {
    fn of(v: &Verification, json_path: String) -> Self {
        let (heading, explanation, tone) = match v.status {
            CertificateStatus::Valid => (
                "This certificate is valid".to_owned(),
                match v.expires_on {
                    Some(until) => format!("It is genuine and current until {}.", spoken(until)),
                    None => "It is genuine and current.".to_owned(),
                },
                "good",
            ),
            CertificateStatus::Expired => (
                "This certificate has expired".to_owned(),
                match v.expires_on {
                    Some(until) => format!(
                        "It is genuine, but its validity ended on {}.",
                        spoken(until)
                    ),
                    None => "It is genuine, but its validity has ended.".to_owned(),
                },
                "neutral",
            ),
            CertificateStatus::Revoked => (
                "This certificate has been revoked".to_owned(),
                match v.revoked_on {
                    Some(on) => {
                        format!("It was withdrawn on {} and is no longer valid.", spoken(on))
                    }
                    None => "It was withdrawn and is no longer valid.".to_owned(),
                },
                "bad",
            ),
            CertificateStatus::Superseded => (
                "This certificate has been replaced".to_owned(),
                "A newer certificate was issued in its place; ask its holder for the new one."
                    .to_owned(),
                "neutral",
            ),
        };
        Self {
            chrome: door::Chrome::default(),
            heading,
            explanation,
            tone,
            certificate: Some(Shown {
                name: v.name.clone(),
                title: v.title.clone(),
                programme: v.programme.clone(),
                completed_on: spoken(v.completed_on),
                expires_on: v.expires_on.map(spoken),
                cpd_hours: hours(v.cpd_hours),
                issuer: v.issuer.clone(),
                issued_on: spoken(v.issued_on),
                number: v.number.clone(),
            }),
            json_path,
        }
    }

    fn refusal(heading: &str, explanation: String, json_path: String) -> Self {
        Self {
            chrome: door::Chrome::default(),
            heading: heading.to_owned(),
            explanation,
            tone: "bad",
            certificate: None,
            json_path,
        }
    }
}

/// Whether the caller asked for JSON rather than a page.
fn wants_json(req: &Request) -> bool {
    req.header(header::ACCEPT)
        .is_some_and(|a| a.contains("application/json") && !a.contains("text/html"))
}

fn html(status: StatusCode, page: &VerifyPage) -> Response {
    match page.render() {
        Ok(body) => Response::builder()
            .status(status)
            .content_type("text/html; charset=utf-8")
            .body(body),
        Err(err) => ApiError::Internal(anyhow::anyhow!("rendering a page: {err}")).into_response(),
    }
}

/// The certificate check a certificate's QR code and printed link open: the same answer as
/// `GET /api/v1/verify/{code}` (and the same per-address limit), in words.
#[handler]
pub async fn verify(req: &Request, state: Data<&AppState>, code: Path<String>) -> Response {
    let json_path = format!("/api/v1/verify/{}", code.0);
    let client = crate::ratelimit::client_address(req, &state.config.trusted_proxies);
    let result = match state.verify_limiter.check(&client) {
        Err(wait) => Err(ApiError::TooManyRequests(wait)),
        Ok(()) => certificates::verify(&state.db, &state.clock, &code.0).await,
    };
    if wants_json(req) {
        return match result {
            Ok(v) => Response::builder()
                .content_type("application/json; charset=utf-8")
                .body(serde_json::to_vec(&v.to_json()).unwrap_or_default()),
            Err(err) => err.into_response(),
        };
    }
    match result {
        Ok(v) => html(StatusCode::OK, &VerifyPage::of(&v, json_path)),
        Err(ApiError::TooManyRequests(wait)) => {
            let mut resp = html(
                StatusCode::TOO_MANY_REQUESTS,
                &VerifyPage::refusal(
                    "Too many checks from your connection",
                    format!("Please try again in {wait} seconds."),
                    json_path,
                ),
            );
            if let Ok(value) = header::HeaderValue::from_str(&wait.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, value);
            }
            resp
        }
        Err(ApiError::NotFound(_)) => html(
            StatusCode::NOT_FOUND,
            &VerifyPage::refusal(
                "No certificate has this code",
                "Check the code against the certificate: letters and digits, in groups of four. \
                 Dashes, spaces and capitals do not matter."
                    .to_owned(),
                json_path,
            ),
        ),
        Err(err) => err.into_response(),
    }
}
