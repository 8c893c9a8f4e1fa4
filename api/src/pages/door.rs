//! The way in for people: the sign-in pages, the session cookie and the forms' protection
//! against cross-site request forgery, shared by every page.

use askama::Template;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use poem::{
    IntoResponse, Request, Response, handler,
    http::{StatusCode, header},
    web::{Data, Form, Path},
};
use rand::Rng;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::{
    auth::Action,
    ctx::Ctx,
    domain::{
        sign_in::{self, SignedIn},
        validation::Email,
    },
    error::ApiError,
    state::AppState,
};

/// The session cookie: `HttpOnly`, `SameSite=Lax`, `Secure` when the public URL is https.
pub const SESSION_COOKIE: &str = "cascade_session";
/// The anonymous forms' double-submit token (sign-in, unsubscribe).
pub const FORM_COOKIE: &str = "cascade_form";

/// What the page frame shows: who is signed in (the sign-out form) and the session's CSRF token.
#[derive(Debug, Clone, Default)]
pub struct Chrome {
    pub signed_in_as: Option<String>,
    pub csrf: String,
    /// The header's links: "My training" for everyone, and the console's pages the person's
    /// role may use (decided by the same [`Action`]s the pages check).
    pub links: Vec<(&'static str, &'static str)>,
}

impl Chrome {
    pub fn of(s: &SignedIn) -> Self {
        let who = &s.principal;
        let may = |a: Action| who.require(a).is_ok();
        let mut links = vec![("/my", "My training"), ("/my/sessions", "Find a session")];
        if may(Action::ReadReports) {
            links.push(("/console", "Dashboard"));
        }
        if may(Action::ManageSessions) || may(Action::KeepRegister) {
            links.push(("/console/sessions", "Sessions"));
        }
        if may(Action::RecordSteps) && who.coordinates() {
            links.push(("/console/trainers", "Trainers"));
        }
        if who.require_people_search().is_ok() {
            links.push(("/console/people", "People"));
        }
        if may(Action::Cascades) && !who.coordinates() {
            links.push(("/my/cascades/new", "Record a cascade"));
        }
        Self {
            signed_in_as: Some(s.person.name.clone()),
            csrf: s.session.csrf_token.clone(),
            links,
        }
    }
}

/// A rendered page.
pub fn page(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(body) => Response::builder()
            .status(status)
            .content_type("text/html; charset=utf-8")
            .header(header::CACHE_CONTROL, "no-store")
            .body(body),
        Err(err) => ApiError::Internal(anyhow::anyhow!("rendering a page: {err}")).into_response(),
    }
}

/// A redirect after a form (303: the browser follows with GET).
pub fn see_other(to: &str) -> Response {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, to)
        .header(header::CACHE_CONTROL, "no-store")
        .finish()
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub chrome: Chrome,
    pub heading: String,
    pub paragraphs: Vec<String>,
    pub link: Option<(String, String)>,
}

impl MessagePage {
    pub fn new(heading: &str, paragraphs: &[&str], link: Option<(&str, &str)>) -> Self {
        Self {
            chrome: Chrome::default(),
            heading: heading.to_owned(),
            paragraphs: paragraphs.iter().map(|p| (*p).to_owned()).collect(),
            link: link.map(|(a, b)| (a.to_owned(), b.to_owned())),
        }
    }
}

/// A page that asks before it acts (a button that posts a form).
#[derive(Template)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    pub chrome: Chrome,
    pub heading: String,
    pub paragraphs: Vec<String>,
    pub warning: Option<String>,
    pub action: String,
    pub form_token: String,
    pub button: String,
    pub danger: bool,
    pub back: Option<(String, String)>,
}

pub fn cookie(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn secure(state: &AppState) -> &'static str {
    if state.config.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    }
}

fn set_cookie(resp: &mut Response, value: String) {
    if let Ok(v) = header::HeaderValue::from_str(&value) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

fn random() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn same(a: &str, b: &str) -> bool {
    !a.is_empty() && a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The anonymous form token of this browser, made (and set on `resp`) if it has none yet.
pub fn form_token(req: &Request, state: &AppState, resp_cookies: &mut Vec<String>) -> String {
    if let Some(t) = cookie(req, FORM_COOKIE).filter(|t| t.len() >= 16) {
        return t;
    }
    let t = random();
    resp_cookies.push(format!(
        "{FORM_COOKIE}={t}; Path=/; HttpOnly; SameSite=Lax{}",
        secure(state)
    ));
    t
}

/// Sends `page` with the cookies set on the way.
pub fn with_cookies(mut resp: Response, cookies: Vec<String>) -> Response {
    for c in cookies {
        set_cookie(&mut resp, c);
    }
    resp
}

/// Whether an anonymous form came back with this browser's form token.
pub fn anonymous_form_ok(req: &Request, sent: &str) -> bool {
    cookie(req, FORM_COOKIE).is_some_and(|t| same(&t, sent))
}

/// The form was not sent from one of our pages (or the page was too old): nothing is done.
pub fn forged() -> Response {
    page(
        StatusCode::FORBIDDEN,
        &MessagePage::new(
            "The form could not be sent",
            &[
                "It did not come from a page of this service, or the page was open too long.",
                "Go back, reload the page and try again.",
            ],
            None,
        ),
    )
}

/// The signed-in person of a request, if its cookie opens a session.
pub async fn signed_in(req: &Request, state: &AppState) -> Result<Option<SignedIn>, ApiError> {
    match cookie(req, SESSION_COOKIE) {
        Some(c) => sign_in::session_of(&state.db, &state.clock, &c).await,
        None => Ok(None),
    }
}

/// A page handler that takes a [`SignedIn`] answers a browser without a session by sending it
/// to the sign-in page.
impl<'a> poem::FromRequest<'a> for SignedIn {
    async fn from_request(req: &'a Request, _body: &mut poem::RequestBody) -> poem::Result<Self> {
        let Some(state) = req.data::<AppState>() else {
            return Err(ApiError::Internal(anyhow::anyhow!("application state missing")).into());
        };
        match signed_in(req, state).await {
            Ok(Some(s)) => Ok(s),
            Ok(None) => Err(poem::Error::from_response(see_other("/sign-in"))),
            Err(e) => Err(poem::Error::from_response(e.into_response())),
        }
    }
}

/// Whether a signed-in form came back with its session's CSRF token.
pub fn session_form_ok(s: &SignedIn, sent: &str) -> bool {
    same(&s.session.csrf_token, sent)
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    chrome: Chrome,
    form_token: String,
    email: String,
    error: Option<String>,
}

/// `GET /sign-in`: the email form (or straight to "My training" when signed in).
#[handler]
pub async fn sign_in_form(req: &Request, state: Data<&AppState>) -> Response {
    if let Ok(Some(_)) = signed_in(req, &state).await {
        return see_other("/my");
    }
    let mut cookies = Vec::new();
    let form_token = form_token(req, &state, &mut cookies);
    with_cookies(
        page(
            StatusCode::OK,
            &SignInPage {
                chrome: Chrome::default(),
                form_token,
                email: String::new(),
                error: None,
            },
        ),
        cookies,
    )
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    csrf: String,
}

/// `POST /sign-in`: emails a link to a known, active person. The answer is the same whether or
/// not the address is known. Limited per client address and per email address.
#[handler]
pub async fn sign_in_request(
    req: &Request,
    state: Data<&AppState>,
    form: Form<SignInForm>,
) -> Response {
    if !anonymous_form_ok(req, &form.csrf) {
        return forged();
    }
    let email = form.email.trim().to_owned();
    if Email::parse(&email).is_err() {
        let mut cookies = Vec::new();
        let form_token = form_token(req, &state, &mut cookies);
        return with_cookies(
            page(
                StatusCode::UNPROCESSABLE_ENTITY,
                &SignInPage {
                    chrome: Chrome::default(),
                    form_token,
                    email,
                    error: Some("Enter your work email address, like name@example.org".to_owned()),
                },
            ),
            cookies,
        );
    }
    let client = crate::ratelimit::client_address(req, &state.config.trusted_proxies);
    let limited = state.sign_in_per_address.check(&client).is_err()
        || state
            .sign_in_per_email
            .check(&Email::key_of(&email))
            .is_err();
    if limited {
        return page(
            StatusCode::TOO_MANY_REQUESTS,
            &MessagePage::new(
                "Too many sign-in requests",
                &["Please wait a few minutes, then check your email or try again."],
                Some(("Try again", "/sign-in")),
            ),
        );
    }
    if let Err(err) = sign_in::request_link(&Ctx::system(&state.db, &state.clock), &email).await {
        return err.into_response();
    }
    page(
        StatusCode::OK,
        &MessagePage::new(
            "Check your email",
            &[
                &format!(
                    "If {email} is the work email address Cascade has for you, we have sent it \
                     a link to sign in."
                ),
                "The link works once, within 15 minutes. If nothing arrives, check your junk \
                 folder, or ask your training coordinator which address we hold.",
            ],
            Some(("Send another link", "/sign-in")),
        ),
    )
}

/// `GET /sign-in/{token}`: a button to use the link. Using it takes a form, so that mail
/// scanners which open links cannot spend it.
#[handler]
pub async fn sign_in_link(req: &Request, state: Data<&AppState>, token: Path<String>) -> Response {
    let mut cookies = Vec::new();
    let form_token = form_token(req, &state, &mut cookies);
    with_cookies(
        page(
            StatusCode::OK,
            &ConfirmPage {
                chrome: Chrome::default(),
                heading: "Sign in to Cascade".to_owned(),
                paragraphs: vec!["Continue to see your training.".to_owned()],
                warning: None,
                action: format!("/sign-in/{}", token.0),
                form_token,
                button: "Continue".to_owned(),
                danger: false,
                back: None,
            },
        ),
        cookies,
    )
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /sign-in/{token}`: spends the link and opens a session.
#[handler]
pub async fn sign_in_redeem(
    req: &Request,
    state: Data<&AppState>,
    token: Path<String>,
    form: Form<TokenForm>,
) -> Response {
    if !anonymous_form_ok(req, &form.csrf) {
        return forged();
    }
    match sign_in::redeem(&Ctx::system(&state.db, &state.clock), &token.0).await {
        Ok(Some(opened)) => {
            let mut resp = see_other("/my");
            set_cookie(
                &mut resp,
                format!(
                    "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
                    opened.cookie,
                    sign_in::SESSION_HOURS * 3600,
                    secure(&state)
                ),
            );
            resp
        }
        Ok(None) => page(
            StatusCode::GONE,
            &MessagePage::new(
                "This sign-in link has expired",
                &["A link works once, within 15 minutes of being sent. Ask for a new one."],
                Some(("Get a new link", "/sign-in")),
            ),
        ),
        Err(err) => err.into_response(),
    }
}

/// `POST /sign-out`: ends the session server-side and forgets the cookie.
#[handler]
pub async fn sign_out(req: &Request, state: Data<&AppState>, form: Form<TokenForm>) -> Response {
    let Ok(Some(s)) = signed_in(req, &state).await else {
        return see_other("/sign-in");
    };
    if !session_form_ok(&s, &form.csrf) {
        return forged();
    }
    if let Err(err) = sign_in::end(&Ctx::request(&state, &s.principal), s.session.id).await {
        return err.into_response();
    }
    let mut resp = page(
        StatusCode::OK,
        &MessagePage::new(
            "You have signed out",
            &["Your session has ended on this device."],
            Some(("Sign in again", "/sign-in")),
        ),
    );
    set_cookie(
        &mut resp,
        format!(
            "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}",
            secure(&state)
        ),
    );
    resp
}
