//! Trainer progression, cascade sessions and reach.

use cascade::domain::api_keys::KeyRole;
use cascade_tests::{Reply, TestApp, id_of, kind};
use chrono::{Duration, Months};
use entities::{cascade_sessions, completions};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::progression::{Ftt, ftt, run_session, today};

async fn step(
    app: &TestApp,
    key: &str,
    person: Uuid,
    programme: Uuid,
    code: &str,
    extra: Value,
) -> Reply {
    let mut body = json!({ "programme_id": programme, "step": code, "evidence": format!("Evidence for {code}") });
    for (k, v) in extra.as_object().into_iter().flatten() {
        body[k] = v.clone();
    }
    app.post(&format!("/api/v1/trainers/{person}/steps"), key, body)
        .await
}

/// Takes a champion to accredited the way the first trainers are: co-delivery with the
/// licensing provider recorded by a coordinator with a reason.
pub async fn bootstrap_accredited(app: &TestApp, f: &Ftt, person: Uuid) {
    step(app, &app.admin, person, f.programme, "nominated", json!({}))
        .await
        .expect(201);
    let done = json!({ "person_id": person, "course_id": f.trainer, "completed_on": today(app) });
    app.post("/api/v1/completions", &app.admin, done)
        .await
        .expect(201);
    step(
        app,
        &app.admin,
        person,
        f.programme,
        "co_delivered",
        json!({ "override_reason": "Co-delivered with KCA trainers" }),
    )
    .await
    .expect(201);
    step(app, &app.admin, person, f.programme, "observed", json!({}))
        .await
        .expect(201);
    step(
        app,
        &app.admin,
        person,
        f.programme,
        "accredited",
        json!({}),
    )
    .await
    .expect(201);
}

async fn progress(app: &TestApp, person: Uuid) -> Value {
    app.get(&format!("/api/v1/trainers/{person}"), &app.admin)
        .await
        .expect(200)
        .body[0]
        .clone()
}

async fn cascade(app: &TestApp, key: &str, body: Value) -> Reply {
    app.post("/api/v1/cascade-sessions", key, body).await
}

fn delivery(
    f: &Ftt,
    lead: Uuid,
    co: Option<Uuid>,
    on: chrono::NaiveDate,
    headcounts: Value,
    attendees: Value,
    locality: Option<Uuid>,
) -> Value {
    json!({
        "course_id": f.cascade, "lead_trainer_id": lead, "co_trainer_id": co, "delivered_on": on,
        "start": "14:00", "duration_minutes": 90, "mode": "in_person", "locality_id": locality,
        "attendee_ids": attendees, "headcounts": headcounts,
    })
}

#[tokio::test]
async fn steps_go_in_pipeline_order_with_evidence() {
    let app = TestApp::spawn().await;
    let f = ftt(&app).await;
    let org = app.organisation("Council", "council").await;
    let a = app
        .person("Siân Roberts", "sian@example.org", org, "A")
        .await;
    let b = app.person("Bea", "bea@example.org", org, "B").await;
    run_session(&app, f.champion, &[a, b]).await;
    let p = progress(&app, a).await;
    assert_eq!(
        (p["step"].as_str(), p["state"].as_str()),
        (Some("champion"), Some("in_progress"))
    );
    assert_eq!(p["history"][0]["automatic"], true);
    assert!(
        p["history"][0]["evidence"]
            .as_str()
            .unwrap_or("")
            .contains("ftt-champion")
    );

    assert_eq!(
        kind(
            &step(&app, &app.admin, a, f.programme, "observed", json!({}))
                .await
                .problem(409)
        ),
        "step-out-of-order"
    );
    assert_eq!(
        kind(
            &step(
                &app,
                &app.admin,
                a,
                f.programme,
                "trainer_course_completed",
                json!({})
            )
            .await
            .problem(409)
        ),
        "step-automatic"
    );
    let no_evidence = step(
        &app,
        &app.admin,
        a,
        f.programme,
        "nominated",
        json!({ "evidence": " " }),
    )
    .await
    .problem(422);
    assert_eq!(Reply::error_fields(&no_evidence), ["evidence"]);
    let unknown = step(&app, &app.admin, a, f.programme, "knighted", json!({}))
        .await
        .problem(422);
    assert_eq!(Reply::error_fields(&unknown), ["step"]);
    let future = step(
        &app,
        &app.admin,
        a,
        f.programme,
        "nominated",
        json!({ "effective_on": today(&app) + Duration::days(1) }),
    )
    .await
    .problem(422);
    assert_eq!(Reply::error_fields(&future), ["effective_on"]);
    let nominated = step(
        &app,
        &app.admin,
        a,
        f.programme,
        "nominated",
        json!({ "evidence_url": "https://intranet.example/nominations/7" }),
    )
    .await
    .expect(201)
    .body;
    assert_eq!(
        nominated["evidence_url"],
        "https://intranet.example/nominations/7"
    );
    assert_eq!(
        kind(
            &step(&app, &app.admin, a, f.programme, "nominated", json!({}))
                .await
                .problem(409)
        ),
        "step-already-recorded"
    );

    app.post(
        "/api/v1/completions",
        &app.admin,
        json!({ "person_id": a, "course_id": f.trainer, "completed_on": today(&app) }),
    )
    .await
    .expect(201);
    assert_eq!(
        progress(&app, a).await["step"],
        "trainer_course_completed",
        "completing the trainer course is recorded automatically"
    );
    step(
        &app,
        &app.admin,
        a,
        f.programme,
        "co_delivered",
        json!({ "override_reason": "Co-delivered with KCA" }),
    )
    .await
    .expect(201);

    // A sign-off must come from a coordinator or an accredited trainer.
    let not_accredited = app.key(KeyRole::Trainer, None, Some(b)).await;
    assert_eq!(
        kind(
            &step(&app, &not_accredited, a, f.programme, "observed", json!({}))
                .await
                .problem(409)
        ),
        "sign-off-not-accredited"
    );
    assert_eq!(
        kind(
            &step(
                &app,
                &app.admin,
                a,
                f.programme,
                "observed",
                json!({ "signed_off_by_person_id": b })
            )
            .await
            .problem(409)
        ),
        "sign-off-not-accredited"
    );
    step(
        &app,
        &not_accredited,
        a,
        f.programme,
        "accredited",
        json!({}),
    )
    .await
    .problem(403);
    step(&app, &app.admin, a, f.programme, "observed", json!({}))
        .await
        .expect(201);
    let accredited = step(&app, &app.admin, a, f.programme, "accredited", json!({}))
        .await
        .expect(201)
        .body;
    let expires = today(&app)
        .checked_add_months(Months::new(12))
        .map(|d| d.to_string());
    assert_eq!(
        accredited["licence_expires_on"].as_str().map(str::to_owned),
        expires
    );

    // Now an accredited trainer signs off a colleague, as themselves.
    step(&app, &app.admin, b, f.programme, "nominated", json!({}))
        .await
        .expect(201);
    app.post(
        "/api/v1/completions",
        &app.admin,
        json!({ "person_id": b, "course_id": f.trainer, "completed_on": today(&app) }),
    )
    .await
    .expect(201);
    step(
        &app,
        &app.admin,
        b,
        f.programme,
        "co_delivered",
        json!({ "override_reason": "Co-delivered with KCA" }),
    )
    .await
    .expect(201);
    let a_key = app.key(KeyRole::Trainer, None, Some(a)).await;
    let signed = step(&app, &a_key, b, f.programme, "observed", json!({}))
        .await
        .expect(201)
        .body;
    assert_eq!(signed["signed_off_by_person_id"], a.to_string());

    let list = app
        .get(
            &format!("/api/v1/trainers?programme_id={}", f.programme),
            &app.admin,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(
        (
            list["total"].as_i64(),
            list["accredited"].as_i64(),
            list["in_progress"].as_i64()
        ),
        (Some(2), Some(1), Some(1))
    );
    let accredited_only = app
        .get(
            &format!(
                "/api/v1/trainers?programme_id={}&state=accredited",
                f.programme
            ),
            &app.admin,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(accredited_only["items"][0]["name"], "Siân Roberts");
    let pipeline = app
        .get(
            &format!("/api/v1/programmes/{}/pipeline", f.programme),
            &app.admin,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(pipeline["default"], true);
    assert_eq!(pipeline["steps"].as_array().map(Vec::len), Some(6));
}

#[tokio::test]
async fn accreditation_is_capped_by_the_years_trainer_target_unless_a_coordinator_overrides() {
    let app = TestApp::spawn().await;
    let f = ftt(&app).await;
    let org = app.organisation("Council", "council").await;
    let a = app.person("A", "a@example.org", org, "A").await;
    let b = app.person("B", "b@example.org", org, "B").await;
    run_session(&app, f.champion, &[a, b]).await;
    let year = cascade::domain::trainers::steps::financial_year(today(&app));
    app.put(
        &format!("/api/v1/programmes/{}/years/{year}", f.programme),
        &app.admin,
        json!({ "trainers_target": 1 }),
    )
    .await
    .expect(200);
    bootstrap_accredited(&app, &f, a).await;
    step(&app, &app.admin, b, f.programme, "nominated", json!({}))
        .await
        .expect(201);
    app.post(
        "/api/v1/completions",
        &app.admin,
        json!({ "person_id": b, "course_id": f.trainer, "completed_on": today(&app) }),
    )
    .await
    .expect(201);
    step(
        &app,
        &app.admin,
        b,
        f.programme,
        "co_delivered",
        json!({ "override_reason": "KCA" }),
    )
    .await
    .expect(201);
    step(&app, &app.admin, b, f.programme, "observed", json!({}))
        .await
        .expect(201);
    let capped = step(&app, &app.admin, b, f.programme, "accredited", json!({}))
        .await
        .problem(409);
    assert_eq!(kind(&capped), "trainer-target-reached");
    let overridden = step(
        &app,
        &app.admin,
        b,
        f.programme,
        "accredited",
        json!({ "override_reason": "Second trainer for the south" }),
    )
    .await
    .expect(201)
    .body;
    assert_eq!(
        overridden["override_reason"],
        "Second trainer for the south"
    );
    let list = app
        .get(
            &format!("/api/v1/trainers?programme_id={}", f.programme),
            &app.admin,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(list["accredited"], 2);
}

#[tokio::test]
async fn a_trainer_lapses_when_the_licence_expires_or_they_stop_delivering() {
    let app = TestApp::spawn().await;
    let f = ftt(&app).await;
    let org = app.organisation("Council", "council").await;
    let a = app.person("A", "a@example.org", org, "A").await;
    let b = app.person("B", "b@example.org", org, "B").await;
    run_session(&app, f.champion, &[a, b]).await;
    bootstrap_accredited(&app, &f, a).await;
    assert_eq!(progress(&app, a).await["state"], "accredited");

    // Licence of 12 months: after it, lapsed; renewal needs 2 deliveries in the last 12 months.
    app.clock.advance(Duration::days(370));
    assert_eq!(progress(&app, a).await["state"], "lapsed");
    let refused = step(&app, &app.admin, a, f.programme, "renewed", json!({}))
        .await
        .problem(409);
    assert_eq!(kind(&refused), "renewal-needs-deliveries");
    let renewed = step(
        &app,
        &app.admin,
        a,
        f.programme,
        "renewed",
        json!({ "override_reason": "Long-term sick leave" }),
    )
    .await
    .expect(201);
    assert!(renewed.body["licence_expires_on"].is_string());
    assert_eq!(progress(&app, a).await["state"], "accredited");

    // With a 24-month licence, a trainer who delivers fewer than 2 sessions a year still lapses.
    let pipeline = json!({ "steps": [
        { "code": "champion", "kind": "champion" },
        { "code": "accredited", "kind": "accreditation", "licence_months": 24 },
    ]});
    app.put(
        &format!("/api/v1/programmes/{}/pipeline", f.programme),
        &app.admin,
        pipeline,
    )
    .await
    .expect(200);
    step(&app, &app.admin, b, f.programme, "accredited", json!({}))
        .await
        .expect(201);
    app.clock.advance(Duration::days(30));
    let on = today(&app);
    cascade(
        &app,
        &app.admin,
        delivery(
            &f,
            b,
            None,
            on,
            json!([{ "organisation_id": org, "count": 5 }]),
            json!([]),
            None,
        ),
    )
    .await
    .expect(201);
    cascade(
        &app,
        &app.admin,
        delivery(
            &f,
            b,
            None,
            on,
            json!([{ "organisation_id": org, "count": 6 }]),
            json!([]),
            None,
        ),
    )
    .await
    .expect(201);
    app.clock.advance(Duration::days(340));
    assert_eq!(
        progress(&app, b).await["state"],
        "accredited",
        "two sessions in the last 12 months"
    );
    app.clock.advance(Duration::days(40));
    let lapsed = progress(&app, b).await;
    assert_eq!(
        (
            lapsed["state"].as_str(),
            lapsed["cascade_sessions_last_12_months"].as_i64()
        ),
        (Some("lapsed"), Some(0))
    );
}

#[tokio::test]
async fn cascade_sessions_are_validated_and_only_eligible_trainers_may_deliver() {
    let app = TestApp::spawn().await;
    let f = ftt(&app).await;
    let org = app.organisation("Council", "council").await;
    let a = app.person("A", "a@example.org", org, "A").await;
    let c = app.person("C", "c@example.org", org, "C").await;
    let x = app.person("X", "x@example.org", org, "X").await;
    let p1 = app.person("P1", "p1@example.org", org, "P1").await;
    run_session(&app, f.champion, &[a, c]).await;
    bootstrap_accredited(&app, &f, a).await;
    let on = today(&app);
    let good = delivery(
        &f,
        a,
        None,
        on,
        json!([{ "organisation_id": org, "count": 4 }]),
        json!([p1]),
        None,
    );
    let with = |patch: Value| {
        let mut body = good.clone();
        for (k, v) in patch.as_object().into_iter().flatten() {
            body[k] = v.clone();
        }
        body
    };
    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        (
            "not a cascade course",
            with(json!({ "course_id": f.champion })),
            vec!["course_id"],
        ),
        (
            "in the future",
            with(json!({ "delivered_on": on + Duration::days(1) })),
            vec!["delivered_on"],
        ),
        ("bad start", with(json!({ "start": "2pm" })), vec!["start"]),
        (
            "too short",
            with(json!({ "duration_minutes": 5 })),
            vec!["duration_minutes"],
        ),
        (
            "named twice",
            with(json!({ "attendee_ids": [p1, p1] })),
            vec!["attendee_ids"],
        ),
        (
            "zero headcount",
            with(json!({ "headcounts": [{ "organisation_id": org, "count": 0 }] })),
            vec!["headcounts[0].count"],
        ),
        (
            "nobody",
            with(json!({ "attendee_ids": [], "headcounts": [] })),
            vec!["attendee_ids"],
        ),
        (
            "co-trainer is the lead",
            with(json!({ "co_trainer_id": a })),
            vec!["co_trainer_id"],
        ),
    ];
    for (reason, body, fields) in cases {
        let problem = cascade(&app, &app.admin, body).await.problem(422);
        assert_eq!(Reply::error_fields(&problem), fields, "{reason}");
    }
    assert_eq!(app.count(cascade_sessions::Entity).await, 0);

    // Not accredited: refused; in progression with an accredited co-trainer: accepted.
    let problem = cascade(&app, &app.admin, with(json!({ "lead_trainer_id": x })))
        .await
        .problem(409);
    assert_eq!(kind(&problem), "trainer-not-eligible");
    let problem = cascade(
        &app,
        &app.admin,
        with(json!({ "lead_trainer_id": x, "co_trainer_id": a })),
    )
    .await
    .problem(409);
    assert_eq!(
        kind(&problem),
        "trainer-not-eligible",
        "X is not in the pipeline at all"
    );
    let a_key = app.key(KeyRole::Trainer, None, Some(a)).await;
    let x_key = app.key(KeyRole::Trainer, None, Some(x)).await;
    cascade(&app, &x_key, good.clone()).await.problem(403);
    let first = cascade(&app, &a_key, with(json!({ "co_trainer_id": c })))
        .await
        .expect(201)
        .body;
    assert_eq!(first["people_reached"], 5);
    let named = app
        .get(&format!("/api/v1/completions?person_id={p1}"), &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(named["items"][0]["source"], "cascade_session");
    assert!(
        progress(&app, c).await["history"]
            .as_array()
            .is_some_and(|h| h.iter().all(|s| s["step"] != "co_delivered"))
    );
    let second = cascade(
        &app,
        &a_key,
        delivery(
            &f,
            c,
            Some(a),
            on,
            json!([{ "organisation_id": org, "count": 2 }]),
            json!([]),
            None,
        ),
    )
    .await
    .expect(201)
    .body;
    let history = progress(&app, c).await["history"].clone();
    let co = history
        .as_array()
        .and_then(|h| h.iter().find(|s| s["step"] == "co_delivered"))
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(
        co["automatic"], true,
        "two co-deliveries with an accredited trainer: recorded automatically"
    );

    // Corrections: within 30 days, by those who delivered it.
    let corrected = app
        .request(
            "PUT",
            &format!("/api/v1/cascade-sessions/{}", id_of(&first)),
            Some(&a_key),
            Some(with(json!({ "co_trainer_id": c, "attendee_ids": [] }))),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(corrected["people_reached"], 4);
    assert_eq!(
        app.count(completions::Entity).await,
        3,
        "two champions and A's trainer course remain; the removed attendee's completion is gone"
    );
    app.request(
        "GET",
        &format!("/api/v1/cascade-sessions/{}", id_of(&first)),
        Some(&x_key),
        None,
    )
    .await
    .problem(404);
    let listed = app
        .get("/api/v1/cascade-sessions", &x_key)
        .await
        .expect(200)
        .body;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(0));
    app.request(
        "DELETE",
        &format!("/api/v1/cascade-sessions/{}", id_of(&second)),
        Some(&app.admin),
        None,
    )
    .await
    .expect(204);
    let history = progress(&app, c).await["history"].clone();
    assert!(
        history
            .as_array()
            .is_some_and(|h| h.iter().all(|s| s["step"] != "co_delivered")),
        "one co-delivery left: the step is withdrawn"
    );
    app.clock.advance(Duration::days(31));
    let closed = app
        .request(
            "DELETE",
            &format!("/api/v1/cascade-sessions/{}", id_of(&first)),
            Some(&app.admin),
            None,
        )
        .await
        .problem(409);
    assert_eq!(kind(&closed), "correction-window-closed");
}

/// Lines of a breakdown as (name, cascade sessions, people reached).
fn lines(report: &Value, breakdown: &str) -> Vec<(String, i64, i64)> {
    report[breakdown]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| {
            (
                l["name"].as_str().unwrap_or("").to_owned(),
                l["cascade_sessions"].as_i64().unwrap_or(-1),
                l["people_reached"].as_i64().unwrap_or(-1),
            )
        })
        .collect()
}

fn line(name: &str, sessions: i64, reached: i64) -> (String, i64, i64) {
    (name.to_owned(), sessions, reached)
}

#[tokio::test]
async fn reach_adds_up_by_trainer_cohort_partner_sector_locality_and_staff_group() {
    let app = TestApp::spawn().await;
    let f = ftt(&app).await;
    let council = app.organisation("Wiltshire Council", "council").await;
    let police = app.organisation("Wiltshire Police", "police").await;
    let charity = app
        .organisation("Wiltshire Parent Carer Council", "voluntary")
        .await;
    let early_years = app.reference("staff-groups", "Early years").await;
    let policing = app.reference("staff-groups", "Police").await;
    let calne = app.reference("localities", "Calne").await;
    let devizes = app.reference("localities", "Devizes").await;
    let a = app.person("Ann", "ann@example.org", council, "A").await;
    let b = app.person("Bob", "bob@example.org", police, "B").await;
    let c = app.person("Cat", "cat@example.org", charity, "C").await;
    let d = app.person("Dan", "dan@example.org", council, "D").await;
    let p1 = app.person("P1", "p1@example.org", council, "P1").await;
    let p2 = app.person("P2", "p2@example.org", police, "P2").await;
    let p3 = app.person("P3", "p3@example.org", charity, "P3").await;
    for (p, g) in [(p1, early_years), (p2, policing), (p3, early_years)] {
        app.patch(
            &format!("/api/v1/people/{p}"),
            &app.admin,
            json!({ "staff_group_id": g }),
        )
        .await
        .expect(200);
    }
    let start = today(&app);
    let s1 = run_session(&app, f.champion, &[a, b, c]).await;
    let s2 = run_session(&app, f.champion, &[d]).await;
    bootstrap_accredited(&app, &f, a).await;
    bootstrap_accredited(&app, &f, d).await;
    for p in [b, c] {
        step(&app, &app.admin, p, f.programme, "nominated", json!({}))
            .await
            .expect(201);
        app.post(
            "/api/v1/completions",
            &app.admin,
            json!({ "person_id": p, "course_id": f.trainer, "completed_on": today(&app) }),
        )
        .await
        .expect(201);
    }
    let on = today(&app);
    let hc = |org: Uuid, group: Option<Uuid>, count: i32| json!({ "organisation_id": org, "staff_group_id": group, "count": count });
    cascade(
        &app,
        &app.admin,
        delivery(
            &f,
            a,
            Some(b),
            on,
            json!([hc(council, Some(early_years), 10)]),
            json!([p1, p2]),
            Some(calne),
        ),
    )
    .await
    .expect(201);
    cascade(
        &app,
        &app.admin,
        delivery(
            &f,
            a,
            Some(b),
            on,
            json!([hc(police, Some(policing), 5), hc(charity, None, 3)]),
            json!([]),
            Some(devizes),
        ),
    )
    .await
    .expect(201);
    let a_key = app.key(KeyRole::Trainer, None, Some(a)).await;
    step(&app, &a_key, b, f.programme, "observed", json!({}))
        .await
        .expect(201);
    step(&app, &app.admin, b, f.programme, "accredited", json!({}))
        .await
        .expect(201);
    cascade(
        &app,
        &app.admin,
        delivery(
            &f,
            b,
            None,
            on,
            json!([hc(council, None, 4)]),
            json!([p3]),
            Some(calne),
        ),
    )
    .await
    .expect(201);
    cascade(
        &app,
        &app.admin,
        delivery(
            &f,
            a,
            Some(c),
            on,
            json!([hc(council, Some(early_years), 6)]),
            json!([]),
            Some(devizes),
        ),
    )
    .await
    .expect(201);
    cascade(
        &app,
        &app.admin,
        delivery(&f, d, None, on, json!([]), json!([p1]), Some(calne)),
    )
    .await
    .expect(201);

    // A year on: Ann and Bob delivered enough to renew; Dan did not, and lapses with his licence.
    app.clock.advance(Duration::days(360));
    step(&app, &app.admin, a, f.programme, "renewed", json!({}))
        .await
        .expect(201);
    step(&app, &app.admin, b, f.programme, "renewed", json!({}))
        .await
        .expect(201);
    assert_eq!(
        kind(
            &step(&app, &app.admin, d, f.programme, "renewed", json!({}))
                .await
                .problem(409)
        ),
        "renewal-needs-deliveries"
    );
    app.clock.advance(Duration::days(10));
    let trainers = app
        .get(
            &format!("/api/v1/trainers?programme_id={}", f.programme),
            &app.admin,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(
        (
            trainers["accredited"].as_i64(),
            trainers["lapsed"].as_i64(),
            trainers["in_progress"].as_i64()
        ),
        (Some(2), Some(1), Some(1))
    );

    let url = format!(
        "/api/v1/reports/reach?programme_id={}&from={}&to={}",
        f.programme,
        start,
        today(&app)
    );
    let report = app.get(&url, &app.admin).await.expect(200).body;
    // By hand: named 2 + 0 + 1 + 0 + 1 = 4; headcount 10 + 8 + 4 + 6 + 0 = 28; 32 people reached.
    assert_eq!(
        (
            report["people_reached"].as_i64(),
            report["named"].as_i64(),
            report["headcount"].as_i64()
        ),
        (Some(32), Some(4), Some(28))
    );
    assert_eq!(report["cascade_sessions"], 5);
    assert_eq!(report["active_trainers"], 2, "Dan has lapsed");
    assert_eq!(report["reach_per_trainer"], 16.0);
    assert_eq!(
        lines(&report, "by_trainer"),
        [line("Ann", 3, 26), line("Bob", 1, 5), line("Dan", 1, 1)]
    );
    let cohorts = lines(&report, "by_cohort");
    assert_eq!(
        cohorts.iter().map(|l| (l.1, l.2)).collect::<Vec<_>>(),
        [(4, 31), (1, 1)]
    );
    let cohort_keys: Vec<String> = report["by_cohort"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| l["key"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(cohort_keys, [s1.to_string(), s2.to_string()]);
    assert_eq!(
        lines(&report, "by_partner"),
        [
            line("Wiltshire Council", 4, 22),
            line("Wiltshire Police", 2, 6),
            line("Wiltshire Parent Carer Council", 2, 4)
        ]
    );
    let sectors: Vec<(String, i64)> = report["by_sector"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| {
            (
                l["key"].as_str().unwrap_or("").to_owned(),
                l["people_reached"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        sectors,
        [
            ("council".to_owned(), 22),
            ("police".to_owned(), 6),
            ("voluntary".to_owned(), 4)
        ]
    );
    assert_eq!(
        lines(&report, "by_locality"),
        [line("Calne", 3, 18), line("Devizes", 2, 14)]
    );
    assert_eq!(
        lines(&report, "by_staff_group"),
        [
            line("Early years", 4, 19),
            line("Unknown", 2, 7),
            line("Police", 2, 6)
        ]
    );

    // A partner sees its own organisation's breakdowns and the programme totals.
    let partner = app.key(KeyRole::Partner, Some(police), None).await;
    let theirs = app.get(&url, &partner).await.expect(200).body;
    assert_eq!(theirs["people_reached"], 32);
    assert_eq!(theirs["breakdowns_for_organisation_id"], police.to_string());
    assert_eq!(
        lines(&theirs, "by_partner"),
        [line("Wiltshire Police", 2, 6)]
    );
    assert_eq!(lines(&theirs, "by_trainer"), [line("Ann", 2, 6)]);
    assert_eq!(
        lines(&theirs, "by_locality"),
        [line("Devizes", 1, 5), line("Calne", 1, 1)]
    );

    // Lineage: Bob's champion cohort, his steps, the sessions he co-delivered and led.
    let lineage = app
        .get(
            &format!("/api/v1/trainers/{b}/lineage?programme_id={}", f.programme),
            &app.admin,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(lineage["champion"]["cohort_session_id"], s1.to_string());
    let steps: Vec<&str> = lineage["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["step"].as_str())
        .collect();
    assert_eq!(
        steps,
        [
            "champion",
            "nominated",
            "trainer_course_completed",
            "co_delivered",
            "observed",
            "accredited",
            "renewed"
        ]
    );
    let led: Vec<(bool, i64)> = lineage["cascade_sessions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            (
                s["led"].as_bool().unwrap_or(false),
                s["people_reached"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(led, [(false, 12), (false, 8), (true, 5)]);
    assert_eq!(lineage["people_reached"], 5);
    let problem = app
        .get(
            &format!(
                "/api/v1/reports/reach?programme_id={}&from=2027-05-01&to=2027-04-01",
                f.programme
            ),
            &app.admin,
        )
        .await
        .problem(422);
    assert_eq!(Reply::error_fields(&problem), ["to"]);
}

#[tokio::test]
async fn programme_years_and_pipelines_are_set_and_validated() {
    let app = TestApp::spawn().await;
    let f = ftt(&app).await;
    let year = app
        .put(
            &format!("/api/v1/programmes/{}/years/2026", f.programme),
            &app.admin,
            json!({ "champion_sessions_target": 12, "champions_target": 600, "trainers_target": 25, "reserved_share_bp": 1000 }),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(
        (
            year["champions_target"].as_i64(),
            year["reach_target"].as_i64()
        ),
        (Some(600), None)
    );
    let changed = app
        .put(
            &format!("/api/v1/programmes/{}/years/2026", f.programme),
            &app.admin,
            json!({ "trainers_target": 30 }),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(
        (
            changed["trainers_target"].as_i64(),
            changed["champions_target"].as_i64()
        ),
        (Some(30), None)
    );
    assert_eq!(changed["created_at"], year["created_at"]);
    let listed = app
        .get(
            &format!("/api/v1/programmes/{}/years", f.programme),
            &app.admin,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    app.get(
        &format!("/api/v1/programmes/{}/years/2030", f.programme),
        &app.admin,
    )
    .await
    .problem(404);
    let bad = app
        .put(
            &format!("/api/v1/programmes/{}/years/2026", f.programme),
            &app.admin,
            json!({ "trainers_target": -1, "reserved_share_bp": 10001 }),
        )
        .await
        .problem(422);
    assert_eq!(
        Reply::error_fields(&bad),
        ["reserved_share_bp", "trainers_target"]
    );
    let bad_year = app
        .put(
            &format!("/api/v1/programmes/{}/years/1999", f.programme),
            &app.admin,
            json!({}),
        )
        .await
        .problem(422);
    assert_eq!(Reply::error_fields(&bad_year), ["year"]);

    let invalid = json!({ "steps": [
        { "code": "accredited", "kind": "accreditation", "licence_months": 12 },
        { "code": "Observed", "kind": "sign_off" },
        { "code": "co", "kind": "co_delivery" },
        { "code": "co", "kind": "manual", "licence_months": 3 },
    ]});
    let problem = app
        .put(
            &format!("/api/v1/programmes/{}/pipeline", f.programme),
            &app.admin,
            invalid,
        )
        .await
        .problem(422);
    assert_eq!(
        Reply::error_fields(&problem),
        [
            "steps[0].kind",
            "steps[1].code",
            "steps[2].min_sessions",
            "steps[3].code",
            "steps[3].licence_months"
        ]
    );
    let custom = json!({ "steps": [
        { "code": "champion", "kind": "champion" },
        { "code": "shadowed", "kind": "manual" },
        { "code": "co_delivered", "kind": "co_delivery", "min_sessions": 3 },
        { "code": "accredited", "kind": "accreditation", "licence_months": 24 },
    ]});
    let set = app
        .put(
            &format!("/api/v1/programmes/{}/pipeline", f.programme),
            &app.admin,
            custom.clone(),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(set["default"], false);
    // Absent limits are left out of the answer, as they were of the request.
    assert_eq!(set["steps"], custom["steps"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_accreditations_never_exceed_the_trainer_target() {
    let app = std::sync::Arc::new(TestApp::spawn().await);
    let f = ftt(&app).await;
    let org = app.organisation("Council", "council").await;
    let mut people = Vec::new();
    for i in 0..6 {
        people.push(
            app.person(
                &format!("T{i}"),
                &format!("t{i}@example.org"),
                org,
                &format!("T{i}"),
            )
            .await,
        );
    }
    run_session(&app, f.champion, &people).await;
    let year = cascade::domain::trainers::steps::financial_year(today(&app));
    app.put(
        &format!("/api/v1/programmes/{}/years/{year}", f.programme),
        &app.admin,
        json!({ "trainers_target": 2 }),
    )
    .await
    .expect(200);
    for p in &people {
        step(&app, &app.admin, *p, f.programme, "nominated", json!({}))
            .await
            .expect(201);
        app.post(
            "/api/v1/completions",
            &app.admin,
            json!({ "person_id": p, "course_id": f.trainer, "completed_on": today(&app) }),
        )
        .await
        .expect(201);
        step(
            &app,
            &app.admin,
            *p,
            f.programme,
            "co_delivered",
            json!({ "override_reason": "KCA" }),
        )
        .await
        .expect(201);
        step(&app, &app.admin, *p, f.programme, "observed", json!({}))
            .await
            .expect(201);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for p in people {
        let app = app.clone();
        let programme = f.programme;
        tasks.spawn(async move {
            step(&app, &app.admin, p, programme, "accredited", json!({}))
                .await
                .status
                .as_u16()
        });
    }
    let mut statuses = Vec::new();
    while let Some(status) = tasks.join_next().await {
        statuses.push(status.expect("task"));
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 201, 409, 409, 409, 409]);
    let list = app
        .get(
            &format!("/api/v1/trainers?programme_id={}", f.programme),
            &app.admin,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(list["accredited"], 2);
}

/// One request records the same step for several people, each under the single step's rules;
/// the pipeline lists filter by step reached, and champions by their cohort session.
#[tokio::test]
async fn a_step_for_several_people_and_lists_by_step_and_cohort() {
    let app = TestApp::spawn().await;
    let f = ftt(&app).await;
    let org = app.organisation("Council", "council").await;
    let mut people = Vec::new();
    for name in ["Ann", "Bo", "Cy"] {
        people.push(
            app.person(name, &format!("{name}@example.org"), org, name)
                .await,
        );
    }
    let cohort = run_session(&app, f.champion, &people[..2]).await;
    run_session(&app, f.champion, &people[2..]).await;
    let outsider = app.person("Di", "di@example.org", org, "D").await;

    let batch = app
        .post(
            "/api/v1/trainers/steps",
            &app.admin,
            json!({ "person_ids": [people[0], people[1], outsider], "step": {
                "programme_id": f.programme, "step": "nominated", "evidence": "Nominated by the board" } }),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(
        (batch["recorded"].as_i64(), batch["refused"].as_i64()),
        (Some(2), Some(1))
    );
    let statuses: Vec<i64> = batch["results"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| r["status"].as_i64().unwrap_or(0))
        .collect();
    assert_eq!(statuses, [201, 201, 409]);
    // Di is no champion yet: the single step's own refusal, for Di alone.
    assert_eq!(kind(&batch["results"][2]["problem"]), "step-out-of-order");
    assert_eq!(batch["results"][0]["step"]["step"], "nominated");

    let listed = |query: String| {
        let app = &app;
        async move {
            let mut names: Vec<String> =
                app.get(&query, &app.admin).await.expect(200).body["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|t| t["name"].as_str().unwrap_or("").to_owned())
                    .collect();
            names.sort();
            names
        }
    };
    let trainers = format!("/api/v1/trainers?programme_id={}", f.programme);
    assert_eq!(
        listed(format!("{trainers}&step=nominated")).await,
        ["Ann", "Bo"]
    );
    assert_eq!(listed(format!("{trainers}&step=champion")).await, ["Cy"]);
    assert_eq!(
        listed(format!("{trainers}&step=nominated&state=in_progress")).await,
        ["Ann", "Bo"]
    );
    assert_eq!(
        listed(format!("/api/v1/champions?cohort_session_id={cohort}")).await,
        ["Ann", "Bo"]
    );

    // Duplicates, and empty lists, are refused whole; nothing is written.
    for ids in [json!([people[0], people[0]]), json!([])] {
        let bad = app
            .post(
                "/api/v1/trainers/steps",
                &app.admin,
                json!({ "person_ids": ids, "step": {
                    "programme_id": f.programme, "step": "trainer_course_completed", "evidence": "e" } }),
            )
            .await
            .expect(422)
            .body;
        assert_eq!(bad["errors"][0]["field"], "person_ids");
    }
}
