use cascade::domain::api_keys::KeyRole;
use cascade_tests::{TestApp, id_of, kind};
use chrono::Duration;
use entities::{bookings, completions, enums::CompletionSource};
use sea_orm::{ActiveModelTrait, Set};
use serde_json::{Value, json};
use uuid::Uuid;

/// A champion course reserving `share_bp` of places for the voluntary sector, a council and a
/// voluntary organisation.
struct World {
    course: Uuid,
    council: Uuid,
    charity: Uuid,
}

async fn world(app: &TestApp, share_bp: i32) -> World {
    let programme = app.programme("five-to-thrive").await;
    let body = json!({
        "programme_id": programme, "code": "ftt-champion", "title": "Champion training", "kind": "champion",
        "duration_minutes": 360, "cpd_hours": 6, "default_capacity": 20,
        "reserved_places": { "sector": "voluntary", "share_bp": share_bp },
    });
    let course = id_of(
        &app.post("/api/v1/courses", &app.admin, body)
            .await
            .expect(201)
            .body,
    );
    World {
        course,
        council: app.organisation("Wiltshire Council", "council").await,
        charity: app
            .organisation("Wiltshire Parent Carer Council", "voluntary")
            .await,
    }
}

async fn people(app: &TestApp, org: Uuid, prefix: &str, n: usize) -> Vec<Uuid> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(
            app.person(
                &format!("{prefix} {i}"),
                &format!("{prefix}{i}@example.org"),
                org,
                &format!("{prefix}-{i}"),
            )
            .await,
        );
    }
    out
}

async fn session_state(app: &TestApp, id: Uuid) -> Value {
    app.get(&format!("/api/v1/sessions/{id}"), &app.admin)
        .await
        .expect(200)
        .body["availability"]
        .clone()
}

#[tokio::test]
async fn a_booking_confirms_a_general_place_and_the_session_counts_it() {
    let app = TestApp::spawn().await;
    let w = world(&app, 1000).await;
    let session = id_of(&app.session(w.course, 30, 20).await);
    let person = app
        .person("Zoë Ashworth", "zoe@example.org", w.council, "C-1")
        .await;
    let reply = app.book(session, person, &app.admin).await.expect(201);
    let booking = id_of(&reply.body);
    assert_eq!(
        reply.headers["location"],
        format!("/api/v1/bookings/{booking}")
    );
    assert_eq!(reply.body["status"], "confirmed");
    assert_eq!(reply.body["place"], "general");
    assert_eq!(reply.body["organisation_id"], w.council.to_string());
    assert_eq!(reply.body["waitlist_position"], Value::Null);
    assert_eq!(
        session_state(&app, session).await,
        json!({ "capacity": 20, "confirmed": 1, "reserved_places": 2, "reserved_taken": 0,
                "reserved_free": 2, "general_free": 17, "free": 19, "waitlist": 0 })
    );
    let listed = app
        .get(&format!("/api/v1/people/{person}/bookings"), &app.admin)
        .await
        .expect(200);
    assert_eq!(listed.body["items"][0]["id"], booking.to_string());
}

/// The answer to a booking is the booking as stored: its instants read back alike, though the
/// row is written without being read back and PostgreSQL keeps microseconds.
#[tokio::test]
async fn a_new_booking_reads_back_as_it_was_answered() {
    let app = TestApp::spawn().await;
    let w = world(&app, 1000).await;
    let session = id_of(&app.session(w.course, 30, 20).await);
    let person = app
        .person("Ana Núñez", "ana@example.org", w.council, "C-9")
        .await;
    app.clock.advance(Duration::nanoseconds(123_456_789));
    let created = app.book(session, person, &app.admin).await.expect(201).body;
    let read = app
        .get(&format!("/api/v1/bookings/{}", id_of(&created)), &app.admin)
        .await
        .expect(200)
        .body;
    for field in ["booked_at", "confirmed_at", "updated_at"] {
        assert_eq!(created[field], read[field], "{field}");
    }
}

#[tokio::test]
async fn reserved_places_go_only_to_the_reserved_sector_until_release_then_to_the_waitlist() {
    let app = TestApp::spawn().await;
    let w = world(&app, 1000).await;
    // Capacity 10 with 10% reserved: 1 reserved, 9 general; release 14 days before (day 16).
    let session = id_of(&app.session(w.course, 30, 10).await);
    let staff = people(&app, w.council, "staff", 11).await;
    let volunteers = people(&app, w.charity, "vol", 3).await;

    let first_volunteer = app
        .book(session, volunteers[0], &app.admin)
        .await
        .expect(201)
        .body;
    assert_eq!(
        first_volunteer["place"], "reserved",
        "the sector takes a free reserved place first"
    );
    for p in &staff[..9] {
        assert_eq!(
            app.book(session, *p, &app.admin).await.expect(201).body["place"],
            "general"
        );
    }
    let w1 = app
        .book(session, staff[9], &app.admin)
        .await
        .expect(201)
        .body;
    assert_eq!(
        (w1["status"].as_str(), w1["waitlist_position"].as_i64()),
        (Some("waitlisted"), Some(1))
    );
    let second_volunteer = app
        .book(session, volunteers[1], &app.admin)
        .await
        .expect(201)
        .body;
    assert_eq!(
        second_volunteer["status"], "waitlisted",
        "no general place is left for the sector either"
    );
    assert_eq!(second_volunteer["waitlist_position"], 2);

    // The volunteer gives up the reserved place: only the sector may take it, so the first
    // waiting volunteer (second in the queue) is promoted, not the council officer ahead.
    let first_id = id_of(&first_volunteer);
    app.post(
        &format!("/api/v1/bookings/{first_id}/cancel"),
        &app.admin,
        json!({}),
    )
    .await
    .expect(200);
    let promoted = app
        .get(
            &format!("/api/v1/bookings/{}", id_of(&second_volunteer)),
            &app.admin,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(
        (promoted["status"].as_str(), promoted["place"].as_str()),
        (Some("confirmed"), Some("reserved"))
    );
    assert!(promoted["promoted_at"].is_string());
    let still_waiting = app
        .get(&format!("/api/v1/bookings/{}", id_of(&w1)), &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(still_waiting["waitlist_position"], 1);

    // Cancel the reserved place again with no volunteer waiting: it stays held for the sector.
    app.post(
        &format!("/api/v1/bookings/{}/cancel", id_of(&second_volunteer)),
        &app.admin,
        json!({}),
    )
    .await
    .expect(200);
    let held = session_state(&app, session).await;
    assert_eq!(
        (
            held["reserved_free"].as_i64(),
            held["general_free"].as_i64(),
            held["waitlist"].as_i64()
        ),
        (Some(1), Some(0), Some(1))
    );
    let blocked = app
        .book(session, staff[10], &app.admin)
        .await
        .expect(201)
        .body;
    assert_eq!(blocked["status"], "waitlisted");

    // On the release date the held place becomes general and goes to the head of the queue.
    app.clock.advance(Duration::days(17));
    let released = session_state(&app, session).await;
    assert_eq!(released["reserved_places"], 0);
    assert_eq!(
        released["waitlist"], 1,
        "the first waiting person was promoted when the session was read"
    );
    let head = app
        .get(&format!("/api/v1/bookings/{}", id_of(&w1)), &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(
        (head["status"].as_str(), head["place"].as_str()),
        (Some("confirmed"), Some("general"))
    );
    let tail = app
        .get(&format!("/api/v1/bookings/{}", id_of(&blocked)), &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(tail["waitlist_position"], 1);
}

#[tokio::test]
async fn the_waitlist_is_first_in_first_out_with_consecutive_positions() {
    let app = TestApp::spawn().await;
    let w = world(&app, 1000).await;
    let session = id_of(&app.session(w.course, 30, 2).await);
    let staff = people(&app, w.council, "s", 5).await;
    let mut ids = Vec::new();
    for p in &staff {
        ids.push(id_of(
            &app.book(session, *p, &app.admin).await.expect(201).body,
        ));
    }
    // Capacity 2 with 10% reserved: 1 reserved (held), 1 general.
    let positions = |list: &Value| -> Vec<Option<i64>> {
        list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|b| b["waitlist_position"].as_i64())
            .collect()
    };
    let listed = app
        .get(
            &format!("/api/v1/sessions/{session}/bookings?status=waitlisted"),
            &app.admin,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(positions(&listed), [Some(1), Some(2), Some(3), Some(4)]);
    app.post(
        &format!("/api/v1/bookings/{}/cancel", ids[2]),
        &app.admin,
        json!({ "reason": "Changed role" }),
    )
    .await
    .expect(200);
    let listed = app
        .get(
            &format!("/api/v1/sessions/{session}/bookings?status=waitlisted"),
            &app.admin,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(positions(&listed), [Some(1), Some(2), Some(3)]);
    app.post(
        &format!("/api/v1/bookings/{}/cancel", ids[0]),
        &app.admin,
        json!({}),
    )
    .await
    .expect(200);
    let promoted = app
        .get(&format!("/api/v1/bookings/{}", ids[1]), &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(
        promoted["status"], "confirmed",
        "the head of the queue takes the freed place"
    );
    // Capacity 3 keeps 1 reserved place (ceil(3 × 10%)), so 2 general: one more is promoted.
    let raised = app
        .patch(
            &format!("/api/v1/sessions/{session}"),
            &app.admin,
            json!({ "capacity": 3 }),
        )
        .await
        .expect(200);
    assert_eq!(
        raised.body["availability"]["confirmed"], 2,
        "raising capacity promotes at once"
    );
    assert_eq!(raised.body["availability"]["waitlist"], 1);
    let last = app
        .get(&format!("/api/v1/bookings/{}", ids[4]), &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(last["waitlist_position"], 1);
}

#[tokio::test]
async fn a_cancellation_inside_the_late_period_is_marked_late() {
    let app = TestApp::spawn().await;
    let w = world(&app, 1000).await;
    let session = id_of(&app.session(w.course, 10, 1).await);
    let staff = people(&app, w.council, "s", 3).await;
    let early = id_of(
        &app.book(session, staff[0], &app.admin)
            .await
            .expect(201)
            .body,
    );
    let waiting = id_of(
        &app.book(session, staff[1], &app.admin)
            .await
            .expect(201)
            .body,
    );
    let cancelled = app
        .post(
            &format!("/api/v1/bookings/{early}/cancel"),
            &app.admin,
            json!({}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(cancelled["late_cancellation"], false);
    app.clock.advance(Duration::days(8));
    let late = app
        .post(
            &format!("/api/v1/bookings/{waiting}/cancel"),
            &app.admin,
            json!({}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(
        late["late_cancellation"], true,
        "two days before, a confirmed place given up is late"
    );
    let again = app
        .post(
            &format!("/api/v1/bookings/{waiting}/cancel"),
            &app.admin,
            json!({}),
        )
        .await
        .problem(409);
    assert_eq!(kind(&again), "booking-not-active");
}

#[tokio::test]
async fn a_waitlisted_cancellation_is_never_late_and_nobody_is_promoted_after_the_start() {
    let app = TestApp::spawn().await;
    let w = world(&app, 1000).await;
    let session = id_of(&app.session(w.course, 10, 1).await);
    let staff = people(&app, w.council, "s", 3).await;
    app.book(session, staff[0], &app.admin).await.expect(201);
    let second = id_of(
        &app.book(session, staff[1], &app.admin)
            .await
            .expect(201)
            .body,
    );
    let third = id_of(
        &app.book(session, staff[2], &app.admin)
            .await
            .expect(201)
            .body,
    );
    app.clock.advance(Duration::days(9));
    let withdrawn = app
        .post(
            &format!("/api/v1/bookings/{second}/cancel"),
            &app.admin,
            json!({}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(withdrawn["late_cancellation"], false);
    app.clock.advance(Duration::days(1) + Duration::hours(1));
    let started = app
        .post(
            &format!("/api/v1/bookings/{third}/cancel"),
            &app.admin,
            json!({}),
        )
        .await
        .problem(409);
    assert_eq!(kind(&started), "session-started");
    let raised = app
        .patch(
            &format!("/api/v1/sessions/{session}"),
            &app.admin,
            json!({ "capacity": 5 }),
        )
        .await
        .expect(200);
    assert_eq!(
        raised.body["availability"]["waitlist"], 1,
        "no one is promoted once the session has started"
    );
}

#[tokio::test]
async fn each_booking_rule_refuses_with_its_own_problem_type_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let w = world(&app, 1000).await;
    let programme = app.programme("mecc").await;
    let elearning = app.course(programme, "mecc-elearning").await;
    let skills_body = json!({
        "programme_id": programme, "code": "mecc-skills", "title": "MECC skills", "kind": "practitioner",
        "duration_minutes": 180, "cpd_hours": 3, "default_capacity": 10,
        "prerequisite_course_ids": [elearning], "max_places_per_organisation": 1,
    });
    let skills = id_of(
        &app.post("/api/v1/courses", &app.admin, skills_body)
            .await
            .expect(201)
            .body,
    );
    let staff = people(&app, w.council, "s", 6).await;
    let session = id_of(&app.session(w.course, 30, 10).await);
    let same_day = id_of(&app.session(skills, 30, 10).await);
    let later = id_of(&app.session(w.course, 60, 10).await);

    // Prerequisite: not completed, then completed.
    let problem = app.book(same_day, staff[0], &app.admin).await.problem(409);
    assert_eq!(kind(&problem), "prerequisites-missing");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or("")
            .contains("mecc-elearning")
    );
    completions::ActiveModel {
        id: Set(Uuid::now_v7()),
        person_id: Set(staff[0]),
        course_id: Set(elearning),
        completed_on: Set(chrono::NaiveDate::from_ymd_opt(2026, 1, 5).expect("date")),
        source: Set(CompletionSource::Imported),
        source_id: Set(None),
        recorded_by_key_id: Set(None),
        organisation_id: Set(None),
        created_at: Set(chrono::Utc::now()),
    }
    .insert(&app.db)
    .await
    .expect("record completion");
    app.book(same_day, staff[0], &app.admin).await.expect(201);

    // Per-organisation cap of 1 on the skills course.
    completions::ActiveModel {
        id: Set(Uuid::now_v7()),
        person_id: Set(staff[1]),
        course_id: Set(elearning),
        completed_on: Set(chrono::NaiveDate::from_ymd_opt(2026, 1, 5).expect("date")),
        source: Set(CompletionSource::Imported),
        source_id: Set(None),
        recorded_by_key_id: Set(None),
        organisation_id: Set(None),
        created_at: Set(chrono::Utc::now()),
    }
    .insert(&app.db)
    .await
    .expect("record completion");
    assert_eq!(
        kind(&app.book(same_day, staff[1], &app.admin).await.problem(409)),
        "organisation-cap-reached"
    );

    // Overlapping sittings with a confirmed place.
    assert_eq!(
        kind(&app.book(session, staff[0], &app.admin).await.problem(409)),
        "schedule-clash"
    );

    // Already booked here; already booked on another upcoming session of the course.
    app.book(session, staff[2], &app.admin).await.expect(201);
    assert_eq!(
        kind(&app.book(session, staff[2], &app.admin).await.problem(409)),
        "already-booked"
    );
    assert_eq!(
        kind(&app.book(later, staff[2], &app.admin).await.problem(409)),
        "already-booked-on-course"
    );

    // Inactive person.
    app.patch(
        &format!("/api/v1/people/{}", staff[3]),
        &app.admin,
        json!({ "active": false }),
    )
    .await
    .expect(200);
    assert_eq!(
        kind(&app.book(session, staff[3], &app.admin).await.problem(409)),
        "person-inactive"
    );

    // Booking window not yet open, then closed; session started; cancelled.
    let future = id_of(&app.session(w.course, 90, 10).await);
    app.patch(
        &format!("/api/v1/sessions/{future}"),
        &app.admin,
        json!({ "booking_opens_at": (app.clock.now() + Duration::days(10)).to_rfc3339() }),
    )
    .await
    .expect(200);
    assert_eq!(
        kind(&app.book(future, staff[4], &app.admin).await.problem(409)),
        "booking-not-open"
    );
    let cancelled = id_of(&app.session(w.course, 40, 10).await);
    app.post(
        &format!("/api/v1/sessions/{cancelled}/cancel"),
        &app.admin,
        json!({ "reason": "No trainer" }),
    )
    .await
    .expect(200);
    assert_eq!(
        kind(&app.book(cancelled, staff[4], &app.admin).await.problem(409)),
        "session-cancelled"
    );
    app.clock.advance(Duration::days(28));
    assert_eq!(
        kind(&app.book(session, staff[4], &app.admin).await.problem(409)),
        "booking-closed"
    );
    app.clock.advance(Duration::days(3));
    assert_eq!(
        kind(&app.book(session, staff[5], &app.admin).await.problem(409)),
        "session-started"
    );

    let missing = Uuid::now_v7();
    app.book(missing, staff[4], &app.admin).await.problem(404);
    app.book(later, missing, &app.admin).await.problem(404);
    assert_eq!(
        app.count(bookings::Entity).await,
        2,
        "only the two accepted bookings exist"
    );
}

#[tokio::test]
async fn who_may_book_whom() {
    let app = TestApp::spawn().await;
    let w = world(&app, 1000).await;
    let session = id_of(&app.session(w.course, 30, 10).await);
    let mine = app
        .person("Mine", "mine@example.org", w.council, "C-1")
        .await;
    let theirs = app
        .person("Theirs", "theirs@example.org", w.charity, "V-1")
        .await;
    let learner = app.key(KeyRole::Learner, None, Some(mine)).await;
    let partner = app.key(KeyRole::Partner, Some(w.council), None).await;
    let other_partner = app.key(KeyRole::Partner, Some(w.charity), None).await;

    app.book(session, theirs, &learner).await.problem(404);
    let own = app.book(session, mine, &learner).await.expect(201).body;
    app.book(session, theirs, &partner).await.problem(404);
    let theirs_booking = app
        .book(session, theirs, &other_partner)
        .await
        .expect(201)
        .body;
    assert_eq!(theirs_booking["place"], "reserved");

    // Each sees only what is theirs.
    let seen = |key: &str| {
        let app = &app;
        let key = key.to_owned();
        async move {
            app.get(&format!("/api/v1/sessions/{session}/bookings"), &key)
                .await
                .expect(200)
                .body["items"]
                .as_array()
                .map(|items| items.iter().map(id_of).collect::<Vec<_>>())
                .unwrap_or_default()
        }
    };
    assert_eq!(seen(&learner).await, [id_of(&own)]);
    assert_eq!(seen(&partner).await, [id_of(&own)]);
    assert_eq!(seen(&other_partner).await, [id_of(&theirs_booking)]);
    assert_eq!(seen(&app.admin).await.len(), 2);
    app.get(
        &format!("/api/v1/bookings/{}", id_of(&theirs_booking)),
        &learner,
    )
    .await
    .problem(404);
    app.post(
        &format!("/api/v1/bookings/{}/cancel", id_of(&theirs_booking)),
        &partner,
        json!({}),
    )
    .await
    .problem(404);
    app.get(&format!("/api/v1/people/{theirs}/bookings"), &partner)
        .await
        .problem(404);

    // A facilitator sees every booking of the sessions they deliver.
    let trainer_person = app
        .person("Trainer", "trainer@example.org", w.council, "C-9")
        .await;
    let trainer = app.key(KeyRole::Trainer, None, Some(trainer_person)).await;
    assert!(seen(&trainer).await.is_empty());
    app.patch(
        &format!("/api/v1/sessions/{session}"),
        &app.admin,
        json!({ "facilitator_ids": [trainer_person] }),
    )
    .await
    .expect(200);
    assert_eq!(seen(&trainer).await.len(), 2);

    // The learner cancels their own place.
    let cancelled = app
        .post(
            &format!("/api/v1/bookings/{}/cancel", id_of(&own)),
            &learner,
            json!({ "reason": "Clash with a home visit" }),
        )
        .await
        .expect(200);
    assert_eq!(cancelled.body["cancel_reason"], "Clash with a home visit");

    // The partner cancels a place it booked for its own staff.
    let by_partner = app
        .post(
            &format!("/api/v1/bookings/{}/cancel", id_of(&theirs_booking)),
            &other_partner,
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(by_partner.body["status"], "cancelled");
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_answer_and_refuses_a_different_request() {
    let app = TestApp::spawn().await;
    let w = world(&app, 1000).await;
    let session = id_of(&app.session(w.course, 30, 10).await);
    let a = app.person("A", "a@example.org", w.council, "1").await;
    let b = app.person("B", "b@example.org", w.council, "2").await;
    let path = format!("/api/v1/sessions/{session}/bookings");
    let send = |key: &'static str, person: Uuid, api_key: String| {
        let app = &app;
        let path = path.clone();
        async move {
            let resp = app
                .client
                .post(&path)
                .header("Authorization", format!("Bearer {api_key}"))
                .header("Idempotency-Key", key)
                .body_json(&json!({ "person_id": person }))
                .send()
                .await;
            let status = resp.0.status().as_u16();
            let location = resp
                .0
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let text = resp.0.into_body().into_string().await.unwrap_or_default();
            (status, location, text)
        }
    };
    let first = send("retry-1", a, app.admin.clone()).await;
    let second = send("retry-1", a, app.admin.clone()).await;
    assert_eq!(first.0, 201);
    assert_eq!(
        first, second,
        "a retry gets the first answer, byte for byte"
    );
    assert_eq!(app.count(bookings::Entity).await, 1);

    let reused = send("retry-1", b, app.admin.clone()).await;
    assert_eq!(reused.0, 422);
    assert!(reused.2.contains("idempotency-key-reused"));

    let other_key = app.key(KeyRole::Coordinator, None, None).await;
    let scoped = send("retry-1", b, other_key).await;
    assert_eq!(
        scoped.0, 201,
        "keys are scoped to the API key that sent them"
    );
    assert_eq!(app.count(bookings::Entity).await, 2);

    let refused = send("retry-2", a, app.admin.clone()).await;
    assert_eq!(refused.0, 409, "a refusal is an answer too");
    assert_eq!(send("retry-2", a, app.admin.clone()).await, refused);

    let bad = app
        .client
        .post(&path)
        .header("Authorization", format!("Bearer {}", app.admin))
        .header("Idempotency-Key", "")
        .body_json(&json!({ "person_id": a }))
        .send()
        .await;
    bad.assert_status(poem::http::StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn scheduling_a_session_with_an_idempotency_key_happens_once() {
    let app = TestApp::spawn_dated().await;
    let w = world(&app, 1000).await;
    let body = json!({
        "course_id": w.course, "sittings": [{ "date": "2027-02-10", "start": "09:30", "end": "12:00" }],
        "venue": { "name": "Hall" },
    });
    let mut ids = Vec::new();
    for _ in 0..3 {
        let resp = app
            .client
            .post("/api/v1/sessions")
            .header("Authorization", format!("Bearer {}", app.admin))
            .header("Idempotency-Key", "schedule-feb")
            .body_json(&body)
            .send()
            .await;
        resp.assert_status(poem::http::StatusCode::CREATED);
        let text = resp.0.into_body().into_string().await.unwrap_or_default();
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        ids.push(id_of(&value));
    }
    assert!(ids.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(app.count(entities::sessions::Entity).await, 1);
}

#[tokio::test]
async fn at_the_instant_of_release_the_waitlist_gets_the_place_before_a_newcomer() {
    let app = TestApp::spawn().await;
    let w = world(&app, 1000).await;
    // Capacity 10 with 10% reserved: 1 reserved, 9 general.
    let created = app.session(w.course, 30, 10).await;
    let session = id_of(&created);
    let release_at: chrono::DateTime<chrono::Utc> = created["reserved_places"]["release_at"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("release_at");
    let staff = people(&app, w.council, "staff", 11).await;
    for p in &staff[..9] {
        app.book(session, *p, &app.admin).await.expect(201);
    }
    let waiting = app
        .book(session, staff[9], &app.admin)
        .await
        .expect(201)
        .body;
    assert_eq!(waiting["status"], "waitlisted");

    // Nothing has read the session since: the first booking at the release instant finds the
    // place already offered to the person waiting, and waits behind them.
    app.clock.advance(release_at - app.clock.now());
    let newcomer = app
        .book(session, staff[10], &app.admin)
        .await
        .expect(201)
        .body;
    assert_eq!(
        (
            newcomer["status"].as_str(),
            newcomer["waitlist_position"].as_i64()
        ),
        (Some("waitlisted"), Some(1))
    );
    let head = app
        .get(&format!("/api/v1/bookings/{}", id_of(&waiting)), &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(
        (head["status"].as_str(), head["place"].as_str()),
        (Some("confirmed"), Some("general"))
    );
}

/// A list of people booked onto a session in one request: each under the single booking's
/// rules, reported apart; a retry with the same Idempotency-Key gets the same answer.
#[tokio::test]
async fn several_people_are_booked_in_one_request_each_reported_apart() {
    let app = TestApp::spawn().await;
    let f = crate::progression::ftt(&app).await;
    let org = app.organisation("Council", "council").await;
    let other = app.organisation("Police", "police").await;
    let ann = app.person("Ann", "ann@example.org", org, "A").await;
    let bo = app.person("Bo", "bo@example.org", org, "B").await;
    let cy = app.person("Cy", "cy@example.org", org, "C").await;
    let dee = app.person("Dee", "dee@example.org", other, "D").await;
    let session = id_of(&app.session(f.champion, 5, 2).await);
    let partner = app.key(KeyRole::Partner, Some(org), None).await;
    let body = json!({ "person_ids": [ann, bo, cy, dee] });
    let key = "batch-1";
    let first = app
        .request_with(
            "POST",
            &format!("/api/v1/sessions/{session}/bookings/batch"),
            Some(&partner),
            &[("Idempotency-Key", key)],
            Some(body.clone()),
        )
        .await
        .expect(200)
        .body;
    // By hand: two places — Ann and Bo confirmed, Cy waitlisted; Dee is another partner's, so
    // this partner's key cannot see her (404), as with a single booking.
    let outcome: Vec<(i64, Option<&str>)> = first["results"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["status"].as_i64().unwrap_or(0),
                r["booking"]["status"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        outcome,
        [
            (201, Some("confirmed")),
            (201, Some("confirmed")),
            (201, Some("waitlisted")),
            (404, None)
        ]
    );
    assert_eq!(
        (
            first["confirmed"].as_i64(),
            first["waitlisted"].as_i64(),
            first["refused"].as_i64()
        ),
        (Some(2), Some(1), Some(1))
    );
    let again = app
        .request_with(
            "POST",
            &format!("/api/v1/sessions/{session}/bookings/batch"),
            Some(&partner),
            &[("Idempotency-Key", key)],
            Some(body),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(again, first);
    // Without the key, the same people again: each refused as a single booking would be.
    let twice = app
        .post(
            &format!("/api/v1/sessions/{session}/bookings/batch"),
            &app.admin,
            json!({ "person_ids": [ann, cy] }),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(twice["refused"], 2);
    assert_eq!(
        twice["results"][0]["problem"]["type"],
        "https://cascade.invalid/problems/already-booked"
    );
    let held = app
        .get(&format!("/api/v1/sessions/{session}/bookings"), &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(held["items"].as_array().map(Vec::len), Some(3));
}

/// The waitlist is offered a free place a page at a time: with 120 council staff waiting ahead
/// of a volunteer and only a reserved place free, the volunteer (beyond the first page) gets it;
/// a general place then goes to the first of the council staff.
#[tokio::test]
async fn a_place_reaches_the_first_eligible_person_beyond_a_page_of_the_waitlist() {
    let app = TestApp::spawn().await;
    let w = world(&app, 1000).await;
    let session = id_of(&app.session(w.course, 30, 10).await);
    let volunteers = people(&app, w.charity, "vol", 2).await;
    let staff = people(&app, w.council, "staff", 129).await;
    let reserved = id_of(
        &app.book(session, volunteers[0], &app.admin)
            .await
            .expect(201)
            .body,
    );
    let mut general = Vec::new();
    for (i, p) in staff.iter().enumerate() {
        let b = app.book(session, *p, &app.admin).await.expect(201).body;
        assert_eq!(b["status"], if i < 9 { "confirmed" } else { "waitlisted" });
        general.push(id_of(&b));
    }
    let waiting_volunteer = id_of(
        &app.book(session, volunteers[1], &app.admin)
            .await
            .expect(201)
            .body,
    );
    app.post(
        &format!("/api/v1/bookings/{reserved}/cancel"),
        &app.admin,
        json!({}),
    )
    .await
    .expect(200);
    let status = |id: Uuid| {
        let app = &app;
        async move {
            let b = app
                .get(&format!("/api/v1/bookings/{id}"), &app.admin)
                .await
                .expect(200)
                .body;
            (
                b["status"].as_str().unwrap_or_default().to_owned(),
                b["place"].as_str().map(str::to_owned),
            )
        }
    };
    assert_eq!(
        status(waiting_volunteer).await,
        ("confirmed".to_owned(), Some("reserved".to_owned()))
    );
    assert_eq!(status(general[9]).await.0, "waitlisted");
    app.post(
        &format!("/api/v1/bookings/{}/cancel", general[0]),
        &app.admin,
        json!({}),
    )
    .await
    .expect(200);
    assert_eq!(
        status(general[9]).await,
        ("confirmed".to_owned(), Some("general".to_owned()))
    );
    assert_eq!(status(general[10]).await.0, "waitlisted");
}

#[tokio::test]
async fn a_booking_is_for_the_employer_or_the_booking_partner_and_needs_an_active_one() {
    let app = TestApp::spawn().await;
    let w = world(&app, 1000).await;
    let session = id_of(&app.session(w.course, 30, 10).await);
    let later = id_of(&app.session(w.course, 60, 10).await);
    let staff = people(&app, w.council, "e", 3).await;
    // The first also works for the charity (not its employer).
    app.put(
        &format!("/api/v1/people/{}/memberships/{}", staff[0], w.charity),
        &app.admin,
        json!({ "external_id": "c-0" }),
    )
    .await
    .expect(200);
    let charity = app.key(KeyRole::Partner, Some(w.charity), None).await;

    // A coordinator books for the employer; the charity books for itself.
    let by_admin = app.book(session, staff[0], &app.admin).await.expect(201);
    assert_eq!(by_admin.body["organisation_id"], json!(w.council));
    app.post(
        &format!("/api/v1/bookings/{}/cancel", id_of(&by_admin.body)),
        &app.admin,
        json!({}),
    )
    .await
    .expect(200);
    let by_charity = app.book(later, staff[0], &charity).await.expect(201);
    assert_eq!(by_charity.body["organisation_id"], json!(w.charity));

    // Someone who has left every organisation has none to book for.
    app.put(
        &format!("/api/v1/people/{}/memberships/{}", staff[1], w.council),
        &app.admin,
        json!({ "active": false }),
    )
    .await
    .expect(200);
    let problem = app.book(session, staff[1], &app.admin).await.problem(409);
    assert_eq!(kind(&problem), "no-organisation");

    // An inactive organisation books no places.
    app.patch(
        &format!("/api/v1/organisations/{}", w.council),
        &app.admin,
        json!({ "active": false }),
    )
    .await
    .expect(200);
    let problem = app.book(session, staff[2], &app.admin).await.problem(409);
    assert_eq!(kind(&problem), "organisation-inactive");
    assert_eq!(
        app.count(bookings::Entity).await,
        2,
        "the refused wrote nothing"
    );
}

#[tokio::test]
async fn the_waitlist_and_give_a_place_pass_over_someone_holding_an_overlapping_place() {
    let app = TestApp::spawn().await;
    let w = world(&app, 1000).await;
    let programme = app.programme("mecc").await;
    let other_course = app.course(programme, "mecc-other").await;
    // No reserved places on the full session: one place, then a queue.
    let full = id_of(&app.session(other_course, 30, 1).await);
    let same_time = id_of(&app.session(w.course, 30, 10).await);
    let staff = people(&app, w.council, "o", 3).await;

    let holder = app.book(full, staff[0], &app.admin).await.expect(201);
    assert_eq!(holder.body["status"], "confirmed");
    let busy = app.book(full, staff[1], &app.admin).await.expect(201);
    let next = app.book(full, staff[2], &app.admin).await.expect(201);
    assert_eq!(busy.body["status"], "waitlisted");
    // While only waiting on the full session, the first in the queue takes a place elsewhere at
    // the same time.
    app.book(same_time, staff[1], &app.admin).await.expect(201);

    // "Give a place" to them is refused: it would double-book them.
    let problem = app
        .post(
            &format!("/api/v1/bookings/{}/place", id_of(&busy.body)),
            &app.admin,
            json!({}),
        )
        .await
        .problem(409);
    assert_eq!(kind(&problem), "schedule-clash");

    // A place comes free: it passes over them to the next in the queue.
    app.post(
        &format!("/api/v1/bookings/{}/cancel", id_of(&holder.body)),
        &app.admin,
        json!({}),
    )
    .await
    .expect(200);
    let reread = |b: &Value| format!("/api/v1/bookings/{}", id_of(b));
    let next_now = app.get(&reread(&next.body), &app.admin).await.expect(200);
    assert_eq!(next_now.body["status"], "confirmed");
    let busy_now = app.get(&reread(&busy.body), &app.admin).await.expect(200);
    assert_eq!(busy_now.body["status"], "waitlisted");
}
