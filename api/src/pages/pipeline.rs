//! The trainer pipeline board (coordinators: each champion and trainer at their step, sign off a
//! step with evidence, the accreditation cap in view) and the trainer's own form for a cascade
//! session they delivered. Both call the API's domain functions as the signed-in person.

use askama::Template;
use chrono::NaiveDate;
use poem::{
    IntoResponse, Response, handler,
    http::StatusCode,
    web::{Data, Form, Path, Query},
};
use serde::Deserialize;
use uuid::Uuid;

use super::{
    door::{Chrome, forged, page, see_other, session_form_ok},
    my::{not_found_page, refusal, refused_words},
};
use crate::{
    auth::Action,
    ctx::Ctx,
    domain::{
        cascades::{self, CascadeSessionInput, DeliveryModeCode, Headcount},
        courses,
        mail::compose::spoken_date,
        progress_report, reference,
        sessions::london_today,
        sign_in::SignedIn,
        trainers::{
            StepKindCode, TrainerState, pipeline,
            steps::{self, NewStep, financial_year},
            views,
        },
    },
    error::ApiError,
    pagination::PageRequest,
    state::AppState,
};

const BACK: (&str, &str) = ("Go to the trainer board", "/console/trainers");

struct Card {
    person: Uuid,
    name: String,
    /// (label, tag class): lapsed, licence ending soon.
    flags: Vec<(String, &'static str)>,
    detail: String,
}

#[derive(Template)]
#[template(path = "console_trainers.html")]
struct BoardPage {
    chrome: Chrome,
    programmes: Vec<(String, String)>,
    programme: String,
    columns: Vec<(String, Vec<Card>)>,
    accredited: i32,
    cap: Option<i64>,
    in_progress: i32,
    lapsed: i32,
    sign_off: bool,
    banner: Option<String>,
    next_page: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct BoardQuery {
    programme: Option<String>,
    done: Option<String>,
    after: Option<String>,
}

async fn programme_choice(
    state: &AppState,
    asked: Option<&str>,
) -> Result<(Vec<(Uuid, String)>, Option<Uuid>), ApiError> {
    let (list, _) = crate::domain::programmes::list(
        &state.db,
        Some(true),
        PageRequest {
            limit: 200,
            after: None,
        },
    )
    .await?;
    let mut choices: Vec<(Uuid, String)> = list.into_iter().map(|p| (p.id, p.name)).collect();
    choices.sort_by(|a, b| a.1.cmp(&b.1));
    let asked = asked.and_then(|p| p.parse::<Uuid>().ok());
    let busiest = crate::domain::programmes::busiest(&state.db).await?;
    let chosen = asked.or(busiest).or_else(|| choices.first().map(|c| c.0));
    Ok((choices, chosen))
}

/// `GET /console/trainers`: the pipeline as columns, one per step (the API's trainer list).
#[handler]
pub async fn board(state: Data<&AppState>, me: SignedIn, q: Query<BoardQuery>) -> Response {
    if let Err(e) = me.principal.require(Action::RecordSteps) {
        return refusal(&me, "This page is not for your role", e, BACK);
    }
    if !me.principal.coordinates() {
        return refusal(
            &me,
            "This page is not for your role",
            ApiError::Forbidden("The trainer board is for coordinators.".to_owned()),
            ("Go to My training", "/my"),
        );
    }
    match board_page(&state, &me, &q).await {
        Ok(p) => page(StatusCode::OK, &p),
        Err(e) => refusal(&me, "The board could not be shown", e, BACK),
    }
}

async fn board_page(
    state: &AppState,
    me: &SignedIn,
    q: &BoardQuery,
) -> Result<BoardPage, ApiError> {
    let (choices, programme) = programme_choice(state, q.programme.as_deref()).await?;
    let Some(programme) = programme else {
        return Err(ApiError::not_found("Programme"));
    };
    let steps = pipeline::get(&state.db, programme).await?.steps;
    let listed = views::list(
        &state.db,
        &state.clock,
        &me.principal,
        programme,
        None,
        None,
        PageRequest::parse(Some(200), q.after.as_deref())?,
    )
    .await?;
    let today = london_today(state.clock.now());
    let year = financial_year(today);
    let cap = progress_report::progress(&state.db, &state.clock, programme, year)
        .await?
        .targets
        .into_iter()
        .find(|t| t.target == "active_trainers")
        .and_then(|t| t.target_value);
    let mut columns: Vec<(String, Vec<Card>)> = steps
        .iter()
        .map(|s| (s.code.replace(['_', '-'], " "), Vec::new()))
        .collect();
    for t in listed.items {
        let at = t
            .step
            .as_deref()
            .and_then(|code| steps.iter().position(|s| s.code == code))
            .unwrap_or(0);
        let mut flags = Vec::new();
        if t.state == TrainerState::Lapsed {
            flags.push(("Licence lapsed".to_owned(), "tag-red"));
        }
        if let Some(until) = t.licence_expires_on
            && t.state == TrainerState::Accredited
            && (until - today).num_days() <= 60
        {
            flags.push((format!("Licence ends {}", spoken_date(until)), "tag-amber"));
        }
        let detail = match t.licence_expires_on {
            Some(until) => format!(
                "Licence to {}; {} cascade sessions in 12 months",
                spoken_date(until),
                t.cascade_sessions_last_12_months
            ),
            None => format!(
                "{} cascade sessions in 12 months",
                t.cascade_sessions_last_12_months
            ),
        };
        if let Some(column) = columns.get_mut(at) {
            column.1.push(Card {
                person: t.person_id,
                name: t.name,
                flags,
                detail,
            });
        }
    }
    Ok(BoardPage {
        chrome: Chrome::of(me),
        programme: programme.to_string(),
        programmes: choices
            .into_iter()
            .map(|(id, n)| (id.to_string(), n))
            .collect(),
        columns,
        accredited: listed.accredited,
        cap,
        in_progress: listed.in_progress,
        lapsed: listed.lapsed,
        sign_off: me.principal.coordinates(),
        banner: (q.done.as_deref() == Some("signed")).then(|| "The step is recorded".to_owned()),
        next_page: listed.next_cursor.map(|c| {
            format!(
                "/console/trainers?programme={programme}&after={}",
                super::my::urlencode(&c)
            )
        }),
    })
}

#[derive(Template)]
#[template(path = "console_sign_off.html")]
struct SignOffPage {
    chrome: Chrome,
    person: Uuid,
    name: String,
    programme: String,
    steps: Vec<(String, String)>,
    form: SignOffForm,
    error: Option<String>,
}

#[derive(Deserialize, Default, Clone)]
pub struct SignOffForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    programme: String,
    #[serde(default)]
    step: String,
    #[serde(default)]
    evidence: String,
    #[serde(default)]
    evidence_url: String,
    #[serde(default)]
    effective_on: String,
}

async fn sign_off_page(
    state: &AppState,
    me: &SignedIn,
    person: Uuid,
    form: SignOffForm,
    error: Option<String>,
) -> Result<SignOffPage, ApiError> {
    let programme: Uuid = form
        .programme
        .parse()
        .map_err(|_| ApiError::not_found("Programme"))?;
    let found = crate::domain::people::get(&state.db, &me.principal, person).await?;
    let steps = pipeline::get(&state.db, programme).await?.steps;
    Ok(SignOffPage {
        chrome: Chrome::of(me),
        person,
        name: found.name,
        programme: programme.to_string(),
        // Steps proved by the data are recorded automatically; these are the ones a person signs.
        steps: steps
            .into_iter()
            .filter(|s| {
                matches!(
                    s.kind,
                    StepKindCode::Manual | StepKindCode::SignOff | StepKindCode::Accreditation
                )
            })
            .map(|s| (s.code.clone(), s.code.replace(['_', '-'], " ")))
            .collect(),
        form,
        error,
    })
}

#[derive(Deserialize, Default)]
pub struct ProgrammeQuery {
    programme: Option<String>,
}

/// `GET /console/trainers/{person}/sign-off?programme=`: a step, its evidence and its date.
#[handler]
pub async fn sign_off_form(
    state: Data<&AppState>,
    me: SignedIn,
    person: Path<Uuid>,
    q: Query<ProgrammeQuery>,
) -> Response {
    if let Err(e) = me.principal.require(Action::RecordSteps) {
        return refusal(&me, "This page is not for your role", e, BACK);
    }
    let form = SignOffForm {
        programme: q.programme.clone().unwrap_or_default(),
        ..SignOffForm::default()
    };
    match sign_off_page(&state, &me, person.0, form, None).await {
        Ok(p) => page(StatusCode::OK, &p),
        Err(e) => not_found_page(e),
    }
}

/// `POST /console/trainers/{person}/sign-off`: the API's step recording.
#[handler]
pub async fn sign_off(
    state: Data<&AppState>,
    me: SignedIn,
    person: Path<Uuid>,
    form: Form<SignOffForm>,
) -> Response {
    if let Err(e) = me.principal.require(Action::RecordSteps) {
        return refusal(&me, "This page is not for your role", e, BACK);
    }
    if !session_form_ok(&me, &form.csrf) {
        return forged();
    }
    let form = form.0;
    let Ok(programme_id) = form.programme.parse::<Uuid>() else {
        return not_found_page(ApiError::not_found("Programme"));
    };
    let effective_on = NaiveDate::parse_from_str(&form.effective_on, "%Y-%m-%d").ok();
    let input = NewStep {
        programme_id,
        step: form.step.clone(),
        effective_on,
        evidence: form.evidence.clone(),
        evidence_url: Some(form.evidence_url.trim().to_owned()).filter(|u| !u.is_empty()),
        signed_off_by_person_id: me.principal.signs_off_as_trainer().then_some(me.person.id),
        override_reason: None,
    };
    let ctx = Ctx::request(&state, &me.principal);
    match steps::record(&ctx, &state.config, person.0, input).await {
        Ok(_) => see_other(&format!(
            "/console/trainers?programme={programme_id}&done=signed"
        )),
        Err(e) => {
            let (status, words) = match refused_words(e) {
                Ok(x) => x,
                Err(r) => return *r,
            };
            match sign_off_page(&state, &me, person.0, form, Some(words)).await {
                Ok(p) => page(status, &p),
                Err(e) => e.into_response(),
            }
        }
    }
}

// ----- A trainer's cascade session -----

#[derive(Template)]
#[template(path = "cascade_form.html")]
struct CascadePage {
    chrome: Chrome,
    courses: Vec<(String, String)>,
    localities: Vec<(String, String)>,
    organisations: Vec<(String, String)>,
    form: CascadeForm,
    errors: Vec<String>,
}

#[derive(Deserialize, Default, Clone)]
pub struct CascadeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    course: String,
    #[serde(default)]
    delivered_on: String,
    #[serde(default)]
    start: String,
    #[serde(default)]
    minutes: String,
    #[serde(default)]
    locality: String,
    #[serde(default)]
    mode: String,
    /// Named attendees' work emails, one per line.
    #[serde(default)]
    attendees: String,
    #[serde(default)]
    org1: String,
    #[serde(default)]
    count1: String,
    #[serde(default)]
    org2: String,
    #[serde(default)]
    count2: String,
}

async fn cascade_page(
    state: &AppState,
    me: &SignedIn,
    form: CascadeForm,
    errors: Vec<String>,
) -> Result<CascadePage, ApiError> {
    let (orgs, _) = crate::domain::organisations::list(
        &state.db,
        crate::domain::organisations::OrganisationFilter {
            active: Some(true),
            ..Default::default()
        },
        PageRequest {
            limit: 200,
            after: None,
        },
    )
    .await?;
    let mut organisations: Vec<(String, String)> = orgs
        .into_iter()
        .map(|o| (o.id.to_string(), o.name))
        .collect();
    organisations.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(CascadePage {
        chrome: Chrome::of(me),
        courses: courses::cascade_titles(&state.db)
            .await?
            .into_iter()
            .map(|(id, t)| (id.to_string(), t))
            .collect(),
        localities: reference::locality_names(&state.db)
            .await?
            .into_iter()
            .map(|(id, n)| (id.to_string(), n))
            .collect(),
        organisations,
        form,
        errors,
    })
}

/// `GET /my/cascades/new`: a trainer records a cascade session they delivered.
#[handler]
pub async fn cascade_form(state: Data<&AppState>, me: SignedIn) -> Response {
    if let Err(e) = me.principal.require(Action::Cascades) {
        return refusal(
            &me,
            "This page is not for your role",
            e,
            ("Go to My training", "/my"),
        );
    }
    let form = CascadeForm {
        delivered_on: london_today(state.clock.now()).to_string(),
        start: "10:00".into(),
        minutes: "90".into(),
        mode: "in_person".into(),
        ..CascadeForm::default()
    };
    match cascade_page(&state, &me, form, Vec::new()).await {
        Ok(p) => page(StatusCode::OK, &p),
        Err(e) => e.into_response(),
    }
}

/// `POST /my/cascades/new`: the API's cascade recording, led by the signed-in trainer; named
/// attendees are found by their work email.
#[handler]
pub async fn record_cascade(
    state: Data<&AppState>,
    me: SignedIn,
    form: Form<CascadeForm>,
) -> Response {
    if let Err(e) = me.principal.require(Action::Cascades) {
        return refusal(
            &me,
            "This page is not for your role",
            e,
            ("Go to My training", "/my"),
        );
    }
    if !session_form_ok(&me, &form.csrf) {
        return forged();
    }
    let form = form.0;
    let mut errors = Vec::new();
    let emails: Vec<String> = form
        .attendees
        .split([',', '\n', ';'])
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .collect();
    let (attendee_ids, unknown) = match cascades::attendees_by_email(&state.db, &emails).await {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    if !unknown.is_empty() {
        errors.push(format!(
            "Nobody in Cascade has these email addresses: {}",
            unknown.join(", ")
        ));
    }
    let mut headcounts = Vec::new();
    for (org, count) in [(&form.org1, &form.count1), (&form.org2, &form.count2)] {
        if org.is_empty() && count.trim().is_empty() {
            continue;
        }
        match (org.parse::<Uuid>(), count.trim().parse::<i32>()) {
            (Ok(organisation_id), Ok(count)) => headcounts.push(Headcount {
                organisation_id,
                staff_group_id: None,
                count,
            }),
            _ => errors.push("A headcount needs an organisation and a number of people".to_owned()),
        }
    }
    let course_id = form.course.parse::<Uuid>().ok();
    let delivered_on = NaiveDate::parse_from_str(&form.delivered_on, "%Y-%m-%d").ok();
    let minutes = form.minutes.trim().parse::<i32>().ok();
    if course_id.is_none() {
        errors.push("Choose the course delivered".to_owned());
    }
    if delivered_on.is_none() {
        errors.push("Enter the day it was delivered".to_owned());
    }
    if minutes.is_none() {
        errors.push("Enter how long it lasted, in minutes".to_owned());
    }
    if !errors.is_empty() {
        crate::audit::mark_read_only();
        return match cascade_page(&state, &me, form, errors).await {
            Ok(p) => page(StatusCode::UNPROCESSABLE_ENTITY, &p),
            Err(e) => e.into_response(),
        };
    }
    let input = CascadeSessionInput {
        course_id: course_id.unwrap_or_default(),
        lead_trainer_id: me.person.id,
        co_trainer_id: None,
        delivered_on: delivered_on.unwrap_or_default(),
        start: form.start.clone(),
        duration_minutes: minutes.unwrap_or_default(),
        locality_id: form.locality.parse().ok(),
        mode: if form.mode == "online" {
            DeliveryModeCode::Online
        } else {
            DeliveryModeCode::InPerson
        },
        notes: None,
        attendee_ids,
        headcounts,
    };
    let ctx = Ctx::request(&state, &me.principal);
    match cascades::create(&ctx, &state.config, input).await {
        Ok(_) => see_other("/my?done=cascade"),
        Err(e) => {
            let problem = e.to_problem();
            if problem.status >= 500 {
                return e.into_response();
            }
            let mut words = vec![problem.detail.clone()];
            for f in problem.errors.unwrap_or_default() {
                words.push(format!("{}: {}", f.field.replace('_', " "), f.message));
            }
            let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::CONFLICT);
            match cascade_page(&state, &me, form, words).await {
                Ok(p) => page(status, &p),
                Err(e) => e.into_response(),
            }
        }
    }
}
