//! People: the search, and a person's training history. Coordinators see everyone; a partner
//! lead (a person granted the partner role for their organisation) sees only their own staff
//! and the places booked for their organisation — the API's people scope, applied by the same
//! domain functions.

use askama::Template;
use poem::{
    IntoResponse, Response, handler,
    http::StatusCode,
    web::{Data, Path, Query},
};
use serde::Deserialize;
use uuid::Uuid;

use super::{
    door::{Chrome, page},
    my::{not_found_page, refusal, urlencode},
};
use crate::{
    domain::{
        bookings,
        certificates::{self, CertificateFilter},
        courses,
        mail::compose::spoken_date,
        people::{self, PeopleFilter},
        sessions,
        sign_in::SignedIn,
    },
    error::ApiError,
    pagination::PageRequest,
    state::AppState,
};

#[derive(Template)]
#[template(path = "console_people.html")]
struct SearchPage {
    chrome: Chrome,
    q: String,
    people: Vec<(Uuid, String, String)>,
    next_page: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct SearchQuery {
    q: Option<String>,
    after: Option<String>,
}

/// `GET /console/people?q=`: people whose name or surname starts with `q` (the API's `name`
/// filter), within the signed-in person's scope.
#[handler]
pub async fn search(state: Data<&AppState>, me: SignedIn, q: Query<SearchQuery>) -> Response {
    if let Err(e) = me.principal.require_people_search() {
        return refusal(
            &me,
            "This page is not for your role",
            e,
            ("Go to My training", "/my"),
        );
    }
    let text = q.q.clone().unwrap_or_default();
    let page_req = match PageRequest::parse(Some(25), q.after.as_deref()) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let filter = PeopleFilter {
        name: Some(text.clone()).filter(|t| !t.trim().is_empty()),
        ..PeopleFilter::default()
    };
    let (people, next, error) = match people::list(&state.db, &me.principal, filter, page_req).await
    {
        Ok((rows, next)) => (rows, next, None),
        Err(e @ ApiError::Validation(_)) => (Vec::new(), None, Some(e.to_problem().detail)),
        Err(e) => return e.into_response(),
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    page(
        status,
        &SearchPage {
            chrome: Chrome::of(&me),
            people: people
                .into_iter()
                .map(|p| (p.id, p.name, p.email))
                .collect(),
            next_page: next.map(|n| {
                format!(
                    "/console/people?q={}&after={}",
                    urlencode(&text),
                    urlencode(&n)
                )
            }),
            q: text,
            error,
        },
    )
}

struct HistoryLine {
    title: String,
    when: String,
    status: String,
}

#[derive(Template)]
#[template(path = "console_person.html")]
struct PersonPage {
    chrome: Chrome,
    name: String,
    email: String,
    bookings: Vec<HistoryLine>,
    certificates: Vec<(String, String, String)>,
}

/// `GET /console/people/{id}`: a person's bookings (with no-shows and late cancellations) and
/// certificates — what the caller may see of them.
#[handler]
pub async fn person(state: Data<&AppState>, me: SignedIn, id: Path<Uuid>) -> Response {
    if let Err(e) = me.principal.require_people_search() {
        return refusal(
            &me,
            "This page is not for your role",
            e,
            ("Go to My training", "/my"),
        );
    }
    match person_page(&state, &me, id.0).await {
        Ok(p) => page(StatusCode::OK, &p),
        Err(e) => not_found_page(e),
    }
}

async fn person_page(state: &AppState, me: &SignedIn, id: Uuid) -> Result<PersonPage, ApiError> {
    let who = &me.principal;
    let found_person = people::get(&state.db, who, id).await?;
    let (held, _) = bookings::list_for_person(
        &state.db,
        who,
        id,
        None,
        None,
        PageRequest {
            limit: 200,
            after: None,
        },
    )
    .await?;
    let found = sessions::by_ids(
        &state.db,
        &state.clock,
        held.iter().map(|b| b.session_id).collect(),
    )
    .await?;
    let titles = courses::titles(&state.db, held.iter().map(|b| b.course_id)).await?;
    let mut lines: Vec<(chrono::DateTime<chrono::Utc>, HistoryLine)> = held
        .iter()
        .map(|b| {
            let s = found.iter().find(|s| s.id == b.session_id);
            (
                s.map(|s| s.starts_at).unwrap_or_default(),
                HistoryLine {
                    title: titles.get(&b.course_id).cloned().unwrap_or_default(),
                    when: s
                        .map(|s| spoken_date(sessions::london_today(s.starts_at)))
                        .unwrap_or_default(),
                    status: match (b.status, b.late_cancellation) {
                        (bookings::BookingStatusCode::Cancelled, true) => {
                            "Cancelled late".to_owned()
                        }
                        (bookings::BookingStatusCode::NoShow, _) => "Did not attend".to_owned(),
                        (s, _) => format!("{s:?}").replace('_', " "),
                    },
                },
            )
        })
        .collect();
    lines.sort_by_key(|l| std::cmp::Reverse(l.0));
    let (certs, _) = certificates::list(
        &state.db,
        &state.config,
        &state.clock,
        who,
        CertificateFilter {
            person_id: Some(id),
            ..CertificateFilter::default()
        },
        PageRequest {
            limit: 200,
            after: None,
        },
    )
    .await?;
    Ok(PersonPage {
        chrome: Chrome::of(me),
        name: found_person.name,
        email: found_person.email,
        bookings: lines.into_iter().map(|l| l.1).collect(),
        certificates: certs
            .into_iter()
            .map(|c| (c.title, c.number, format!("{:?}", c.status).to_lowercase()))
            .collect(),
    })
}
