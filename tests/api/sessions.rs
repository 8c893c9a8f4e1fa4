use cascade_tests::{Reply, TestApp, collect_all, id_of};
use entities::{sessions, sittings};
use serde_json::{Value, json};
use uuid::Uuid;

async fn champion_course(app: &TestApp, share_bp: i32) -> Uuid {
    let programme = app.programme("five-to-thrive").await;
    let body = json!({
        "programme_id": programme, "code": "ftt-champion", "title": "Five to Thrive champion training",
        "kind": "champion", "duration_minutes": 360, "cpd_hours": 6, "default_capacity": 25,
        "reserved_places": { "sector": "voluntary", "share_bp": share_bp },
    });
    id_of(
        &app.post("/api/v1/courses", &app.admin, body)
            .await
            .expect(201)
            .body,
    )
}

fn session_body(course: Uuid, sittings: Value) -> Value {
    json!({ "course_id": course, "sittings": sittings, "venue": { "name": "Springfield Campus, Corsham" } })
}

#[tokio::test]
async fn sittings_in_london_time_are_stored_as_instants_across_daylight_saving() {
    let app = TestApp::spawn_dated().await;
    let course = champion_course(&app, 1000).await;
    // 2027-03-28 is the last Sunday of March (BST begins); 2027-10-31 the last Sunday of October.
    let body = session_body(
        course,
        json!([
            { "date": "2027-10-31", "start": "10:00", "end": "12:00" },
            { "date": "2027-03-28", "start": "10:00", "end": "16:30" },
            { "date": "2027-01-15", "start": "09:30", "end": "12:30" },
        ]),
    );
    let created = app
        .post("/api/v1/sessions", &app.admin, body)
        .await
        .expect(201);
    let s = &created.body;
    let sittings = s["sittings"].as_array().expect("sittings");
    let instants: Vec<(&str, &str)> = sittings
        .iter()
        .map(|x| {
            (
                x["starts_at"].as_str().unwrap_or(""),
                x["ends_at"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        instants,
        [
            ("2027-01-15T09:30:00+00:00", "2027-01-15T12:30:00+00:00"),
            ("2027-03-28T09:00:00+00:00", "2027-03-28T15:30:00+00:00"),
            ("2027-10-31T10:00:00+00:00", "2027-10-31T12:00:00+00:00"),
        ],
        "sittings are ordered and converted with the offset of their own day"
    );
    assert_eq!(sittings[1]["date"], "2027-03-28");
    assert_eq!(sittings[1]["start"], "10:00");
    assert_eq!(sittings[1]["end"], "16:30");
    assert_eq!(
        sittings
            .iter()
            .map(|x| x["position"].as_i64().unwrap_or(0))
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(s["starts_at"], "2027-01-15T09:30:00+00:00");
    assert_eq!(s["ends_at"], "2027-10-31T12:00:00+00:00");
    assert_eq!(
        s["booking_closes_at"], "2027-01-12T09:30:00+00:00",
        "booking closes 3 days before by default"
    );
    assert_eq!(
        s["availability"]["capacity"], 25,
        "capacity defaults to the course's"
    );
    assert_eq!(s["revision"], 1);
    assert_eq!(s["status"], "scheduled");
    assert_eq!(
        s["reserved_places"],
        json!({ "sector": "voluntary", "places": 3, "release_at": "2027-01-01T09:30:00+00:00", "released": false }),
        "ceil(25 × 10%) = 3 places, released 14 days before the first sitting"
    );
    listed_as_read_alone(&app, s).await;
}

fn is_utc(s: &str) -> bool {
    s.ends_with('Z') || s.ends_with("+00:00")
}

#[tokio::test]
async fn invalid_sessions_are_refused_with_every_field_named_and_nothing_written() {
    let app = TestApp::spawn_dated().await;
    let course = champion_course(&app, 1000).await;
    let retired = app.course(app.programme("old").await, "old-course").await;
    app.patch(
        &format!("/api/v1/courses/{retired}"),
        &app.admin,
        json!({ "active": false }),
    )
    .await
    .expect(200);
    let one =
        |date: &str, start: &str, end: &str| json!([{ "date": date, "start": start, "end": end }]);
    let with = |patch: Value| {
        let mut body = session_body(course, one("2027-02-10", "09:30", "12:00"));
        for (k, v) in patch.as_object().expect("object") {
            body[k] = v.clone();
        }
        body
    };
    let missing = Uuid::now_v7();
    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        (
            "end before start",
            with(json!({ "sittings": one("2027-02-10", "12:00", "09:30") })),
            vec!["sittings[0].end"],
        ),
        (
            "too short",
            with(json!({ "sittings": one("2027-02-10", "09:30", "09:35") })),
            vec!["sittings[0].end"],
        ),
        (
            "bad time",
            with(json!({ "sittings": one("2027-02-10", "9.30", "24:00") })),
            vec!["sittings[0].end", "sittings[0].start"],
        ),
        (
            "in the past",
            with(json!({ "sittings": one("2020-02-10", "09:30", "12:00") })),
            vec!["sittings[0].date"],
        ),
        (
            "skipped by the clocks",
            with(json!({ "sittings": one("2027-03-28", "01:30", "03:00") })),
            vec!["sittings[0].start"],
        ),
        (
            "overlapping sittings",
            with(json!({ "sittings": [
                { "date": "2027-02-10", "start": "09:30", "end": "12:00" },
                { "date": "2027-02-10", "start": "11:00", "end": "13:00" }] })),
            vec!["sittings[1]"],
        ),
        (
            "no sittings",
            with(json!({ "sittings": [] })),
            vec!["sittings"],
        ),
        (
            "no venue or link",
            with(json!({ "venue": null })),
            vec!["venue"],
        ),
        (
            "bad link",
            with(json!({ "online_url": "teams meeting" })),
            vec!["online_url"],
        ),
        (
            "capacity zero",
            with(json!({ "capacity": 0 })),
            vec!["capacity"],
        ),
        (
            "unknown course",
            with(json!({ "course_id": missing })),
            vec!["course_id"],
        ),
        (
            "retired course",
            with(json!({ "course_id": retired })),
            vec!["course_id"],
        ),
        (
            "unknown facilitator",
            with(json!({ "facilitator_ids": [missing] })),
            vec!["facilitator_ids"],
        ),
        (
            "unknown locality",
            with(json!({ "venue": { "name": "Hall", "locality_id": missing } })),
            vec!["venue.locality_id"],
        ),
        (
            "closes after start",
            with(json!({ "booking_closes_at": "2027-02-11T00:00:00+00:00" })),
            vec!["booking_closes_at"],
        ),
        (
            "opens after closes",
            with(
                json!({ "booking_opens_at": "2027-02-09T00:00:00+00:00", "booking_closes_at": "2027-02-08T00:00:00+00:00" }),
            ),
            vec!["booking_opens_at"],
        ),
        (
            "late period too long",
            with(json!({ "late_cancellation_days": 61 })),
            vec!["late_cancellation_days"],
        ),
    ];
    for (reason, body, fields) in cases {
        let problem = app
            .post("/api/v1/sessions", &app.admin, body)
            .await
            .problem(422);
        assert_eq!(Reply::error_fields(&problem), fields, "{reason}");
    }
    assert_eq!(app.count(sessions::Entity).await, 0);
    assert_eq!(app.count(sittings::Entity).await, 0);
}

#[tokio::test]
async fn an_online_session_with_facilitators_and_an_audience() {
    let app = TestApp::spawn_dated().await;
    let course = champion_course(&app, 1000).await;
    let org = app.organisation("Council", "council").await;
    let trainer = app
        .person("Siân Roberts", "sian@example.org", org, "T1")
        .await;
    let group = app.reference("staff-groups", "Early years").await;
    let body = json!({
        "course_id": course,
        "sittings": [{ "date": "2027-02-10", "start": "13:00", "end": "15:00" }],
        "online_url": "https://meet.example.org/ftt?pwd=a,b;c",
        "capacity": 12,
        "facilitator_ids": [trainer],
        "audience_staff_group_ids": [group],
        "late_cancellation_days": 5,
    });
    let created = app
        .post("/api/v1/sessions", &app.admin, body)
        .await
        .expect(201)
        .body;
    assert_eq!(created["venue"], Value::Null);
    assert_eq!(
        created["online_url"],
        "https://meet.example.org/ftt?pwd=a,b;c"
    );
    assert_eq!(created["facilitator_ids"], json!([trainer]));
    assert_eq!(created["audience_staff_group_ids"], json!([group]));
    assert_eq!(created["late_cancellation_days"], 5);
    assert_eq!(
        created["reserved_places"]["places"], 2,
        "ceil(12 × 10%) = 2"
    );
    assert!(is_utc(created["starts_at"].as_str().unwrap_or("")));

    // Two of each, over two sittings: the list (one statement on SQLite) shows each session as
    // reading it alone does.
    let second = app.person("Zoë Ng", "zoe@example.org", org, "T2").await;
    let other_group = app.reference("staff-groups", "Social care").await;
    let both = app
        .post(
            "/api/v1/sessions",
            &app.admin,
            json!({
                "course_id": course,
                "sittings": [
                    { "date": "2027-02-17", "start": "13:00", "end": "15:00" },
                    { "date": "2027-02-12", "start": "09:00", "end": "11:00" },
                ],
                "online_url": "https://meet.example.org/ftt",
                "facilitator_ids": [second, trainer],
                "audience_staff_group_ids": [other_group, group],
            }),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(both["facilitator_ids"].as_array().map(Vec::len), Some(2));
    assert_eq!(both["sittings"][0]["date"], "2027-02-12");
    for session in [&created, &both] {
        listed_as_read_alone(&app, session).await;
    }
}

/// The session list shows `session` exactly as `GET /sessions/{id}` does.
async fn listed_as_read_alone(app: &TestApp, session: &Value) {
    let id = id_of(session);
    let alone = app
        .get(&format!("/api/v1/sessions/{id}"), &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(&alone, session);
    let listed = collect_all(app, "/api/v1/sessions", &app.admin, 1).await;
    let found: Vec<&Value> = listed.iter().filter(|s| id_of(s) == id).collect();
    assert_eq!(found, [&alone]);
}

#[tokio::test]
async fn visible_changes_raise_the_revision_and_capacity_cannot_drop_below_confirmed() {
    let app = TestApp::spawn_dated().await;
    let course = champion_course(&app, 1000).await;
    let org = app.organisation("Council", "council").await;
    let session = app.session(course, 30, 4).await;
    let id = id_of(&session);
    let path = format!("/api/v1/sessions/{id}");
    for i in 0..3 {
        let p = app
            .person(
                &format!("P{i}"),
                &format!("p{i}@example.org"),
                org,
                &format!("E{i}"),
            )
            .await;
        app.book(id, p, &app.admin).await.expect(201);
    }
    let same = app
        .patch(&path, &app.admin, json!({ "capacity": 5 }))
        .await
        .expect(200);
    assert_eq!(
        same.body["revision"], 1,
        "capacity is not something a calendar shows"
    );
    let problem = app
        .patch(&path, &app.admin, json!({ "capacity": 2 }))
        .await
        .problem(409);
    assert!(
        problem["type"]
            .as_str()
            .unwrap_or("")
            .ends_with("/capacity-below-confirmed")
    );
    let moved = app
        .patch(
            &path,
            &app.admin,
            json!({ "sittings": [{ "date": "2027-06-01", "start": "10:00", "end": "12:00" }] }),
        )
        .await
        .expect(200);
    assert_eq!(moved.body["revision"], 2);
    assert_eq!(
        moved.body["sittings"][0]["starts_at"],
        "2027-06-01T09:00:00+00:00"
    );
    assert_eq!(
        moved.body["booking_closes_at"], "2027-05-29T09:00:00+00:00",
        "the default close follows the move"
    );
    let venue = app
        .patch(
            &path,
            &app.admin,
            json!({ "venue": { "name": "County Hall, Trowbridge" } }),
        )
        .await
        .expect(200);
    assert_eq!(venue.body["revision"], 3);
    let unchanged = app
        .patch(
            &path,
            &app.admin,
            json!({ "venue": { "name": "County Hall, Trowbridge" } }),
        )
        .await
        .expect(200);
    assert_eq!(
        unchanged.body["revision"], 3,
        "sending the same venue changes nothing"
    );
    let both_cleared = app
        .patch(&path, &app.admin, json!({ "venue": null }))
        .await
        .problem(422);
    assert_eq!(Reply::error_fields(&both_cleared), ["venue"]);
}

#[tokio::test]
async fn cancelling_a_session_cancels_its_bookings_and_empties_its_waitlist() {
    let app = TestApp::spawn().await;
    let course = champion_course(&app, 1000).await;
    let org = app.organisation("Council", "council").await;
    let id = id_of(&app.session(course, 30, 1).await);
    let a = app.person("A", "a@example.org", org, "1").await;
    let b = app.person("B", "b@example.org", org, "2").await;
    let confirmed = id_of(&app.book(id, a, &app.admin).await.expect(201).body);
    let waiting = id_of(&app.book(id, b, &app.admin).await.expect(201).body);
    let no_reason = app
        .post(
            &format!("/api/v1/sessions/{id}/cancel"),
            &app.admin,
            json!({ "reason": " " }),
        )
        .await
        .problem(422);
    assert_eq!(Reply::error_fields(&no_reason), ["reason"]);
    let cancelled = app
        .post(
            &format!("/api/v1/sessions/{id}/cancel"),
            &app.admin,
            json!({ "reason": "Trainer unwell" }),
        )
        .await
        .expect(200);
    assert_eq!(cancelled.body["status"], "cancelled");
    assert_eq!(cancelled.body["cancel_reason"], "Trainer unwell");
    assert_eq!(cancelled.body["revision"], 2);
    assert_eq!(cancelled.body["availability"]["confirmed"], 0);
    assert_eq!(cancelled.body["availability"]["waitlist"], 0);
    for booking in [confirmed, waiting] {
        let b = app
            .get(&format!("/api/v1/bookings/{booking}"), &app.admin)
            .await
            .expect(200)
            .body;
        assert_eq!(b["status"], "cancelled");
        assert_eq!(b["cancel_reason"], "session_cancelled");
        assert_eq!(b["late_cancellation"], false);
        assert_eq!(b["waitlist_position"], Value::Null);
    }
    let again = app
        .post(
            &format!("/api/v1/sessions/{id}/cancel"),
            &app.admin,
            json!({ "reason": "x" }),
        )
        .await
        .problem(409);
    assert!(
        again["type"]
            .as_str()
            .unwrap_or("")
            .ends_with("/session-not-scheduled")
    );
    app.patch(
        &format!("/api/v1/sessions/{id}"),
        &app.admin,
        json!({ "capacity": 3 }),
    )
    .await
    .problem(409);
}

#[tokio::test]
async fn sessions_filter_by_programme_course_locality_status_dates_and_free_places() {
    let app = TestApp::spawn_dated().await;
    let course = champion_course(&app, 1000).await;
    let other_course = app.course(app.programme("mecc").await, "mecc-skills").await;
    let calne = app.reference("localities", "Calne").await;
    let charity = app
        .organisation("Wiltshire Wildlife Trust", "voluntary")
        .await;
    let in_calne = json!({
        "course_id": course, "sittings": [{ "date": "2027-02-10", "start": "09:30", "end": "12:00" }],
        "venue": { "name": "Calne Library", "locality_id": calne }, "capacity": 1,
    });
    let calne_session = id_of(
        &app.post("/api/v1/sessions", &app.admin, in_calne)
            .await
            .expect(201)
            .body,
    );
    let mecc_session = id_of(&app.session(other_course, 120, 10).await);
    let cancelled = id_of(&app.session(course, 200, 10).await);
    app.post(
        &format!("/api/v1/sessions/{cancelled}/cancel"),
        &app.admin,
        json!({ "reason": "Venue closed" }),
    )
    .await
    .expect(200);
    // One place, and it is reserved for the voluntary sector (ceil(1 × 10%) = 1).
    let volunteer = app.person("V", "v@example.org", charity, "1").await;
    app.book(calne_session, volunteer, &app.admin)
        .await
        .expect(201);

    let ids = |items: Vec<Value>| -> Vec<Uuid> { items.iter().map(id_of).collect() };
    let find = |query: String| {
        let app = &app;
        async move { ids(collect_all(app, &format!("/api/v1/sessions?{query}"), &app.admin, 50).await) }
    };
    let programme = app
        .get(&format!("/api/v1/courses/{other_course}"), &app.admin)
        .await
        .expect(200)
        .body["programme_id"]
        .clone();
    assert_eq!(
        find(format!("programme_id={}", programme.as_str().unwrap_or(""))).await,
        [mecc_session]
    );
    assert_eq!(
        find(format!("course_id={course}")).await,
        [calne_session, cancelled]
    );
    assert_eq!(find(format!("locality_id={calne}")).await, [calne_session]);
    assert_eq!(find("status=cancelled".into()).await, [cancelled]);
    assert_eq!(
        find("from=2027-02-10&to=2027-02-10".into()).await,
        [calne_session]
    );
    assert!(
        find("from=2027-02-11&to=2027-02-11".into())
            .await
            .is_empty()
    );
    assert_eq!(find("has_free_places=true".into()).await, [mecc_session]);
    assert_eq!(
        find("has_free_places=false".into()).await,
        [calne_session, cancelled]
    );
    let problem = app
        .get("/api/v1/sessions?from=2027-03-01&to=2027-02-01", &app.admin)
        .await
        .problem(422);
    assert_eq!(Reply::error_fields(&problem), ["to"]);
}

/// A session scheduled at short notice keeps its ring-fence until two days before, though its
/// course releases reserved places 14 days before; the course is not edited.
#[tokio::test]
async fn the_reserved_release_is_set_per_session_at_scheduling() {
    let app = TestApp::spawn().await;
    let course = champion_course(&app, 1000).await;
    let date =
        cascade::domain::sessions::london_today(app.clock.now()) + chrono::Duration::days(10);
    let sittings = json!([{ "date": date, "start": "09:30", "end": "16:00" }]);
    let mut body = session_body(course, sittings.clone());
    body["capacity"] = json!(20);
    let default = app
        .post("/api/v1/sessions", &app.admin, body.clone())
        .await
        .expect(201)
        .body;
    // The course's 14 days have already passed: the 2 reserved places are general already.
    assert_eq!(default["reserved_places"]["released"], true);
    body["reserved_release_days"] = json!(2);
    body["booking_closes_at"] = json!(format!("{}T00:00:00Z", date - chrono::Duration::days(1)));
    let short = app
        .post("/api/v1/sessions", &app.admin, body.clone())
        .await
        .expect(201)
        .body;
    assert_eq!(short["reserved_places"]["places"], 2);
    assert_eq!(short["reserved_places"]["released"], false);
    let starts: chrono::DateTime<chrono::Utc> = short["starts_at"]
        .as_str()
        .unwrap_or("")
        .parse()
        .expect("instant");
    let release: chrono::DateTime<chrono::Utc> = short["reserved_places"]["release_at"]
        .as_str()
        .unwrap_or("")
        .parse()
        .expect("instant");
    assert_eq!(starts - release, chrono::Duration::days(2));
    assert_eq!(
        short["booking_closes_at"],
        format!("{}T00:00:00+00:00", date - chrono::Duration::days(1))
    );
    let course_after = app
        .get(&format!("/api/v1/courses/{course}"), &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(
        course_after["reserved_places"]["release_days_before_start"],
        14
    );

    // Out of range, or on a course without a ring-fence: refused, naming the field.
    body["reserved_release_days"] = json!(400);
    let bad = app
        .post("/api/v1/sessions", &app.admin, body.clone())
        .await
        .expect(422)
        .body;
    assert_eq!(bad["errors"][0]["field"], "reserved_release_days");
    let programme = app.programme("mecc").await;
    let open = id_of(
        &app.post(
            "/api/v1/courses",
            &app.admin,
            json!({ "programme_id": programme, "code": "mecc-skills", "title": "MECC skills",
                "kind": "practitioner", "duration_minutes": 180, "cpd_hours": 3, "default_capacity": 20 }),
        )
        .await
        .expect(201)
        .body,
    );
    let mut plain = session_body(open, sittings);
    plain["reserved_release_days"] = json!(2);
    let bad = app
        .post("/api/v1/sessions", &app.admin, plain)
        .await
        .expect(422)
        .body;
    assert_eq!(bad["errors"][0]["field"], "reserved_release_days");
}
