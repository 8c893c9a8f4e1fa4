//! Attendance, completion, champions, trainer progression, cascade sessions and reach.

use cascade::domain::{api_keys::KeyRole, sessions::london_today};
use cascade_tests::{Reply, TestApp, id_of, kind};
use chrono::{Duration, NaiveDate};
use entities::{attendance, completions};
use serde_json::{Value, json};
use uuid::Uuid;

pub struct Ftt {
    pub programme: Uuid,
    pub champion: Uuid,
    pub trainer: Uuid,
    pub cascade: Uuid,
}

/// Five to Thrive with a champion course (36-month validity), a trainer course and a
/// light-touch cascade course.
pub async fn ftt(app: &TestApp) -> Ftt {
    let programme = app.programme("five-to-thrive").await;
    let course = |code: &str, kind: &str, validity: Option<i32>| {
        json!({
            "programme_id": programme, "code": code, "title": format!("FTT {code}"), "kind": kind,
            "duration_minutes": 360, "cpd_hours": 6, "default_capacity": 30,
            "certificate_validity_months": validity,
        })
    };
    let mut ids = Vec::new();
    for (code, kind, validity) in [
        ("ftt-champion", "champion", Some(36)),
        ("ftt-trainer", "trainer", None),
        ("ftt-cascade", "cascade", None),
    ] {
        ids.push(id_of(
            &app.post("/api/v1/courses", &app.admin, course(code, kind, validity))
                .await
                .expect(201)
                .body,
        ));
    }
    Ftt {
        programme,
        champion: ids[0],
        trainer: ids[1],
        cascade: ids[2],
    }
}

pub fn today(app: &TestApp) -> NaiveDate {
    london_today(app.clock.now())
}

/// Runs a one-sitting session of `course` in five days with `people`, moves the clock past it,
/// marks everyone present and completes it. Returns the session id.
pub async fn run_session(app: &TestApp, course: Uuid, people: &[Uuid]) -> Uuid {
    run_session_booked_by(app, &app.admin, course, people).await
}

/// [`run_session`] with the places booked by `key` (a partner books for its organisation).
pub async fn run_session_booked_by(
    app: &TestApp,
    key: &str,
    course: Uuid,
    people: &[Uuid],
) -> Uuid {
    let session = id_of(&app.session(course, 5, 30).await);
    let mut bookings = Vec::new();
    for p in people {
        bookings.push(id_of(&app.book(session, *p, key).await.expect(201).body));
    }
    app.clock.advance(Duration::days(6));
    let marks: Vec<Value> = bookings
        .iter()
        .map(|b| json!({ "booking_id": b, "sitting": 1, "present": true }))
        .collect();
    app.put(
        &format!("/api/v1/sessions/{session}/attendance"),
        &app.admin,
        json!({ "marks": marks }),
    )
    .await
    .expect(200);
    app.post(
        &format!("/api/v1/sessions/{session}/complete"),
        &app.admin,
        json!({}),
    )
    .await
    .expect(200);
    session
}

#[tokio::test]
async fn completing_a_session_turns_the_register_into_attended_partial_and_no_show() {
    let app = TestApp::spawn().await;
    let f = ftt(&app).await;
    app.patch(
        &format!("/api/v1/courses/{}", f.champion),
        &app.admin,
        json!({ "completion_threshold_percent": 50 }),
    )
    .await
    .expect(200);
    let org = app.organisation("Council", "council").await;
    let mut people = Vec::new();
    for i in 0..5 {
        people.push(
            app.person(
                &format!("P{i}"),
                &format!("p{i}@example.org"),
                org,
                &format!("E{i}"),
            )
            .await,
        );
    }
    let body = json!({
        "course_id": f.champion,
        "sittings": [
            { "date": today(&app) + Duration::days(5), "start": "09:30", "end": "12:30" },
            { "date": today(&app) + Duration::days(6), "start": "09:30", "end": "12:30" },
            { "date": today(&app) + Duration::days(7), "start": "09:30", "end": "12:30" },
        ],
        "venue": { "name": "Hall" }, "capacity": 4,
    });
    let session = id_of(
        &app.post("/api/v1/sessions", &app.admin, body)
            .await
            .expect(201)
            .body,
    );
    let mut bookings = Vec::new();
    for p in &people {
        bookings.push(id_of(
            &app.book(session, *p, &app.admin).await.expect(201).body,
        ));
    }
    // Three sittings, threshold 50%: two present completes, one is partial, none is a no-show.
    app.clock.advance(Duration::days(8));
    let mark = |b: Uuid, sitting: i32, present: bool| json!({ "booking_id": b, "sitting": sitting, "present": present });
    let marks = json!({ "marks": [
        mark(bookings[0], 1, true), mark(bookings[0], 2, true), mark(bookings[0], 3, true),
        mark(bookings[1], 1, true), mark(bookings[1], 2, false), mark(bookings[1], 3, true),
        mark(bookings[2], 1, true), mark(bookings[2], 2, false), mark(bookings[2], 3, false),
        mark(bookings[3], 1, false), mark(bookings[3], 2, false), mark(bookings[3], 3, false),
    ]});
    let register = app
        .put(
            &format!("/api/v1/sessions/{session}/attendance"),
            &app.admin,
            marks,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(register["sittings"], 3);
    assert_eq!(register["rows"][1]["sittings"], json!([true, false, true]));
    // A mark sent again replaces the earlier one.
    app.put(
        &format!("/api/v1/sessions/{session}/attendance"),
        &app.admin,
        json!({ "marks": [mark(bookings[1], 2, true)] }),
    )
    .await
    .expect(200);
    assert_eq!(app.count(attendance::Entity).await, 12);

    let done = app
        .post(
            &format!("/api/v1/sessions/{session}/complete"),
            &app.admin,
            json!({}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(done["status"], "completed");
    let status = |b: Uuid| {
        let app = &app;
        async move {
            app.get(&format!("/api/v1/bookings/{b}"), &app.admin)
                .await
                .expect(200)
                .body["status"]
                .clone()
        }
    };
    assert_eq!(status(bookings[0]).await, "attended");
    assert_eq!(status(bookings[1]).await, "attended");
    assert_eq!(status(bookings[2]).await, "partial");
    assert_eq!(status(bookings[3]).await, "no_show");
    let waiting = app
        .get(&format!("/api/v1/bookings/{}", bookings[4]), &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(
        (
            waiting["status"].as_str(),
            waiting["cancel_reason"].as_str()
        ),
        (Some("cancelled"), Some("session_completed"))
    );

    // Attended bookings became completion records, and champions of the programme.
    let records = app
        .get(
            &format!("/api/v1/completions?course_id={}", f.champion),
            &app.admin,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(records["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(records["items"][0]["source"], "session");
    assert_eq!(records["items"][0]["source_id"], session.to_string());
    assert_eq!(
        records["items"][0]["completed_on"],
        (today(&app) - Duration::days(1)).to_string()
    );
    let champions = app
        .get(
            &format!("/api/v1/champions?programme_id={}", f.programme),
            &app.admin,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(champions["total"], 2);
    assert_eq!(champions["active"], 2);
    assert_eq!(
        champions["items"][0]["cohort_session_id"],
        session.to_string()
    );
    let since: NaiveDate = champions["items"][0]["since"]
        .as_str()
        .unwrap_or("")
        .parse()
        .expect("date");
    assert_eq!(
        champions["items"][0]["refresh_due_on"],
        since
            .checked_add_months(chrono::Months::new(36))
            .map(|d| d.to_string())
            .unwrap_or_default()
    );

    let again = app
        .post(
            &format!("/api/v1/sessions/{session}/complete"),
            &app.admin,
            json!({}),
        )
        .await
        .problem(409);
    assert_eq!(kind(&again), "session-not-scheduled");
    let late = app
        .put(
            &format!("/api/v1/sessions/{session}/attendance"),
            &app.admin,
            json!({ "marks": [mark(bookings[0], 1, false)] }),
        )
        .await
        .problem(409);
    assert_eq!(kind(&late), "session-not-scheduled");
}

#[tokio::test]
async fn bad_marks_are_refused_together_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let f = ftt(&app).await;
    let org = app.organisation("Council", "council").await;
    let a = app.person("A", "a@example.org", org, "1").await;
    let b = app.person("B", "b@example.org", org, "2").await;
    let session = id_of(&app.session(f.champion, 5, 1).await);
    let confirmed = id_of(&app.book(session, a, &app.admin).await.expect(201).body);
    let waiting = id_of(&app.book(session, b, &app.admin).await.expect(201).body);
    let early = app
        .put(
            &format!("/api/v1/sessions/{session}/attendance"),
            &app.admin,
            json!({ "marks": [{ "booking_id": confirmed, "sitting": 1, "present": true }] }),
        )
        .await
        .problem(422);
    assert_eq!(
        Reply::error_fields(&early),
        ["marks[0].sitting"],
        "the sitting has not started"
    );
    app.clock.advance(Duration::days(6));
    let problem = app
        .put(
            &format!("/api/v1/sessions/{session}/attendance"),
            &app.admin,
            json!({ "marks": [
                { "booking_id": confirmed, "sitting": 1, "present": true },
                { "booking_id": waiting, "sitting": 1, "present": true },
                { "booking_id": confirmed, "sitting": 2, "present": true },
                { "booking_id": confirmed, "sitting": 1, "present": false },
            ]}),
        )
        .await
        .problem(422);
    assert_eq!(
        Reply::error_fields(&problem),
        ["marks[1].booking_id", "marks[2].sitting", "marks[3]"]
    );
    assert_eq!(app.count(attendance::Entity).await, 0);
    let early_close = id_of(&app.session(f.champion, 10, 10).await);
    let problem = app
        .post(
            &format!("/api/v1/sessions/{early_close}/complete"),
            &app.admin,
            json!({}),
        )
        .await
        .problem(409);
    assert_eq!(kind(&problem), "session-not-finished");
}

#[tokio::test]
async fn only_facilitators_and_coordinators_keep_a_register() {
    let app = TestApp::spawn().await;
    let f = ftt(&app).await;
    let org = app.organisation("Council", "council").await;
    let trainer = app.person("Trainer", "t@example.org", org, "T").await;
    let other = app.person("Other", "o@example.org", org, "O").await;
    let learner = app.person("Learner", "l@example.org", org, "L").await;
    let session = id_of(&app.session(f.champion, 5, 10).await);
    app.patch(
        &format!("/api/v1/sessions/{session}"),
        &app.admin,
        json!({ "facilitator_ids": [trainer] }),
    )
    .await
    .expect(200);
    let booking = id_of(
        &app.book(session, learner, &app.admin)
            .await
            .expect(201)
            .body,
    );
    app.clock.advance(Duration::days(6));
    let facilitator_key = app.key(KeyRole::Trainer, None, Some(trainer)).await;
    let other_key = app.key(KeyRole::Trainer, None, Some(other)).await;
    let marks = json!({ "marks": [{ "booking_id": booking, "sitting": 1, "present": true }] });
    app.put(
        &format!("/api/v1/sessions/{session}/attendance"),
        &other_key,
        marks.clone(),
    )
    .await
    .problem(403);
    app.put(
        &format!("/api/v1/sessions/{session}/attendance"),
        &facilitator_key,
        marks,
    )
    .await
    .expect(200);
    app.post(
        &format!("/api/v1/sessions/{session}/complete"),
        &other_key,
        json!({}),
    )
    .await
    .problem(403);
    app.post(
        &format!("/api/v1/sessions/{session}/complete"),
        &facilitator_key,
        json!({}),
    )
    .await
    .expect(200);
    let learner_key = app.key(KeyRole::Learner, None, Some(learner)).await;
    let own = app
        .get("/api/v1/completions", &learner_key)
        .await
        .expect(200)
        .body;
    assert_eq!(own["items"].as_array().map(Vec::len), Some(1));
    let champions = app
        .get("/api/v1/champions", &learner_key)
        .await
        .expect(200)
        .body;
    assert_eq!(champions["total"], 1);
    let none = app
        .get("/api/v1/champions", &other_key)
        .await
        .expect(200)
        .body;
    assert_eq!(none["total"], 0);
}

#[tokio::test]
async fn an_imported_completion_satisfies_prerequisites_and_keeps_the_later_date() {
    let app = TestApp::spawn().await;
    let programme = app.programme("mecc").await;
    let elearning = app.course(programme, "mecc-elearning").await;
    let skills = json!({
        "programme_id": programme, "code": "mecc-skills", "title": "MECC skills", "kind": "practitioner",
        "duration_minutes": 180, "cpd_hours": 3, "default_capacity": 10, "prerequisite_course_ids": [elearning],
    });
    let skills = id_of(
        &app.post("/api/v1/courses", &app.admin, skills)
            .await
            .expect(201)
            .body,
    );
    let police = app.organisation("Police", "police").await;
    let council = app.organisation("Council", "council").await;
    let officer = app
        .person("Officer", "officer@example.org", police, "P1")
        .await;
    let clerk = app
        .person("Clerk", "clerk@example.org", council, "C1")
        .await;
    let session = id_of(&app.session(skills, 10, 10).await);
    app.book(session, officer, &app.admin).await.problem(409);
    let partner = app.key(KeyRole::Partner, Some(police), None).await;
    let imported = app
        .post(
            "/api/v1/completions",
            &partner,
            json!({ "person_id": officer, "course_id": elearning, "completed_on": "2026-01-05" }),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(imported["source"], "imported");
    app.book(session, officer, &partner).await.expect(201);
    let later = app
        .post(
            "/api/v1/completions",
            &app.admin,
            json!({ "person_id": officer, "course_id": elearning, "completed_on": "2026-03-01" }),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(later["completed_on"], "2026-03-01");
    let earlier = app
        .post(
            "/api/v1/completions",
            &app.admin,
            json!({ "person_id": officer, "course_id": elearning, "completed_on": "2025-12-01" }),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(
        earlier["completed_on"], "2026-03-01",
        "an older completion does not move the date back"
    );
    assert_eq!(app.count(completions::Entity).await, 1);

    app.post(
        "/api/v1/completions",
        &partner,
        json!({ "person_id": clerk, "course_id": elearning, "completed_on": "2026-01-05" }),
    )
    .await
    .problem(404);
    let future = (today(&app) + Duration::days(1)).to_string();
    let problem = app
        .post(
            "/api/v1/completions",
            &app.admin,
            json!({ "person_id": clerk, "course_id": Uuid::now_v7(), "completed_on": future }),
        )
        .await
        .problem(422);
    assert_eq!(Reply::error_fields(&problem), ["completed_on", "course_id"]);
    assert_eq!(app.count(completions::Entity).await, 1);
}

#[tokio::test]
async fn champions_filter_by_organisation_sector_locality_and_staff_group_and_age_into_refresh_and_lapse()
 {
    let app = TestApp::spawn().await;
    let f = ftt(&app).await;
    let council = app.organisation("Council", "council").await;
    let charity = app.organisation("Charity", "voluntary").await;
    let calne = app.reference("localities", "Calne").await;
    let early_years = app.reference("staff-groups", "Early years").await;
    let a = app.person("A", "a@example.org", council, "A").await;
    let b = app.person("B", "b@example.org", charity, "B").await;
    app.patch(
        &format!("/api/v1/people/{b}"),
        &app.admin,
        json!({ "locality_id": calne, "staff_group_id": early_years }),
    )
    .await
    .expect(200);
    run_session(&app, f.champion, &[a, b]).await;
    let names = |body: &Value| -> Vec<String> {
        body["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| c["name"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    let find = |query: String| {
        let app = &app;
        async move {
            app.get(&format!("/api/v1/champions?{query}"), &app.admin)
                .await
                .expect(200)
                .body
        }
    };
    assert_eq!(
        names(&find(format!("organisation_id={council}")).await),
        ["A"]
    );
    assert_eq!(names(&find("sector=voluntary".into()).await), ["B"]);
    assert_eq!(names(&find(format!("locality_id={calne}")).await), ["B"]);
    assert_eq!(
        names(&find(format!("staff_group_id={early_years}")).await),
        ["B"]
    );
    let partner = app.key(KeyRole::Partner, Some(charity), None).await;
    assert_eq!(
        names(
            &app.get("/api/v1/champions", &partner)
                .await
                .expect(200)
                .body
        ),
        ["B"]
    );

    // 36 months of validity: refresh due in the last 60 days, lapsed after.
    app.clock.advance(Duration::days(365 * 3 - 40));
    let due = find(format!("programme_id={}", f.programme)).await;
    assert_eq!(
        (
            due["active"].as_i64(),
            due["refresh_due"].as_i64(),
            due["lapsed"].as_i64()
        ),
        (Some(0), Some(2), Some(0))
    );
    app.clock.advance(Duration::days(60));
    let lapsed = find("status=lapsed".into()).await;
    assert_eq!(
        (lapsed["total"].as_i64(), lapsed["lapsed"].as_i64()),
        (Some(2), Some(2))
    );
    assert_eq!(names(&lapsed).len(), 2);
    assert!(names(&find("status=active".into()).await).is_empty());
}
