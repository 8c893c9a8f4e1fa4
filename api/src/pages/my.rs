//! "My training": what a signed-in person sees and does. Every page calls the domain function
//! its API operation calls, as the signed-in person's caller (`sign_in::principal_of`), so the
//! same rules and scope apply and a refusal reads as its problem says.

use std::collections::HashMap;

use askama::Template;
use chrono::{NaiveDate, Utc};
use poem::{
    IntoResponse, Request, Response, handler,
    http::{StatusCode, header},
    web::{Data, Form, Path, Query},
};
use serde::Deserialize;
use uuid::Uuid;

use super::door::{
    Chrome, ConfirmPage, MessagePage, anonymous_form_ok, forged, form_token, page, see_other,
    session_form_ok, with_cookies,
};
use crate::{
    ctx::Ctx,
    domain::{
        bookings::{self, BookingCancellation, BookingStatusCode, NewBooking},
        calendars::{self, NewCalendarFeed},
        certificates::{self, CertificateFilter},
        champions::{self, ChampionFilter, ChampionStatus},
        courses, mail,
        mail::compose::{spoken_date, spoken_span},
        programmes, reference,
        sessions::{self, Session, SessionFilter},
        sign_in::SignedIn,
        trainers::{self, TrainerState},
    },
    error::ApiError,
    pagination::PageRequest,
    state::AppState,
};

/// A session's dates in words: its first sitting, and how many more.
pub(super) fn when(s: &Session) -> String {
    let first = s
        .sittings
        .first()
        .map_or_else(String::new, |x| spoken_span(x.starts_at, x.ends_at));
    match s.sittings.len() {
        0 | 1 => first,
        n => format!("{first} (and {} more)", n - 1),
    }
}

pub(super) fn place(s: &Session) -> String {
    match (&s.venue, &s.online_url) {
        (Some(v), _) => match &v.address {
            Some(a) => format!("{}, {a}", v.name),
            None => v.name.clone(),
        },
        (None, Some(_)) => "Online".to_owned(),
        (None, None) => "To be confirmed".to_owned(),
    }
}

pub(super) fn places(s: &Session) -> String {
    let a = &s.availability;
    let held = match &s.reserved_places {
        Some(r) if a.reserved_free > 0 => format!(
            " ({} held for the {} sector)",
            a.reserved_free,
            format!("{:?}", r.sector).to_lowercase()
        ),
        _ => String::new(),
    };
    if a.general_free > 0 {
        format!("{} of {} free{held}", a.free, a.capacity)
    } else if a.waitlist > 0 {
        format!("Full{held}; {} waiting", a.waitlist)
    } else {
        format!("Full{held}")
    }
}

/// Sessions by id, with their views, in one query per kind.
async fn sessions_by_id(
    state: &AppState,
    ids: Vec<Uuid>,
) -> Result<HashMap<Uuid, Session>, ApiError> {
    let rows = sessions::by_ids(&state.db, &state.clock, ids).await?;
    Ok(rows.into_iter().map(|s| (s.id, s)).collect())
}

struct PlaceRow {
    id: Uuid,
    title: String,
    when: String,
    place: String,
    waitlist_position: Option<i32>,
}

struct CertificateRow {
    id: Uuid,
    title: String,
    number: String,
    status: String,
    completed_on: String,
    expires_on: String,
    verify_url: String,
}

struct ChampionRow {
    course: String,
    status: &'static str,
    refresh_due_on: Option<String>,
}

struct TrainerRow {
    programme: String,
    state: &'static str,
    step: Option<String>,
    licence: Option<String>,
    cascades: i32,
}

#[derive(Template)]
#[template(path = "my.html")]
struct MyPage {
    chrome: Chrome,
    banner: Option<(String, String)>,
    name: String,
    email: String,
    places: Vec<PlaceRow>,
    certificates: Vec<CertificateRow>,
    champions: Vec<ChampionRow>,
    trainer: Vec<TrainerRow>,
    opted_out: bool,
}

#[derive(Deserialize, Default)]
pub struct Done {
    done: Option<String>,
}

/// `GET /my`: places held and waited for, certificates, and what is emailed.
#[handler]
pub async fn home(state: Data<&AppState>, me: SignedIn, done: Query<Done>) -> Response {
    match home_page(&state, &me, done.0.done.as_deref()).await {
        Ok(p) => page(StatusCode::OK, &p),
        Err(e) => e.into_response(),
    }
}

async fn home_page(
    state: &AppState,
    me: &SignedIn,
    done: Option<&str>,
) -> Result<MyPage, ApiError> {
    let who = &me.principal;
    let person = me.person.id;
    let mut held = Vec::new();
    for status in [BookingStatusCode::Confirmed, BookingStatusCode::Waitlisted] {
        let (rows, _) = bookings::list_for_person(
            &state.db,
            who,
            person,
            Some(status.into()),
            None,
            PageRequest {
                limit: 200,
                after: None,
            },
        )
        .await?;
        held.extend(rows);
    }
    let sessions = sessions_by_id(state, held.iter().map(|b| b.session_id).collect()).await?;
    let titles = courses::titles(&state.db, sessions.values().map(|s| s.course_id)).await?;
    let now = state.clock.now();
    let mut places: Vec<(chrono::DateTime<Utc>, PlaceRow)> = held
        .into_iter()
        .filter_map(|b| {
            let s = sessions.get(&b.session_id)?;
            (s.ends_at > now).then(|| {
                (
                    s.starts_at,
                    PlaceRow {
                        id: b.id,
                        title: titles.get(&s.course_id).cloned().unwrap_or_default(),
                        when: when(s),
                        place: place(s),
                        waitlist_position: b.waitlist_position,
                    },
                )
            })
        })
        .collect();
    places.sort_by_key(|(at, _)| *at);
    let (certs, _) = certificates::list(
        &state.db,
        &state.config,
        &state.clock,
        who,
        CertificateFilter {
            person_id: Some(person),
            ..CertificateFilter::default()
        },
        PageRequest {
            limit: 200,
            after: None,
        },
    )
    .await?;
    let certificates = certs
        .into_iter()
        .map(|c| CertificateRow {
            id: c.id,
            title: c.title,
            number: c.number,
            status: format!("{:?}", c.status).to_lowercase(),
            completed_on: spoken_date(c.completed_on),
            expires_on: c
                .expires_on
                .map_or_else(|| "Does not expire".to_owned(), spoken_date),
            verify_url: c.verify_url,
        })
        .collect();
    let champion_page = champions::list(
        &state.db,
        &state.clock,
        who,
        ChampionFilter {
            person_id: Some(person),
            ..ChampionFilter::default()
        },
        PageRequest {
            limit: 50,
            after: None,
        },
    )
    .await?;
    let course_titles =
        courses::titles(&state.db, champion_page.items.iter().map(|c| c.course_id)).await?;
    let champions = champion_page
        .items
        .into_iter()
        .map(|c| ChampionRow {
            course: course_titles.get(&c.course_id).cloned().unwrap_or_default(),
            status: match c.status {
                ChampionStatus::Active => "Active champion",
                ChampionStatus::RefreshDue => "Refresh due",
                ChampionStatus::Lapsed => "Lapsed: book a refresh",
            },
            refresh_due_on: c.refresh_due_on.map(spoken_date),
        })
        .collect();
    let progress = trainers::views::get(&state.db, &state.clock, who, person).await?;
    let programme_names =
        programmes::names(&state.db, progress.iter().map(|p| p.summary.programme_id)).await?;
    let trainer = progress
        .into_iter()
        .map(|p| TrainerRow {
            programme: programme_names
                .get(&p.summary.programme_id)
                .cloned()
                .unwrap_or_default(),
            state: match p.summary.state {
                TrainerState::InProgress => "In training",
                TrainerState::Accredited => "Accredited trainer",
                TrainerState::Lapsed => "Licence lapsed",
            },
            step: p.summary.step,
            licence: p.summary.licence_expires_on.map(spoken_date),
            cascades: p.summary.cascade_sessions_last_12_months,
        })
        .collect();
    let banner = match done {
        Some("booked") => Some((
            "Your place is booked",
            "We have emailed you the invitation.",
        )),
        Some("waitlisted") => Some((
            "You are on the waitlist",
            "We will email you if a place comes free.",
        )),
        Some("cancelled") => Some(("Your place is cancelled", "We have emailed you to confirm.")),
        Some("cascade") => Some((
            "Your cascade session is recorded",
            "It counts towards the programme's reach from now.",
        )),
        Some("email") => Some((
            "Your email choices are saved",
            "They apply from the next message.",
        )),
        _ => None,
    }
    .map(|(a, b)| (a.to_owned(), b.to_owned()));
    Ok(MyPage {
        chrome: Chrome::of(me),
        banner,
        name: me.person.name.clone(),
        email: me.person.email.clone(),
        places: places.into_iter().map(|(_, p)| p).collect(),
        certificates,
        champions,
        trainer,
        opted_out: me.person.mail_opt_out,
    })
}

/// `GET /my/bookings/{id}/cancel`: asks first, with the late-cancellation warning.
#[handler]
pub async fn cancel_form(state: Data<&AppState>, me: SignedIn, id: Path<Uuid>) -> Response {
    let booking = match bookings::get(&state.db, &me.principal, id.0).await {
        Ok(b) => b,
        Err(e) => return not_found_page(e),
    };
    let s = match sessions::get(&state.db, &state.clock, booking.session_id).await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let title = courses::titles(&state.db, [s.course_id])
        .await
        .ok()
        .and_then(|t| t.get(&s.course_id).cloned())
        .unwrap_or_default();
    let waitlisted = booking.waitlist_position.is_some();
    let late =
        bookings::within_late_period(s.starts_at, s.late_cancellation_days, state.clock.now());
    let warning = (!waitlisted && late).then(|| {
        format!(
            "It is less than {} days before the session: cancelling now may be charged to \
             your organisation.",
            s.late_cancellation_days
        )
    });
    page(
        StatusCode::OK,
        &ConfirmPage {
            chrome: Chrome::of(&me),
            heading: if waitlisted {
                format!("Leave the waitlist for {title}?")
            } else {
                format!("Cancel your place on {title}?")
            },
            paragraphs: vec![when(&s), place(&s)],
            warning,
            action: format!("/my/bookings/{}/cancel", id.0),
            form_token: me.session.csrf_token.clone(),
            button: if waitlisted {
                "Leave the waitlist".to_owned()
            } else {
                "Cancel my place".to_owned()
            },
            danger: true,
            back: Some(("Keep it".to_owned(), "/my".to_owned())),
        },
    )
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

/// `POST /my/bookings/{id}/cancel`: the API's cancellation, as the signed-in person.
#[handler]
pub async fn cancel(
    state: Data<&AppState>,
    me: SignedIn,
    id: Path<Uuid>,
    form: Form<CsrfForm>,
) -> Response {
    if !session_form_ok(&me, &form.csrf) {
        return forged();
    }
    let ctx = Ctx::request(&state, &me.principal);
    match bookings::cancel(&ctx, id.0, BookingCancellation { reason: None }).await {
        Ok(_) => see_other("/my?done=cancelled"),
        Err(e) => refusal_page(&me, "Your place could not be cancelled", e),
    }
}

/// `GET /my/bookings/{id}/invite.ics`: the API's invitation.
#[handler]
pub async fn invite(state: Data<&AppState>, me: SignedIn, id: Path<Uuid>) -> Response {
    match calendars::invite(&state.db, &state.config, &state.clock, &me.principal, id.0).await {
        Ok(ics) => Response::builder()
            .content_type("text/calendar; charset=utf-8; method=REQUEST")
            .header(
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"invitation.ics\"",
            )
            .header(header::CACHE_CONTROL, "no-store")
            .body(ics),
        Err(e) => refusal_page(&me, "There is no invitation to download", e),
    }
}

/// `GET /my/certificates/{id}/pdf`: the API's certificate PDF.
#[handler]
pub async fn certificate_pdf(state: Data<&AppState>, me: SignedIn, id: Path<Uuid>) -> Response {
    match certificates::pdf(&state.db, &state.config, &me.principal, id.0).await {
        Ok((pdf, number)) => Response::builder()
            .content_type("application/pdf")
            .header(
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"certificate-{number}.pdf\""),
            )
            .header(header::CACHE_CONTROL, "no-store")
            .body(pdf),
        Err(e) => not_found_page(e),
    }
}

struct SessionRow {
    id: Uuid,
    title: String,
    when: String,
    place: String,
    places: String,
}

#[derive(Template)]
#[template(path = "sessions.html")]
struct SessionsPage {
    chrome: Chrome,
    courses: Vec<(String, String)>,
    course: Option<String>,
    localities: Vec<(String, String)>,
    locality: Option<String>,
    month: String,
    free: bool,
    sessions: Vec<SessionRow>,
    next_page: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct Search {
    course: Option<String>,
    locality: Option<String>,
    month: Option<String>,
    free: Option<String>,
    after: Option<String>,
}

/// `GET /my/sessions`: scheduled sessions by course, month and free places (the API's list).
#[handler]
pub async fn find(state: Data<&AppState>, me: SignedIn, q: Query<Search>) -> Response {
    let q = q.0;
    let course = q.course.as_deref().and_then(|c| c.parse::<Uuid>().ok());
    let locality = q.locality.as_deref().and_then(|c| c.parse::<Uuid>().ok());
    let today = sessions::london_today(state.clock.now());
    let (from, to) = match q
        .month
        .as_deref()
        .and_then(|m| NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d").ok())
    {
        Some(first) => (
            first.max(today),
            first
                .checked_add_months(chrono::Months::new(1))
                .and_then(|d| d.pred_opt())
                .unwrap_or(first),
        ),
        None => (today, today + chrono::Duration::days(366)),
    };
    let free = q.free.as_deref() == Some("1");
    let page_req = match PageRequest::parse(Some(20), q.after.as_deref()) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let listed = sessions::list(
        &state.db,
        &state.clock,
        SessionFilter {
            course_id: course,
            locality_id: locality,
            status: Some(entities::enums::SessionStatus::Scheduled),
            from: Some(from),
            to: Some(to.max(from)),
            has_free_places: free.then_some(true),
            ..SessionFilter::default()
        },
        page_req,
    )
    .await;
    let (rows, next) = match listed {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    let catalogue = match courses::bookable_titles(&state.db).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let titles: HashMap<Uuid, String> = catalogue.iter().cloned().collect();
    let localities = match reference::locality_names(&state.db).await {
        Ok(l) => l,
        Err(e) => return e.into_response(),
    };
    let sessions = rows
        .iter()
        .map(|s| SessionRow {
            id: s.id,
            title: titles.get(&s.course_id).cloned().unwrap_or_default(),
            when: when(s),
            place: place(s),
            places: places(s),
        })
        .collect();
    let mut query = Vec::new();
    if let Some(c) = &q.course {
        query.push(format!("course={}", urlencode(c)));
    }
    if let Some(l) = &q.locality {
        query.push(format!("locality={}", urlencode(l)));
    }
    if let Some(m) = &q.month {
        query.push(format!("month={}", urlencode(m)));
    }
    if free {
        query.push("free=1".to_owned());
    }
    let next_page = next.map(|n| {
        query.push(format!("after={}", urlencode(&n)));
        format!("/my/sessions?{}", query.join("&"))
    });
    page(
        StatusCode::OK,
        &SessionsPage {
            chrome: Chrome::of(&me),
            courses: catalogue
                .into_iter()
                .map(|(id, t)| (id.to_string(), t))
                .collect(),
            course: q.course,
            localities: localities
                .into_iter()
                .map(|(id, n)| (id.to_string(), n))
                .collect(),
            locality: q.locality,
            month: q.month.unwrap_or_default(),
            free,
            sessions,
            next_page,
        },
    )
}

pub(super) fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[derive(Template)]
#[template(path = "session.html")]
struct SessionPage {
    chrome: Chrome,
    id: Uuid,
    title: String,
    details: Vec<(String, String)>,
    places: String,
    bookable: bool,
    full: bool,
    error: Option<String>,
}

async fn session_page(
    state: &AppState,
    me: &SignedIn,
    id: Uuid,
    error: Option<String>,
) -> Result<SessionPage, ApiError> {
    let s = sessions::get(&state.db, &state.clock, id).await?;
    let facts = mail::compose::SessionFacts::load(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Session"))?;
    let scheduled = s.status == sessions::SessionStatusCode::Scheduled;
    let mut details = facts.details();
    if !scheduled {
        details.insert(0, ("Status".to_owned(), "Cancelled".to_owned()));
    }
    details.push((
        "Booking closes".to_owned(),
        spoken_span(s.booking_closes_at, s.booking_closes_at)
            .split(',')
            .next()
            .unwrap_or_default()
            .to_owned(),
    ));
    Ok(SessionPage {
        chrome: Chrome::of(me),
        id,
        title: facts.title,
        details,
        places: places(&s),
        bookable: scheduled && s.booking_closes_at > state.clock.now(),
        full: !bookings::would_get_place(
            &state.db,
            &me.principal,
            state.clock.now(),
            id,
            &me.person,
        )
        .await
        .unwrap_or(false),
        error,
    })
}

pub(super) fn not_found_page(e: ApiError) -> Response {
    match e {
        ApiError::NotFound(_) => page(
            StatusCode::NOT_FOUND,
            &MessagePage::new(
                "Page not found",
                &["It may have been moved, or it is not yours to see."],
                Some(("Go to My training", "/my")),
            ),
        ),
        other => other.into_response(),
    }
}

/// A refusal a page shows in its own error summary: the status and the words the API sends (the
/// problem's detail, then its first field's message). `Err` holds the answer when the refusal is
/// not the page's to show: not found (the not-found page), or a server error (problem+json).
pub(super) fn refused_words(e: ApiError) -> Result<(StatusCode, String), Box<Response>> {
    let problem = e.to_problem();
    if problem.status >= 500 || problem.status == 404 {
        return Err(Box::new(not_found_page(e)));
    }
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::CONFLICT);
    Ok(match problem.errors.as_ref().and_then(|f| f.first()) {
        Some(f) => (
            status,
            format!(
                "{} {}: {}",
                problem.detail,
                f.field.replace('_', " "),
                f.message
            ),
        ),
        None => (status, problem.detail),
    })
}

/// A refusal in words: the problem's own detail, which the API also sends.
fn refusal_page(me: &SignedIn, heading: &str, e: ApiError) -> Response {
    refusal(me, heading, e, ("Go to My training", "/my"))
}

/// [`refusal_page`] with a way back of the caller's choosing.
pub(super) fn refusal(me: &SignedIn, heading: &str, e: ApiError, back: (&str, &str)) -> Response {
    if matches!(e, ApiError::NotFound(_)) {
        return not_found_page(e);
    }
    let problem = e.to_problem();
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::BAD_REQUEST);
    if status.is_server_error() {
        return e.into_response();
    }
    let mut p = MessagePage::new(heading, &[&problem.detail], Some(back));
    p.chrome = Chrome::of(me);
    page(status, &p)
}

/// `GET /my/sessions/{id}`: a session and the button that books it.
#[handler]
pub async fn session(state: Data<&AppState>, me: SignedIn, id: Path<Uuid>) -> Response {
    match session_page(&state, &me, id.0, None).await {
        Ok(p) => page(StatusCode::OK, &p),
        Err(e) => not_found_page(e),
    }
}

/// `POST /my/sessions/{id}/book`: the API's booking for oneself, with its refusals in words.
#[handler]
pub async fn book(
    state: Data<&AppState>,
    me: SignedIn,
    id: Path<Uuid>,
    form: Form<CsrfForm>,
) -> Response {
    if !session_form_ok(&me, &form.csrf) {
        return forged();
    }
    let ctx = Ctx::request(&state, &me.principal);
    match bookings::create(
        &ctx,
        id.0,
        NewBooking {
            person_id: me.person.id,
        },
    )
    .await
    {
        Ok(b) if b.status == BookingStatusCode::Waitlisted => see_other("/my?done=waitlisted"),
        Ok(_) => see_other("/my?done=booked"),
        Err(ApiError::NotFound(what)) => not_found_page(ApiError::NotFound(what)),
        Err(e) => {
            let problem = e.to_problem();
            if problem.status >= 500 {
                return e.into_response();
            }
            let status =
                StatusCode::from_u16(problem.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            match session_page(&state, &me, id.0, Some(problem.detail)).await {
                Ok(p) => page(status, &p),
                Err(e) => e.into_response(),
            }
        }
    }
}

#[derive(Template)]
#[template(path = "email_preferences.html")]
struct EmailPage {
    chrome: Chrome,
    action: String,
    form_token: String,
    opted_out: bool,
}

#[derive(Deserialize)]
pub struct NoticesForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    notices: String,
}

/// `GET /my/email`: reminders and notices on or off.
#[handler]
pub async fn email_form(me: SignedIn) -> Response {
    page(
        StatusCode::OK,
        &EmailPage {
            chrome: Chrome::of(&me),
            action: "/my/email".to_owned(),
            form_token: me.session.csrf_token.clone(),
            opted_out: me.person.mail_opt_out,
        },
    )
}

/// `POST /my/email`.
#[handler]
pub async fn email_save(state: Data<&AppState>, me: SignedIn, form: Form<NoticesForm>) -> Response {
    if !session_form_ok(&me, &form.csrf) {
        return forged();
    }
    let ctx = Ctx::request(&state, &me.principal);
    match mail::set_opt_out(&ctx, me.person.id, form.notices == "off").await {
        Ok(()) => see_other("/my?done=email"),
        Err(e) => e.into_response(),
    }
}

/// `GET /unsubscribe/{token}`: the link in reminders and notices. Asks first (mail scanners
/// open links); the form, or a mail client's one-click `POST`, turns them off.
#[handler]
pub async fn unsubscribe_form(
    req: &Request,
    state: Data<&AppState>,
    token: Path<String>,
) -> Response {
    match mail::unsubscribe_target(&state.db, &token.0).await {
        Ok(Some(_)) => {}
        Ok(None) => return unknown_unsubscribe(),
        Err(e) => return e.into_response(),
    }
    let mut cookies = Vec::new();
    let form_token = form_token(req, &state, &mut cookies);
    with_cookies(
        page(
            StatusCode::OK,
            &ConfirmPage {
                chrome: Chrome::default(),
                heading: "Stop reminders and notices?".to_owned(),
                paragraphs: vec![
                    "We will stop emailing you reminders before sessions, and refresh and licence \
                     notices. You will still get invitations, changes and cancellations for your \
                     places, and your certificates."
                        .to_owned(),
                ],
                warning: None,
                action: format!("/unsubscribe/{}", token.0),
                form_token,
                button: "Stop reminders and notices".to_owned(),
                danger: false,
                back: None,
            },
        ),
        cookies,
    )
}

fn unknown_unsubscribe() -> Response {
    page(
        StatusCode::NOT_FOUND,
        &MessagePage::new(
            "This link is not one we sent",
            &["Sign in to change what we email you."],
            Some(("Sign in", "/sign-in")),
        ),
    )
}

#[derive(Deserialize)]
pub struct UnsubscribeForm {
    #[serde(default)]
    csrf: String,
    /// RFC 8058 one-click: `List-Unsubscribe=One-Click`.
    #[serde(rename = "List-Unsubscribe", default)]
    one_click: String,
}

/// `POST /unsubscribe/{token}`: from our page (with its form token) or a mail client's one-click
/// request (RFC 8058); the token itself names the person.
#[handler]
pub async fn unsubscribe(
    req: &Request,
    state: Data<&AppState>,
    token: Path<String>,
    form: Form<UnsubscribeForm>,
) -> Response {
    if form.one_click != "One-Click" && !anonymous_form_ok(req, &form.csrf) {
        return forged();
    }
    let person = match mail::unsubscribe_target(&state.db, &token.0).await {
        Ok(Some(p)) => p,
        Ok(None) => return unknown_unsubscribe(),
        Err(e) => return e.into_response(),
    };
    if let Err(e) = mail::set_opt_out(&Ctx::system(&state.db, &state.clock), person, true).await {
        return e.into_response();
    }
    page(
        StatusCode::OK,
        &MessagePage::new(
            "You will get no more reminders or notices",
            &["You can turn them back on from My training."],
            Some(("Sign in", "/sign-in")),
        ),
    )
}

#[derive(Template)]
#[template(path = "calendar.html")]
struct CalendarPage {
    chrome: Chrome,
    has_feed: bool,
    prefix: String,
    /// Just made: the webcal and https addresses, shown once.
    link: Option<(String, String)>,
}

/// The signed-in person's own live feed, if they have one.
async fn own_feed(
    state: &AppState,
    me: &SignedIn,
) -> Result<Option<calendars::CalendarFeed>, ApiError> {
    let (feeds, _) = calendars::list_feeds(
        &state.db,
        &state.config,
        &me.principal,
        PageRequest {
            limit: 200,
            after: None,
        },
    )
    .await?;
    Ok(feeds
        .into_iter()
        .filter(|f| f.person_id == Some(me.person.id) && f.revoked_at.is_none())
        .max_by_key(|f| f.rotated_at))
}

/// `GET /my/calendar`: the calendar subscription, and the button that makes (or remakes) it.
#[handler]
pub async fn calendar_form(state: Data<&AppState>, me: SignedIn) -> Response {
    match own_feed(&state, &me).await {
        Ok(feed) => page(
            StatusCode::OK,
            &CalendarPage {
                chrome: Chrome::of(&me),
                has_feed: feed.is_some(),
                prefix: feed.map(|f| f.prefix).unwrap_or_default(),
                link: None,
            },
        ),
        Err(e) => e.into_response(),
    }
}

/// `POST /my/calendar`: the API's feed creation, or its rotation when one exists (the old link
/// stops working at once). The new link is shown once.
#[handler]
pub async fn calendar_link(state: Data<&AppState>, me: SignedIn, form: Form<CsrfForm>) -> Response {
    if !session_form_ok(&me, &form.csrf) {
        return forged();
    }
    let ctx = Ctx::request(&state, &me.principal);
    let made = match own_feed(&state, &me).await {
        Ok(Some(feed)) => calendars::rotate_feed(&ctx, &state.config, feed.id).await,
        Ok(None) => {
            calendars::create_feed(
                &ctx,
                &state.config,
                NewCalendarFeed {
                    person_id: Some(me.person.id),
                    programme_id: None,
                },
            )
            .await
        }
        Err(e) => Err(e),
    };
    match made {
        Ok(feed) => page(
            StatusCode::OK,
            &CalendarPage {
                chrome: Chrome::of(&me),
                has_feed: true,
                prefix: feed.prefix,
                link: feed.webcal_url.zip(feed.url),
            },
        ),
        Err(e) => refusal_page(&me, "Your calendar link could not be made", e),
    }
}
