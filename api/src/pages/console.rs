//! The coordinators' console: the programme dashboard, scheduling, a session's bookings and its
//! register. Each page checks the [`Action`] its API operation checks and calls the same domain
//! function as the signed-in person's caller, so scope and refusals are the API's.

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use chrono::{NaiveDate, Utc};
use poem::{
    IntoResponse, Response, handler,
    http::{StatusCode, header},
    web::{Data, Form, Path, Query},
};
use poem_openapi::types::MaybeUndefined;
use serde::Deserialize;
use uuid::Uuid;

use super::{
    door::{Chrome, ConfirmPage, forged, page, see_other, session_form_ok},
    my::{CsrfForm, not_found_page, place, places, refusal, refused_words, urlencode, when},
};
use crate::{
    auth::Action,
    ctx::Ctx,
    domain::{
        attendance::{self, AttendanceInput, AttendanceMark},
        bookings::{self, BookingCancellation, BookingStatusCode, NewBooking},
        courses,
        dashboard::Dashboard,
        mail::compose::{spoken_date, spoken_span},
        organisations, people,
        people::PeopleFilter,
        programmes, reference,
        sessions::{
            self, NewSession, SessionFilter, SittingInput, Venue,
            changes::{SessionCancellation, SessionChanges},
            preview::{self, ConflictKind},
        },
        sign_in::SignedIn,
        trainers::steps::financial_year,
    },
    error::ApiError,
    pagination::PageRequest,
    render::{board_pdf, chart::Chart},
    state::AppState,
};

const BACK: (&str, &str) = ("Go to the dashboard", "/console");

/// The page's refusal when the signed-in person's role may not do `action` (the API's words).
fn may(me: &SignedIn, action: Action) -> Option<Response> {
    me.principal
        .require(action)
        .err()
        .map(|e| refusal(me, "This page is not for your role", e, BACK))
}

/// A form's refusal: the role may not do `action`, or the form did not come from our page.
fn posted(me: &SignedIn, action: Action, csrf: &str) -> Option<Response> {
    may(me, action).or_else(|| (!session_form_ok(me, csrf)).then(forged))
}

fn all(limit: u64) -> PageRequest {
    PageRequest { limit, after: None }
}

// ----- Dashboard -----

#[derive(Deserialize, Default)]
pub struct YearQuery {
    programme: Option<String>,
    year: Option<String>,
}

/// The programme and year a dashboard shows: the one asked for, else the first active
/// programme and the current programme year.
async fn programme_and_year(
    state: &AppState,
    q: &YearQuery,
) -> Result<(Vec<(Uuid, String)>, Option<Uuid>, i32), ApiError> {
    let (list, _) = programmes::list(&state.db, Some(true), all(200)).await?;
    let mut choices: Vec<(Uuid, String)> = list.into_iter().map(|p| (p.id, p.name)).collect();
    choices.sort_by(|a, b| a.1.cmp(&b.1));
    let asked = q.programme.as_deref().and_then(|p| p.parse::<Uuid>().ok());
    let busiest = programmes::busiest(&state.db).await?;
    let programme = asked.or(busiest).or_else(|| choices.first().map(|c| c.0));
    let year = q
        .year
        .as_deref()
        .and_then(|y| y.parse::<i32>().ok())
        .filter(|y| (2000..=2100).contains(y))
        .unwrap_or_else(|| financial_year(sessions::london_today(state.clock.now())));
    Ok((choices, programme, year))
}

struct ChartView {
    chart: Chart,
    svg: String,
    /// The table beside it: every line, not only the rows the chart draws.
    rows: Vec<(String, String, String)>,
}

#[derive(Template)]
#[template(path = "console_dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    programmes: Vec<(String, String)>,
    programme: String,
    year: i32,
    years: Vec<i32>,
    heading: String,
    summary: Vec<(String, String)>,
    targets: ChartView,
    charts: Vec<ChartView>,
    /// Places by partner: booked, attended, no-shows, late cancellations, charges (a partner
    /// lead sees its own organisation's line).
    partners: Vec<[String; 6]>,
    query: String,
}

fn view(chart: Chart, rows: Vec<(String, String, String)>) -> ChartView {
    ChartView {
        svg: chart.svg(),
        chart,
        rows,
    }
}

fn chart_rows(chart: &Chart) -> Vec<(String, String, String)> {
    chart
        .rows
        .iter()
        .map(|r| (r.key.clone(), r.label.clone(), r.words()))
        .collect()
}

fn dashboard_page(me: &SignedIn, d: Dashboard, choices: Vec<(Uuid, String)>) -> DashboardPage {
    let p = &d.progress;
    let year = p.year;
    let money = board_pdf::money;
    let summary = vec![
        (
            "Sessions delivered".to_owned(),
            p.sessions_delivered.to_string(),
        ),
        (
            "Sessions planned".to_owned(),
            p.sessions_planned.to_string(),
        ),
        (
            "People reached by the cascade".to_owned(),
            d.reach.people_reached.to_string(),
        ),
        (
            "Cascade sessions".to_owned(),
            d.reach.cascade_sessions.to_string(),
        ),
        ("Total costs".to_owned(), money(p.total_costs_pence)),
        (
            "Cost per champion trained".to_owned(),
            p.cost_per_champion_pence
                .map_or_else(|| "–".to_owned(), money),
        ),
        (
            "Cost per person reached".to_owned(),
            p.cost_per_person_reached_pence
                .map_or_else(|| "–".to_owned(), money),
        ),
    ];
    // The tables list every line of each breakdown (the charts draw the largest ten).
    let lines = |items: Vec<(String, String, i64)>| -> Vec<(String, String, String)> {
        items
            .into_iter()
            .map(|(k, n, v)| (k, n, v.to_string()))
            .collect()
    };
    let counts = |l: &[crate::domain::progress_report::CountLine]| {
        lines(
            l.iter()
                .map(|c| (c.key.clone(), c.name.clone(), c.count))
                .collect(),
        )
    };
    let reach = |l: &[crate::domain::reach::ReachLine]| {
        lines(
            l.iter()
                .map(|c| (c.key.clone(), c.name.clone(), i64::from(c.people_reached)))
                .collect(),
        )
    };
    let tables = [
        counts(&p.champions_by_sector),
        counts(&p.champions_by_locality),
        counts(&p.champions_by_staff_group),
        reach(&d.reach.by_partner),
        reach(&d.reach.by_sector),
        reach(&d.reach.by_locality),
    ];
    let mut charts: Vec<ChartView> = Vec::new();
    for (i, chart) in d.charts.into_iter().enumerate() {
        let rows = match tables.get(i) {
            Some(t) => t.clone(),
            None => chart_rows(&chart),
        };
        charts.push(view(chart, rows));
    }
    let targets_rows = chart_rows(&d.targets);
    let partners = d
        .partners
        .partners
        .iter()
        .map(|l| {
            [
                l.name.clone(),
                l.booked.to_string(),
                l.attended.to_string(),
                l.no_show.to_string(),
                l.late_cancelled.to_string(),
                money(l.charges_pence),
            ]
        })
        .collect();
    DashboardPage {
        chrome: Chrome::of(me),
        programme: p.programme_id.to_string(),
        programmes: choices
            .into_iter()
            .map(|(id, n)| (id.to_string(), n))
            .collect(),
        years: ((year - 3)..=(year + 1)).rev().collect(),
        heading: format!(
            "{} — programme year {}/{:02}",
            p.programme_name,
            year,
            (year + 1) % 100
        ),
        summary,
        targets: view(d.targets, targets_rows),
        charts,
        partners,
        query: format!("programme={}&year={year}", p.programme_id),
        year,
    }
}

/// `GET /console`: the programme year at a glance (the reports a coordinator or partner lead may
/// read, as charts with their tables).
#[handler]
pub async fn dashboard(state: Data<&AppState>, me: SignedIn, q: Query<YearQuery>) -> Response {
    if let Some(r) = may(&me, Action::ReadReports) {
        return r;
    }
    let (choices, programme, year) = match programme_and_year(&state, &q).await {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    let Some(programme) = programme else {
        let mut p = super::door::MessagePage::new(
            "No programme yet",
            &["Add a programme through the API to see its dashboard."],
            None,
        );
        p.chrome = Chrome::of(&me);
        return page(StatusCode::OK, &p);
    };
    match crate::domain::dashboard::load(&state.db, &state.clock, &me.principal, programme, year)
        .await
    {
        Ok(d) => page(StatusCode::OK, &dashboard_page(&me, d, choices)),
        Err(e) => refusal(&me, "The dashboard could not be shown", e, BACK),
    }
}

/// The programme and year of a report a page exports, for a role that may read reports.
async fn report_of(
    state: &AppState,
    me: &SignedIn,
    q: &YearQuery,
) -> Result<(Uuid, i32), Box<Response>> {
    if let Some(r) = may(me, Action::ReadReports) {
        return Err(Box::new(r));
    }
    match programme_and_year(state, q).await {
        Ok((_, Some(programme), year)) => Ok((programme, year)),
        Ok((_, None, _)) => Err(Box::new(not_found_page(ApiError::not_found("Programme")))),
        Err(e) => Err(Box::new(e.into_response())),
    }
}

/// `GET /console/board.pdf`: the API's board summary, for the signed-in person.
#[handler]
pub async fn board(state: Data<&AppState>, me: SignedIn, q: Query<YearQuery>) -> Response {
    let (programme, year) = match report_of(&state, &me, &q).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let board = crate::domain::progress_report::board(
        &state.db,
        &state.clock,
        &me.principal,
        programme,
        year,
    )
    .await;
    match board.and_then(|b| board_pdf::render(&b).map_err(ApiError::from)) {
        Ok(pdf) => Response::builder()
            .content_type("application/pdf")
            .header(
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"board-summary-{year}.pdf\""),
            )
            .header(header::CACHE_CONTROL, "no-store")
            .body(pdf),
        Err(e) => refusal(&me, "The board summary could not be made", e, BACK),
    }
}

/// `GET /console/reserved-places.csv`: the API's reserved-places CSV.
#[handler]
pub async fn reserved_csv(state: Data<&AppState>, me: SignedIn, q: Query<YearQuery>) -> Response {
    let (programme, year) = match report_of(&state, &me, &q).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let now = state.clock.now();
    match crate::domain::progress_report::reserved_places(&state.db, programme, year, now).await {
        Ok(report) => csv_file(
            &format!("reserved-places-{year}.csv"),
            crate::routes::reports::reserved_csv(&report),
        ),
        Err(e) => refusal(&me, "The CSV could not be made", e, BACK),
    }
}

fn csv_file(name: &str, body: String) -> Response {
    Response::builder()
        .content_type("text/csv; charset=utf-8")
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        )
        .header(header::CACHE_CONTROL, "no-store")
        .body(body)
}

/// `GET /console/progress.csv`: the API's progress CSV.
#[handler]
pub async fn progress_csv(state: Data<&AppState>, me: SignedIn, q: Query<YearQuery>) -> Response {
    let (programme, year) = match report_of(&state, &me, &q).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    match crate::domain::progress_report::progress(&state.db, &state.clock, programme, year).await {
        Ok(report) => csv_file(
            &format!("progress-{year}.csv"),
            crate::routes::reports::progress_csv(&report),
        ),
        Err(e) => refusal(&me, "The CSV could not be made", e, BACK),
    }
}

// ----- Sessions -----

struct SessionLine {
    id: Uuid,
    title: String,
    when: String,
    place: String,
    places: String,
}

#[derive(Template)]
#[template(path = "console_sessions.html")]
struct SessionsPage {
    chrome: Chrome,
    schedule: bool,
    sessions: Vec<SessionLine>,
    next_page: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct After {
    after: Option<String>,
}

/// `GET /console/sessions`: sessions from today on (coordinators), or those a trainer
/// facilitates (its register is theirs to keep).
#[handler]
pub async fn session_list(state: Data<&AppState>, me: SignedIn, q: Query<After>) -> Response {
    if let Some(r) = may(&me, Action::KeepRegister) {
        return r;
    }
    let page_req = match PageRequest::parse(Some(25), q.after.as_deref()) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let today = sessions::london_today(state.clock.now());
    let filter = SessionFilter {
        from: Some(today - chrono::Duration::days(14)),
        facilitator_id: match me.principal.delivery_scope() {
            crate::auth::DeliveryScope::DeliveredBy(p) => Some(p),
            _ => None,
        },
        ..SessionFilter::default()
    };
    let (rows, next) = match sessions::list(&state.db, &state.clock, filter, page_req).await {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    let titles = match courses::titles(&state.db, rows.iter().map(|s| s.course_id)).await {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    page(
        StatusCode::OK,
        &SessionsPage {
            chrome: Chrome::of(&me),
            schedule: me.principal.require(Action::ManageSessions).is_ok(),
            sessions: rows
                .iter()
                .map(|s| SessionLine {
                    id: s.id,
                    title: titles.get(&s.course_id).cloned().unwrap_or_default(),
                    when: when(s),
                    place: place(s),
                    places: if s.status == sessions::SessionStatusCode::Scheduled {
                        places(s)
                    } else {
                        format!("{:?}", s.status)
                    },
                })
                .collect(),
            next_page: next.map(|n| format!("/console/sessions?after={}", urlencode(&n))),
        },
    )
}

/// The schedule form's fields, as typed (sent back on the check page and on errors).
#[derive(Deserialize, Default, Clone)]
pub struct ScheduleForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    course: String,
    #[serde(default)]
    date1: String,
    #[serde(default)]
    start1: String,
    #[serde(default)]
    end1: String,
    #[serde(default)]
    date2: String,
    #[serde(default)]
    start2: String,
    #[serde(default)]
    end2: String,
    #[serde(default)]
    date3: String,
    #[serde(default)]
    start3: String,
    #[serde(default)]
    end3: String,
    #[serde(default)]
    venue: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    locality: String,
    #[serde(default)]
    online_url: String,
    #[serde(default)]
    facilitators: String,
    /// A second facilitator (optional).
    #[serde(default)]
    facilitator2: String,
    #[serde(default)]
    capacity: String,
    #[serde(default)]
    closes: String,
    /// `check` (preview) or `save`.
    #[serde(default)]
    step: String,
}

impl ScheduleForm {
    fn sittings(&self) -> Vec<(String, String, String)> {
        [
            (&self.date1, &self.start1, &self.end1),
            (&self.date2, &self.start2, &self.end2),
            (&self.date3, &self.start3, &self.end3),
        ]
        .into_iter()
        .map(|(d, s, e)| (d.clone(), s.clone(), e.clone()))
        .collect()
    }

    /// The API's input, or the fields the form itself cannot read.
    fn input(&self) -> Result<NewSession, Vec<(String, String)>> {
        let mut errors = Vec::new();
        let course = self.course.parse::<Uuid>().ok();
        if course.is_none() {
            errors.push(("course".into(), "Choose a course".into()));
        }
        let mut sittings = Vec::new();
        for (i, (d, s, e)) in self.sittings().into_iter().enumerate() {
            if d.is_empty() && s.is_empty() && e.is_empty() {
                continue;
            }
            match NaiveDate::parse_from_str(&d, "%Y-%m-%d") {
                Ok(date) => sittings.push(SittingInput {
                    date,
                    start: s,
                    end: e,
                }),
                Err(_) => errors.push((
                    format!("date{}", i + 1),
                    format!("Enter the date of sitting {} as a date", i + 1),
                )),
            }
        }
        if sittings.is_empty() && errors.is_empty() {
            errors.push(("date1".into(), "Enter the date of the first sitting".into()));
        }
        let capacity = match self.capacity.trim() {
            "" => None,
            c => match c.parse::<i32>() {
                Ok(n) => Some(n),
                Err(_) => {
                    errors.push(("capacity".into(), "Enter the places as a number".into()));
                    None
                }
            },
        };
        let mut facilitators: Vec<Uuid> = [&self.facilitators, &self.facilitator2]
            .into_iter()
            .filter_map(|f| f.trim().parse().ok())
            .collect();
        facilitators.dedup();
        let closes = match self.closes.trim() {
            "" => None,
            c => match NaiveDate::parse_from_str(c, "%Y-%m-%d") {
                Ok(d) => d
                    .and_hms_opt(23, 59, 0)
                    .and_then(|t| t.and_local_timezone(chrono_tz::Europe::London).earliest())
                    .map(|t| t.with_timezone(&Utc)),
                Err(_) => {
                    errors.push((
                        "closes".into(),
                        "Enter the day booking closes as a date".into(),
                    ));
                    None
                }
            },
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let venue = (!self.venue.trim().is_empty()).then(|| Venue {
            name: self.venue.trim().to_owned(),
            address: Some(self.address.trim().to_owned()).filter(|a| !a.is_empty()),
            locality_id: self.locality.parse().ok(),
        });
        Ok(NewSession {
            course_id: course.unwrap_or_default(),
            sittings,
            venue,
            online_url: Some(self.online_url.trim().to_owned()).filter(|u| !u.is_empty()),
            capacity,
            facilitator_ids: facilitators,
            audience_staff_group_ids: Vec::new(),
            booking_opens_at: None,
            booking_closes_at: closes,
            late_cancellation_days: None,
            reserved_release_days: None,
        })
    }
}

#[derive(Template)]
#[template(path = "console_schedule.html")]
struct SchedulePage {
    chrome: Chrome,
    /// Changing a scheduled session: its id and course title (the course stays).
    editing: Option<(Uuid, String)>,
    sittings: Vec<(String, String, String)>,
    form: ScheduleForm,
    courses: Vec<(String, String)>,
    localities: Vec<(String, String)>,
    trainers: Vec<(String, String)>,
    errors: Vec<(String, String)>,
    /// The check step: what scheduling would do, and the clashes.
    check: Option<Vec<(String, String)>>,
    conflicts: Vec<String>,
}

async fn schedule_page(
    state: &AppState,
    me: &SignedIn,
    form: ScheduleForm,
    errors: Vec<(String, String)>,
    check: Option<Vec<(String, String)>>,
    conflicts: Vec<String>,
) -> Result<SchedulePage, ApiError> {
    let courses = courses::bookable_titles(&state.db).await?;
    let localities = reference::locality_names(&state.db).await?;
    let trainers = crate::domain::trainers::steps::facilitator_choices(&state.db).await?;
    Ok(SchedulePage {
        chrome: Chrome::of(me),
        editing: None,
        sittings: form.sittings(),
        form,
        courses: courses
            .into_iter()
            .map(|(id, t)| (id.to_string(), t))
            .collect(),
        localities: localities
            .into_iter()
            .map(|(id, n)| (id.to_string(), n))
            .collect(),
        trainers: trainers
            .into_iter()
            .map(|(id, n)| (id.to_string(), n))
            .collect(),
        errors,
        check,
        conflicts,
    })
}

fn render(r: Result<impl Template, ApiError>, status: StatusCode) -> Response {
    match r {
        Ok(p) => page(status, &p),
        Err(e) => e.into_response(),
    }
}

/// `GET /console/sessions/new`: the schedule form.
#[handler]
pub async fn schedule_form(state: Data<&AppState>, me: SignedIn) -> Response {
    if let Some(r) = may(&me, Action::ManageSessions) {
        return r;
    }
    let form = ScheduleForm {
        start1: "09:30".into(),
        end1: "12:30".into(),
        ..ScheduleForm::default()
    };
    render(
        schedule_page(&state, &me, form, Vec::new(), None, Vec::new()).await,
        StatusCode::OK,
    )
}

/// A problem's field errors as the form's (field, message) list.
fn field_errors(e: &ApiError) -> Option<Vec<(String, String)>> {
    let problem = e.to_problem();
    if problem.status != 422 {
        return None;
    }
    let fields = problem.errors.unwrap_or_default();
    if fields.is_empty() {
        return Some(vec![(String::new(), problem.detail)]);
    }
    Some(
        fields
            .into_iter()
            .map(|f| {
                let field = f.field.clone();
                let id = match field.as_str() {
                    "course_id" => "course".to_owned(),
                    "capacity" => "capacity".to_owned(),
                    "booking_closes_at" => "closes".to_owned(),
                    "online_url" => "online_url".to_owned(),
                    "subject" => "subject".to_owned(),
                    "text" => "text".to_owned(),
                    f if f.starts_with("venue") => "venue".to_owned(),
                    f if f.starts_with("sittings[") => {
                        let n: usize = f[9..]
                            .split(']')
                            .next()
                            .and_then(|n| n.parse().ok())
                            .unwrap_or(0);
                        format!("date{}", n + 1)
                    }
                    _ => String::new(),
                };
                (id, format!("{}: {}", humane(&field), f.message))
            })
            .collect(),
    )
}

fn humane(field: &str) -> String {
    match field {
        "course_id" => "Course".into(),
        "capacity" => "Places".into(),
        "booking_closes_at" => "Booking closes".into(),
        "online_url" => "Online link".into(),
        "subject" => "Subject".into(),
        "text" => "Message".into(),
        "venue" | "venue.name" => "Venue".into(),
        "facilitator_ids" => "Facilitators".into(),
        f if f.starts_with("sittings[") => {
            let n: usize = f[9..]
                .split(']')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            format!("Sitting {}", n + 1)
        }
        other => other.replace('_', " "),
    }
}

/// `POST /console/sessions/new`: `step=check` shows what scheduling would do (the API's
/// preview: reserved places, release date, clashes); `step=save` schedules it.
#[handler]
pub async fn schedule(state: Data<&AppState>, me: SignedIn, form: Form<ScheduleForm>) -> Response {
    if let Some(r) = posted(&me, Action::ManageSessions, &form.csrf) {
        return r;
    }
    let form = form.0;
    let input = match form.input() {
        Ok(i) => i,
        Err(errors) => {
            crate::audit::mark_read_only();
            return render(
                schedule_page(&state, &me, form, errors, None, Vec::new()).await,
                StatusCode::UNPROCESSABLE_ENTITY,
            );
        }
    };
    if form.step == "save" {
        let ctx = Ctx::request(&state, &me.principal);
        return match sessions::create(&ctx, input).await {
            Ok(s) => see_other(&format!("/console/sessions/{}?done=scheduled", s.id)),
            Err(e) => match field_errors(&e) {
                Some(errors) => render(
                    schedule_page(&state, &me, form, errors, None, Vec::new()).await,
                    StatusCode::UNPROCESSABLE_ENTITY,
                ),
                None => refusal(&me, "The session could not be scheduled", e, BACK),
            },
        };
    }
    crate::audit::mark_read_only();
    match preview::preview(&state.db, &state.clock, &input).await {
        Ok(p) => {
            let mut check = vec![
                ("Places".to_owned(), p.capacity.to_string()),
                (
                    "Dates".to_owned(),
                    input
                        .sittings
                        .iter()
                        .map(|s| format!("{} {}–{}", spoken_date(s.date), s.start, s.end))
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
                (
                    "Booking closes".to_owned(),
                    spoken_date(sessions::london_today(p.booking_closes_at)),
                ),
            ];
            check.push((
                "Reserved places".to_owned(),
                match &p.reserved_places {
                    Some(r) => format!(
                        "{} held for the {} sector until {}, then released to everyone",
                        r.places,
                        format!("{:?}", r.sector).to_lowercase(),
                        spoken_date(sessions::london_today(r.release_at))
                    ),
                    None => "None: the course holds no places for a sector".to_owned(),
                },
            ));
            let conflicts = describe(&state, &me, &p.conflicts).await;
            render(
                schedule_page(&state, &me, form, Vec::new(), Some(check), conflicts).await,
                StatusCode::OK,
            )
        }
        Err(e) => match field_errors(&e) {
            Some(errors) => render(
                schedule_page(&state, &me, form, errors, None, Vec::new()).await,
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            None => refusal(&me, "The session could not be checked", e, BACK),
        },
    }
}

struct BookingLine {
    id: Uuid,
    name: String,
    organisation: String,
    sector: String,
    place: String,
}

#[derive(Template)]
#[template(path = "console_session.html")]
struct SessionPage {
    chrome: Chrome,
    id: Uuid,
    title: String,
    banner: Option<String>,
    details: Vec<(String, String)>,
    scheduled: bool,
    manage: bool,
    by_organisation: Vec<(String, String, usize)>,
    confirmed: Vec<BookingLine>,
    waitlist: Vec<(i32, BookingLine)>,
    found: Vec<(Uuid, String)>,
    q: String,
    /// The people search: where it looks, where a pick posts, its button and hidden words.
    search: (String, String, &'static str, &'static str),
    error: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct SessionQuery {
    done: Option<String>,
    q: Option<String>,
}

/// People whose name starts with `q`, as the signed-in person may see them (the API's `name`
/// filter).
async fn search(state: &AppState, me: &SignedIn, q: &str) -> Vec<(Uuid, String)> {
    if q.trim().is_empty() {
        return Vec::new();
    }
    people::list(
        &state.db,
        &me.principal,
        PeopleFilter {
            name: Some(q.to_owned()),
            active: Some(true),
            ..PeopleFilter::default()
        },
        all(20),
    )
    .await
    .map(|(rows, _)| rows.into_iter().map(|p| (p.id, p.name)).collect())
    .unwrap_or_default()
}

async fn session_page(
    state: &AppState,
    me: &SignedIn,
    id: Uuid,
    q: &SessionQuery,
    error: Option<String>,
) -> Result<SessionPage, ApiError> {
    let s = sessions::get(&state.db, &state.clock, id).await?;
    let title = courses::titles(&state.db, [s.course_id])
        .await?
        .remove(&s.course_id)
        .unwrap_or_default();
    // A session holds at most 1,000 places; its waitlist is read in pages of 200 too.
    let mut booked = Vec::new();
    for status in [BookingStatusCode::Confirmed, BookingStatusCode::Waitlisted] {
        let mut after = None;
        loop {
            let (rows, next) = bookings::list_for_session(
                &state.db,
                &me.principal,
                id,
                Some(status.into()),
                None,
                PageRequest { limit: 200, after },
            )
            .await?;
            booked.extend(rows);
            match next {
                Some(n) => after = PageRequest::parse(Some(200), Some(&n))?.after,
                None => break,
            }
        }
    }
    let names = people::names(&state.db, &me.principal, booked.iter().map(|b| b.person_id)).await?;
    let orgs =
        organisations::names_and_sectors(&state.db, booked.iter().map(|b| b.organisation_id))
            .await?;
    let line = |b: &bookings::Booking| {
        let (org, sector) = orgs
            .get(&b.organisation_id)
            .map(|(n, s)| (n.clone(), format!("{s:?}").to_lowercase()))
            .unwrap_or_default();
        BookingLine {
            id: b.id,
            name: names.get(&b.person_id).cloned().unwrap_or_default(),
            organisation: org,
            sector,
            place: b
                .place
                .map(|p| format!("{p:?}").to_lowercase())
                .unwrap_or_default(),
        }
    };
    let mut by_org: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut confirmed = Vec::new();
    let mut waitlist = Vec::new();
    for b in &booked {
        let l = line(b);
        match b.waitlist_position {
            Some(pos) => waitlist.push((pos, l)),
            None => {
                *by_org
                    .entry((l.organisation.clone(), l.sector.clone()))
                    .or_default() += 1;
                confirmed.push(l);
            }
        }
    }
    confirmed.sort_by(|a, b| a.name.cmp(&b.name));
    waitlist.sort_by_key(|w| w.0);
    let a = &s.availability;
    let mut details = vec![
        ("When".to_owned(), when(&s)),
        ("Where".to_owned(), place(&s)),
        (
            "Status".to_owned(),
            format!("{:?}", s.status).to_lowercase(),
        ),
        (
            "Places".to_owned(),
            format!(
                "{} booked of {}; {} free; {} waiting",
                a.confirmed, a.capacity, a.free, a.waitlist
            ),
        ),
    ];
    if let Some(r) = &s.reserved_places {
        details.push((
            "Reserved places".to_owned(),
            format!(
                "{} for the {} sector: {} taken, {} free{}",
                r.places,
                format!("{:?}", r.sector).to_lowercase(),
                (r.places - a.reserved_free).max(0),
                a.reserved_free,
                if r.released {
                    " (released to everyone)".to_owned()
                } else {
                    format!(
                        "; released {}",
                        spoken_date(sessions::london_today(r.release_at))
                    )
                }
            ),
        ));
    }
    details.push((
        "Booking closes".to_owned(),
        spoken_date(sessions::london_today(s.booking_closes_at)),
    ));
    let banner = match q.done.as_deref() {
        Some("scheduled") => Some("The session is scheduled"),
        Some("booked") => Some("The place is booked; we have emailed the invitation"),
        Some("waitlisted") => Some("They are on the waitlist"),
        Some("cancelled") => Some("The place is cancelled; we have emailed them"),
        Some("placed") => Some("They have a place now; we have emailed them"),
        Some("messaged") => Some("Your message is on its way to everyone with a place"),
        Some("completed") => Some("The session is complete; certificates are issued and emailed"),
        Some("changed") => Some("The session is changed; attendees have an updated invitation"),
        _ => None,
    }
    .map(str::to_owned);
    let q_text = q.q.clone().unwrap_or_default();
    Ok(SessionPage {
        chrome: Chrome::of(me),
        id,
        title,
        banner,
        details,
        scheduled: s.status == sessions::SessionStatusCode::Scheduled,
        manage: me.principal.require(Action::ManageSessions).is_ok(),
        by_organisation: by_org.into_iter().map(|((o, s), n)| (o, s, n)).collect(),
        confirmed,
        waitlist,
        found: search(state, me, &q_text).await,
        q: q_text,
        search: (
            format!("/console/sessions/{id}"),
            format!("/console/sessions/{id}/book"),
            "Book",
            "",
        ),
        error,
    })
}

/// `GET /console/sessions/{id}`: bookings by organisation and sector, reserved places, the
/// waitlist in order; book someone (from the people search) or cancel a place.
#[handler]
pub async fn session(
    state: Data<&AppState>,
    me: SignedIn,
    id: Path<Uuid>,
    q: Query<SessionQuery>,
) -> Response {
    if let Some(r) = may(&me, Action::KeepRegister) {
        return r;
    }
    match session_page(&state, &me, id.0, &q, None).await {
        Ok(p) => page(StatusCode::OK, &p),
        Err(e) => not_found_page(e),
    }
}

#[derive(Deserialize)]
pub struct PersonForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    person: String,
}

/// `POST /console/sessions/{id}/book`: the API's booking, for someone found by the search.
#[handler]
pub async fn book(
    state: Data<&AppState>,
    me: SignedIn,
    id: Path<Uuid>,
    form: Form<PersonForm>,
) -> Response {
    if let Some(r) = posted(&me, Action::Book, &form.csrf) {
        return r;
    }
    let Ok(person_id) = form.person.parse::<Uuid>() else {
        return not_found_page(ApiError::not_found("Person"));
    };
    let ctx = Ctx::request(&state, &me.principal);
    match bookings::create(&ctx, id.0, NewBooking { person_id }).await {
        Ok(b) if b.status == BookingStatusCode::Waitlisted => {
            see_other(&format!("/console/sessions/{}?done=waitlisted", id.0))
        }
        Ok(_) => see_other(&format!("/console/sessions/{}?done=booked", id.0)),
        Err(e) => session_refusal(&state, &me, id.0, e).await,
    }
}

/// The session page again with the refusal's words in its error summary.
async fn session_refusal(state: &AppState, me: &SignedIn, id: Uuid, e: ApiError) -> Response {
    let (status, words) = match refused_words(e) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    match session_page(state, me, id, &SessionQuery::default(), Some(words)).await {
        Ok(p) => page(status, &p),
        Err(e) => e.into_response(),
    }
}

/// `POST /console/bookings/{id}/cancel`: the API's cancellation of someone's place.
#[handler]
pub async fn cancel_booking(
    state: Data<&AppState>,
    me: SignedIn,
    id: Path<Uuid>,
    form: Form<CsrfForm>,
) -> Response {
    if let Some(r) = posted(&me, Action::Book, &form.csrf) {
        return r;
    }
    let ctx = Ctx::request(&state, &me.principal);
    let booking = match bookings::get(&state.db, &me.principal, id.0).await {
        Ok(b) => b,
        Err(e) => return not_found_page(e),
    };
    match bookings::cancel(&ctx, id.0, BookingCancellation { reason: None }).await {
        Ok(_) => see_other(&format!(
            "/console/sessions/{}?done=cancelled",
            booking.session_id
        )),
        Err(e) => session_refusal(&state, &me, booking.session_id, e).await,
    }
}

/// The edit form, filled from the session as it stands.
async fn edit_page(
    state: &AppState,
    me: &SignedIn,
    id: Uuid,
    form: Option<ScheduleForm>,
    errors: Vec<(String, String)>,
    conflicts: Option<Vec<String>>,
) -> Result<SchedulePage, ApiError> {
    let s = sessions::get(&state.db, &state.clock, id).await?;
    let title = courses::titles(&state.db, [s.course_id])
        .await?
        .remove(&s.course_id)
        .unwrap_or_default();
    let form = form.unwrap_or_else(|| {
        let sitting = |i: usize| {
            s.sittings.get(i).map_or_else(Default::default, |x| {
                (x.date.to_string(), x.start.clone(), x.end.clone())
            })
        };
        let ((date1, start1, end1), (date2, start2, end2), (date3, start3, end3)) =
            (sitting(0), sitting(1), sitting(2));
        ScheduleForm {
            course: s.course_id.to_string(),
            date1,
            start1,
            end1,
            date2,
            start2,
            end2,
            date3,
            start3,
            end3,
            venue: s.venue.as_ref().map(|v| v.name.clone()).unwrap_or_default(),
            address: s
                .venue
                .as_ref()
                .and_then(|v| v.address.clone())
                .unwrap_or_default(),
            locality: s
                .venue
                .as_ref()
                .and_then(|v| v.locality_id)
                .map(|l| l.to_string())
                .unwrap_or_default(),
            online_url: s.online_url.clone().unwrap_or_default(),
            facilitators: s
                .facilitator_ids
                .first()
                .map(|f| f.to_string())
                .unwrap_or_default(),
            facilitator2: s
                .facilitator_ids
                .get(1)
                .map(|f| f.to_string())
                .unwrap_or_default(),
            capacity: s.availability.capacity.to_string(),
            closes: sessions::london_today(s.booking_closes_at).to_string(),
            ..ScheduleForm::default()
        }
    });
    let check = conflicts.as_ref().map(|_| Vec::new());
    let mut p = schedule_page(
        state,
        me,
        form,
        errors,
        check,
        conflicts.unwrap_or_default(),
    )
    .await?;
    p.editing = Some((id, title));
    Ok(p)
}

/// `GET /console/sessions/{id}/edit`: change or move a session.
#[handler]
pub async fn edit_form(state: Data<&AppState>, me: SignedIn, id: Path<Uuid>) -> Response {
    if let Some(r) = may(&me, Action::ManageSessions) {
        return r;
    }
    match edit_page(&state, &me, id.0, None, Vec::new(), None).await {
        Ok(p) => page(StatusCode::OK, &p),
        Err(e) => not_found_page(e),
    }
}

/// `POST /console/sessions/{id}/edit`: `step=check` shows the clashes the change would make;
/// `step=save` is the API's session change (attendees get an updated invitation).
#[handler]
pub async fn edit(
    state: Data<&AppState>,
    me: SignedIn,
    id: Path<Uuid>,
    form: Form<ScheduleForm>,
) -> Response {
    if let Some(r) = posted(&me, Action::ManageSessions, &form.csrf) {
        return r;
    }
    let form = form.0;
    let input = match form.input() {
        Ok(i) => i,
        Err(errors) => {
            crate::audit::mark_read_only();
            return render(
                edit_page(&state, &me, id.0, Some(form), errors, None).await,
                StatusCode::UNPROCESSABLE_ENTITY,
            );
        }
    };
    if form.step != "save" {
        crate::audit::mark_read_only();
        let mut errors = crate::domain::validation::FieldErrors::default();
        let parsed = sessions::parse_sittings(&mut errors, &input.sittings, state.clock.now());
        let found = preview::conflicts(
            &state.db,
            &parsed.0,
            &input.facilitator_ids,
            input.venue.as_ref().map(|v| v.name.as_str()),
            Some(id.0),
        )
        .await;
        let conflicts = match found {
            Ok(c) => describe(&state, &me, &c).await,
            Err(e) => return e.into_response(),
        };
        return render(
            edit_page(&state, &me, id.0, Some(form), Vec::new(), Some(conflicts)).await,
            StatusCode::OK,
        );
    }
    let changes = SessionChanges {
        sittings: Some(input.sittings),
        venue: match input.venue {
            Some(v) => MaybeUndefined::Value(v),
            None => MaybeUndefined::Null,
        },
        online_url: match input.online_url {
            Some(u) => MaybeUndefined::Value(u),
            None => MaybeUndefined::Null,
        },
        capacity: input.capacity,
        facilitator_ids: Some(input.facilitator_ids),
        audience_staff_group_ids: None,
        booking_opens_at: MaybeUndefined::Undefined,
        booking_closes_at: input.booking_closes_at,
        late_cancellation_days: None,
    };
    let ctx = Ctx::request(&state, &me.principal);
    match sessions::update(&ctx, id.0, changes).await {
        Ok(_) => see_other(&format!("/console/sessions/{}?done=changed", id.0)),
        Err(e) => match field_errors(&e) {
            Some(errors) => render(
                edit_page(&state, &me, id.0, Some(form), errors, None).await,
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            None => session_refusal(&state, &me, id.0, e).await,
        },
    }
}

/// Clashes in words, with the facilitators' names.
async fn describe(state: &AppState, me: &SignedIn, found: &[preview::Conflict]) -> Vec<String> {
    let names = people::names(
        &state.db,
        &me.principal,
        found.iter().filter_map(|c| c.person_id),
    )
    .await
    .unwrap_or_default();
    found
        .iter()
        .map(|c| match c.kind {
            ConflictKind::Facilitator => format!(
                "{} is facilitating another session at {}",
                c.person_id
                    .and_then(|id| names.get(&id).cloned())
                    .unwrap_or_else(|| "A facilitator".into()),
                spoken_span(c.starts_at, c.ends_at)
            ),
            ConflictKind::Venue => format!(
                "{} is booked for another session at {}",
                c.venue_name.clone().unwrap_or_default(),
                spoken_span(c.starts_at, c.ends_at)
            ),
        })
        .collect()
}

/// `POST /console/bookings/{id}/place`: the API's move off the waitlist.
#[handler]
pub async fn give_place(
    state: Data<&AppState>,
    me: SignedIn,
    id: Path<Uuid>,
    form: Form<CsrfForm>,
) -> Response {
    if let Some(r) = posted(&me, Action::ManageSessions, &form.csrf) {
        return r;
    }
    let booking = match bookings::get(&state.db, &me.principal, id.0).await {
        Ok(b) => b,
        Err(e) => return not_found_page(e),
    };
    let ctx = Ctx::request(&state, &me.principal);
    match sessions::waitlist::give_place(&ctx, id.0).await {
        Ok(_) => see_other(&format!(
            "/console/sessions/{}?done=placed",
            booking.session_id
        )),
        Err(e) => session_refusal(&state, &me, booking.session_id, e).await,
    }
}

#[derive(Template)]
#[template(path = "console_message.html")]
struct MessagePageForm {
    chrome: Chrome,
    id: Uuid,
    title: String,
    recipients: i32,
    subject: String,
    text: String,
    errors: Vec<(String, String)>,
}

async fn message_page(
    state: &AppState,
    me: &SignedIn,
    id: Uuid,
    form: Option<&MessageForm>,
    errors: Vec<(String, String)>,
) -> Result<MessagePageForm, ApiError> {
    let s = sessions::get(&state.db, &state.clock, id).await?;
    let title = courses::titles(&state.db, [s.course_id])
        .await?
        .remove(&s.course_id)
        .unwrap_or_default();
    Ok(MessagePageForm {
        chrome: Chrome::of(me),
        id,
        title,
        recipients: s.availability.confirmed,
        subject: form.map(|f| f.subject.clone()).unwrap_or_default(),
        text: form.map(|f| f.text.clone()).unwrap_or_default(),
        errors,
    })
}

/// `GET /console/sessions/{id}/message`: write to everyone with a place.
#[handler]
pub async fn message_form(state: Data<&AppState>, me: SignedIn, id: Path<Uuid>) -> Response {
    if let Some(r) = may(&me, Action::ManageSessions) {
        return r;
    }
    match message_page(&state, &me, id.0, None, Vec::new()).await {
        Ok(p) => page(StatusCode::OK, &p),
        Err(e) => not_found_page(e),
    }
}

#[derive(Deserialize)]
pub struct MessageForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    text: String,
}

/// `POST /console/sessions/{id}/message`: the API's message to attendees, signed with the
/// coordinator's name.
#[handler]
pub async fn send_message(
    state: Data<&AppState>,
    me: SignedIn,
    id: Path<Uuid>,
    form: Form<MessageForm>,
) -> Response {
    if let Some(r) = posted(&me, Action::ManageSessions, &form.csrf) {
        return r;
    }
    let ctx = Ctx::request(&state, &me.principal);
    let sent = crate::domain::mail::message_attendees(
        &ctx,
        id.0,
        &me.person.name,
        crate::domain::mail::SessionMessage {
            subject: form.subject.clone(),
            text: form.text.clone(),
        },
    )
    .await;
    match sent {
        Ok(_) => see_other(&format!("/console/sessions/{}?done=messaged", id.0)),
        Err(e) => match field_errors(&e) {
            Some(errors) => render(
                message_page(&state, &me, id.0, Some(&form), errors).await,
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            None => session_refusal(&state, &me, id.0, e).await,
        },
    }
}

/// `GET /console/sessions/{id}/cancel`: asks for the reason everyone will be emailed.
#[handler]
pub async fn cancel_session_form(state: Data<&AppState>, me: SignedIn, id: Path<Uuid>) -> Response {
    if let Some(r) = may(&me, Action::ManageSessions) {
        return r;
    }
    let s = match sessions::get(&state.db, &state.clock, id.0).await {
        Ok(s) => s,
        Err(e) => return not_found_page(e),
    };
    page(
        StatusCode::OK,
        &CancelSessionPage {
            chrome: Chrome::of(&me),
            id: id.0,
            when: when(&s),
            booked: s.availability.confirmed + s.availability.waitlist,
            error: None,
        },
    )
}

#[derive(Template)]
#[template(path = "console_cancel_session.html")]
struct CancelSessionPage {
    chrome: Chrome,
    id: Uuid,
    when: String,
    booked: i32,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct ReasonForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

/// `POST /console/sessions/{id}/cancel`: the API's session cancellation (everyone emailed).
#[handler]
pub async fn cancel_session(
    state: Data<&AppState>,
    me: SignedIn,
    id: Path<Uuid>,
    form: Form<ReasonForm>,
) -> Response {
    if let Some(r) = posted(&me, Action::ManageSessions, &form.csrf) {
        return r;
    }
    let ctx = Ctx::request(&state, &me.principal);
    match sessions::cancel(
        &ctx,
        id.0,
        SessionCancellation {
            reason: form.reason.clone(),
        },
    )
    .await
    {
        Ok(_) => see_other(&format!("/console/sessions/{}", id.0)),
        Err(e) if e.to_problem().status == 422 => {
            let s = match sessions::get(&state.db, &state.clock, id.0).await {
                Ok(s) => s,
                Err(e) => return not_found_page(e),
            };
            page(
                StatusCode::UNPROCESSABLE_ENTITY,
                &CancelSessionPage {
                    chrome: Chrome::of(&me),
                    id: id.0,
                    when: when(&s),
                    booked: s.availability.confirmed + s.availability.waitlist,
                    error: Some("Enter the reason, in up to 500 characters".to_owned()),
                },
            )
        }
        Err(e) => session_refusal(&state, &me, id.0, e).await,
    }
}

// ----- The register -----

struct RegisterLine {
    booking: Uuid,
    name: String,
    /// Per sitting: (position, started, mark).
    marks: Vec<(i32, bool, Option<bool>)>,
}

#[derive(Template)]
#[template(path = "console_register.html")]
struct RegisterPage {
    chrome: Chrome,
    id: Uuid,
    title: String,
    sittings: Vec<(i32, String, bool)>,
    rows: Vec<RegisterLine>,
    scheduled: bool,
    can_complete: bool,
    found: Vec<(Uuid, String)>,
    q: String,
    search: (String, String, &'static str, &'static str),
    error: Option<String>,
}

async fn register_page(
    state: &AppState,
    me: &SignedIn,
    id: Uuid,
    q: &str,
    error: Option<String>,
) -> Result<RegisterPage, ApiError> {
    let kept = attendance::register(&state.db, &me.principal, id).await?;
    let s = sessions::get(&state.db, &state.clock, id).await?;
    let now = state.clock.now();
    let title = courses::titles(&state.db, [s.course_id])
        .await?
        .remove(&s.course_id)
        .unwrap_or_default();
    let names = people::names(
        &state.db,
        &me.principal,
        kept.rows.iter().map(|r| r.person_id),
    )
    .await?;
    let started: HashMap<i32, bool> = s
        .sittings
        .iter()
        .map(|x| (x.position, x.starts_at <= now))
        .collect();
    let mut rows: Vec<RegisterLine> = kept
        .rows
        .iter()
        .filter(|r| {
            r.status == BookingStatusCode::Confirmed
                || s.status != sessions::SessionStatusCode::Scheduled
        })
        .map(|r| RegisterLine {
            booking: r.booking_id,
            name: names.get(&r.person_id).cloned().unwrap_or_default(),
            marks: r
                .sittings
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    let pos = i as i32 + 1;
                    (pos, started.get(&pos).copied().unwrap_or(false), *m)
                })
                .collect(),
        })
        .collect();
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    let scheduled = s.status == sessions::SessionStatusCode::Scheduled;
    Ok(RegisterPage {
        chrome: Chrome::of(me),
        id,
        title,
        sittings: s
            .sittings
            .iter()
            .map(|x| {
                (
                    x.position,
                    spoken_span(x.starts_at, x.ends_at),
                    x.starts_at <= now,
                )
            })
            .collect(),
        rows,
        scheduled,
        can_complete: scheduled && s.ends_at <= now,
        found: if scheduled {
            search(state, me, q).await
        } else {
            Vec::new()
        },
        q: q.to_owned(),
        search: (
            format!("/console/sessions/{id}/register"),
            format!("/console/sessions/{id}/walk-in"),
            "Add",
            " as a walk-in",
        ),
        error,
    })
}

#[derive(Deserialize, Default)]
pub struct RegisterQuery {
    q: Option<String>,
}

/// `GET /console/sessions/{id}/register`: the register on a phone at the venue — one tap per
/// person per sitting (the API's register, for its keepers: coordinators and the session's
/// facilitators).
#[handler]
pub async fn register(
    state: Data<&AppState>,
    me: SignedIn,
    id: Path<Uuid>,
    q: Query<RegisterQuery>,
) -> Response {
    if let Some(r) = may(&me, Action::KeepRegister) {
        return r;
    }
    match register_page(&state, &me, id.0, q.q.as_deref().unwrap_or_default(), None).await {
        Ok(p) => page(StatusCode::OK, &p),
        Err(ApiError::Forbidden(detail)) => refusal(
            &me,
            "This register is not yours to keep",
            ApiError::Forbidden(detail),
            ("Go to sessions", "/console/sessions"),
        ),
        Err(e) => not_found_page(e),
    }
}

async fn register_refusal(state: &AppState, me: &SignedIn, id: Uuid, e: ApiError) -> Response {
    let (status, words) = match refused_words(e) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    match register_page(state, me, id, "", Some(words)).await {
        Ok(p) => page(status, &p),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
pub struct MarkForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    booking: String,
    #[serde(default)]
    sitting: i32,
    #[serde(default)]
    present: String,
}

/// `POST /console/sessions/{id}/register`: one mark (the API's attendance recording).
#[handler]
pub async fn mark(
    state: Data<&AppState>,
    me: SignedIn,
    id: Path<Uuid>,
    form: Form<MarkForm>,
) -> Response {
    if let Some(r) = posted(&me, Action::KeepRegister, &form.csrf) {
        return r;
    }
    let Ok(booking_id) = form.booking.parse::<Uuid>() else {
        return not_found_page(ApiError::not_found("Booking"));
    };
    let ctx = Ctx::request(&state, &me.principal);
    let input = AttendanceInput {
        marks: vec![AttendanceMark {
            booking_id,
            sitting: form.sitting,
            present: form.present == "yes",
        }],
    };
    match attendance::record(&ctx, id.0, input).await {
        Ok(_) => see_other(&format!(
            "/console/sessions/{}/register#b-{booking_id}",
            id.0
        )),
        Err(e) => register_refusal(&state, &me, id.0, e).await,
    }
}

/// `POST /console/sessions/{id}/walk-in`: the API's walk-in, for someone found by the search.
#[handler]
pub async fn walk_in(
    state: Data<&AppState>,
    me: SignedIn,
    id: Path<Uuid>,
    form: Form<PersonForm>,
) -> Response {
    if let Some(r) = posted(&me, Action::KeepRegister, &form.csrf) {
        return r;
    }
    let Ok(person_id) = form.person.parse::<Uuid>() else {
        return not_found_page(ApiError::not_found("Person"));
    };
    let ctx = Ctx::request(&state, &me.principal);
    match bookings::walk_in(&ctx, id.0, NewBooking { person_id }).await {
        Ok(b) => see_other(&format!("/console/sessions/{}/register#b-{}", id.0, b.id)),
        Err(e) => register_refusal(&state, &me, id.0, e).await,
    }
}

/// `POST /console/sessions/{id}/complete`: the API's completion (certificates issued).
#[handler]
pub async fn complete(
    state: Data<&AppState>,
    me: SignedIn,
    id: Path<Uuid>,
    form: Form<CsrfForm>,
) -> Response {
    if let Some(r) = posted(&me, Action::KeepRegister, &form.csrf) {
        return r;
    }
    let ctx = Ctx::request(&state, &me.principal);
    match attendance::complete(&ctx, &state.config, id.0).await {
        Ok(_) => see_other(&format!("/console/sessions/{}?done=completed", id.0)),
        Err(e) => register_refusal(&state, &me, id.0, e).await,
    }
}

/// `GET /console/sessions/{id}/complete`: asks before closing the register.
#[handler]
pub async fn complete_form(me: SignedIn, id: Path<Uuid>) -> Response {
    if let Some(r) = may(&me, Action::KeepRegister) {
        return r;
    }
    page(
        StatusCode::OK,
        &ConfirmPage {
            chrome: Chrome::of(&me),
            heading: "Complete the session?".to_owned(),
            paragraphs: vec![
                "Everyone present at enough sittings completes the course and is emailed their \
                 certificate. Nobody marked present at any sitting is recorded as not attending. \
                 The register cannot be changed afterwards."
                    .to_owned(),
            ],
            warning: None,
            action: format!("/console/sessions/{}/complete", id.0),
            form_token: me.session.csrf_token.clone(),
            button: "Complete the session".to_owned(),
            danger: false,
            back: Some((
                "Back to the register".to_owned(),
                format!("/console/sessions/{}/register", id.0),
            )),
        },
    )
}
