//! The coordinators' console, through its pages: the dashboard shows the JSON reports' own
//! figures; a coordinator checks a session (reserved places, clashes), schedules it, books
//! people, takes the register with a walk-in and completes it; each role sees only its pages and
//! a partner lead only its own staff.

use cascade_tests::{Browser, TestApp, form_token, id_of};
use serde_json::json;
use uuid::Uuid;

struct World {
    app: TestApp,
    programme: Uuid,
    course: Uuid,
}

async fn person_id(app: &TestApp, email: &str) -> String {
    app.get(&format!("/api/v1/people?email={email}"), &app.admin)
        .await
        .expect(200)
        .body["items"][0]["id"]
        .as_str()
        .expect("an id")
        .to_owned()
}

async fn grant(app: &TestApp, email: &str, role: &str) {
    let id = person_id(app, email).await;
    app.put(
        &format!("/api/v1/people/{id}/sign-in-role"),
        &app.admin,
        json!({ "role": role }),
    )
    .await
    .expect(200);
}

async fn world() -> World {
    let app = TestApp::spawn().await;
    app.leave_room_in_programme_year(40);
    let council = app.organisation("Wiltshire Council", "council").await;
    let charity = app.organisation("Youth Action", "voluntary").await;
    app.person("Priya Sharma", "priya@example.org", council, "P1")
        .await;
    app.person("Siân Roberts", "sian@example.org", council, "S1")
        .await;
    app.person("Tomás Ó Briain", "tomas@example.org", council, "T1")
        .await;
    app.person("Ama Mensah", "ama@example.org", charity, "A1")
        .await;
    app.person("Beth Jones", "beth@example.org", charity, "B1")
        .await;
    grant(&app, "priya@example.org", "coordinator").await;
    let programme = app.programme("ftt").await;
    // One place in ten held for the voluntary sector, released a week before.
    let course = id_of(
        &app.post(
            "/api/v1/courses",
            &app.admin,
            json!({
                "programme_id": programme, "code": "ftt-ch", "title": "Champion training",
                "kind": "champion", "duration_minutes": 360, "cpd_hours": 6, "default_capacity": 10,
                "reserved_places": { "sector": "voluntary", "share_bp": 1000, "release_days_before_start": 7 },
            }),
        )
        .await
        .expect(201)
        .body,
    );
    World {
        app,
        programme,
        course,
    }
}

/// The text of a table row (`<tr data-key="…">`) of the chart `chart`.
fn row_text(html: &str, chart: &str, key: &str) -> String {
    let table = &html[html
        .find(&format!("id=\"table-{chart}\""))
        .unwrap_or_else(|| panic!("a table for {chart}"))..];
    let at = table
        .find(&format!("<tr data-key=\"{key}\">"))
        .unwrap_or_else(|| panic!("a row {key} in {chart}"));
    let row = &table[at..table[at..].find("</tr>").map_or(table.len(), |e| at + e)];
    let cell = &row[row.find("<td>").expect("a figure") + 4..];
    cell[..cell.find("</td>").expect("end")].to_owned()
}

#[tokio::test]
async fn the_dashboard_shows_the_figures_of_the_json_reports() {
    let w = world().await;
    let app = &w.app;
    let year = {
        let today = app.clock.now().date_naive();
        if chrono::Datelike::month(&today) >= 4 {
            chrono::Datelike::year(&today)
        } else {
            chrono::Datelike::year(&today) - 1
        }
    };
    app.put(
        &format!("/api/v1/programmes/{}/years/{year}", w.programme),
        &app.admin,
        json!({ "champion_sessions_target": 12, "champions_target": 600, "trainers_target": 25, "reserved_share_bp": 1000 }),
    )
    .await
    .expect(200);
    // A session held last week: two champions trained, one voluntary.
    let held = (app.clock.now() - chrono::Duration::days(7)).date_naive();
    let sian = person_id(app, "sian@example.org").await;
    let ama = person_id(app, "ama@example.org").await;
    app.post(
        "/api/v1/past-sessions",
        &app.admin,
        json!({
            "course_id": w.course,
            "sittings": [{ "date": held, "start": "09:30", "end": "16:00" }],
            "venue": { "name": "Corn Exchange" },
            "attendees": [
                { "person_id": sian, "attended_sittings": [1] },
                { "person_id": ama, "attended_sittings": [1] }
            ],
            "issue_certificates": true,
        }),
    )
    .await
    .expect(201);

    let mut b = Browser::new(app);
    b.sign_in("priya@example.org").await;
    let query = format!("programme={}&year={year}", w.programme);
    let page = b.get(&format!("/console?{query}")).await.expect(200);
    let progress = app
        .get(
            &format!(
                "/api/v1/reports/progress?programme_id={}&year={year}",
                w.programme
            ),
            &app.admin,
        )
        .await
        .expect(200)
        .body;
    for t in progress["targets"].as_array().expect("targets") {
        let actual = t["actual"].as_i64().expect("actual");
        let forecast = t["forecast"].as_i64().expect("forecast");
        let bp = t["target"] == "reserved_share_bp";
        let show = |v: i64| {
            if bp {
                format!("{:.1}%", v as f64 / 100.0)
            } else {
                v.to_string()
            }
        };
        let mut expected = show(actual);
        if let Some(target) = t["target_value"].as_i64() {
            expected.push_str(&format!(" of {}", show(target)));
        }
        if forecast != actual {
            expected.push_str(&format!(" (forecast {})", show(forecast)));
        }
        let key = t["target"].as_str().expect("key");
        assert_eq!(row_text(&page.text, "targets", key), expected, "{key}");
    }
    assert_eq!(
        row_text(&page.text, "targets", "champions_trained"),
        "2 of 600"
    );
    for line in progress["champions_by_sector"].as_array().expect("lines") {
        assert_eq!(
            row_text(
                &page.text,
                "champions-sector",
                line["key"].as_str().expect("key")
            ),
            line["count"].as_i64().expect("count").to_string()
        );
    }
    // The chart carries its text alternative, and the same chart is in the board PDF.
    assert!(page.text.contains("role=\"img\""));
    assert!(page.text.contains("Champions trained: 2 of 600"));
    let pdf = b
        .get(&format!("/console/board.pdf?{query}"))
        .await
        .expect(200);
    let text = cascade_tests::pdf_text(&pdf.bytes);
    assert!(text.contains("Champions trained by sector"), "{text}");
    let csv = b
        .get(&format!("/console/progress.csv?{query}"))
        .await
        .expect(200);
    assert!(
        csv.text
            .contains("\"champions_trained\",\"Champions trained\",\"600\",\"2\""),
        "{}",
        csv.text
    );
}

async fn schedule(b: &mut Browser<'_>, f: Vec<(&'static str, String)>) -> cascade_tests::Reply {
    let refs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    b.post("/console/sessions/new", &refs).await
}

#[tokio::test]
async fn a_coordinator_schedules_books_and_takes_the_register_with_a_walk_in() {
    let w = world().await;
    let app = &w.app;
    let mut b = Browser::new(app);
    b.sign_in("priya@example.org").await;
    let form = b.get("/console/sessions/new").await.expect(200);
    let csrf = form_token(&form.text);
    let day = |d: i64| {
        (app.clock.now() + chrono::Duration::days(d))
            .date_naive()
            .to_string()
    };
    // Another session at the same venue on the first day: a clash to show, not a refusal.
    app.post(
        "/api/v1/sessions",
        &app.admin,
        json!({
            "course_id": w.course,
            "sittings": [{ "date": day(20), "start": "10:00", "end": "11:00" }],
            "venue": { "name": "Corn Exchange" },
        }),
    )
    .await
    .expect(201);
    let course = w.course.to_string();
    let (d1, d2) = (day(20), day(27));
    let fields = |step: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("course", course.clone()),
            ("date1", d1.clone()),
            ("start1", "09:30".to_owned()),
            ("end1", "12:30".to_owned()),
            ("date2", d2.clone()),
            ("start2", "09:30".to_owned()),
            ("end2", "12:30".to_owned()),
            ("venue", "corn exchange".to_owned()),
            ("capacity", "10".to_owned()),
            ("step", step.to_owned()),
        ]
    };
    let as_refs = |f: &Vec<(&'static str, String)>| -> Vec<(&'static str, String)> { f.clone() };
    let sessions_before = app.get("/api/v1/sessions", &app.admin).await.expect(200);
    let check = schedule(&mut b, as_refs(&fields("check")))
        .await
        .expect(200);
    assert!(check.text.contains("Check the session"), "{}", check.text);
    assert!(
        check.text.contains("1 held for the voluntary sector"),
        "{}",
        check.text
    );
    assert!(
        check
            .text
            .contains("Corn Exchange is booked for another session"),
        "{}",
        check.text
    );
    // Checking wrote nothing.
    let sessions_after = app.get("/api/v1/sessions", &app.admin).await.expect(200);
    assert_eq!(sessions_before.body["items"], sessions_after.body["items"]);
    // A form the API refuses comes back with its words, and still writes nothing.
    let mut bad = fields("save");
    bad[4].1 = "13:30".to_owned();
    bad[3].1 = "14:00".to_owned();
    let refused = schedule(&mut b, bad).await.expect(422);
    assert!(refused.text.contains("Sitting 1"), "{}", refused.text);
    let saved = schedule(&mut b, as_refs(&fields("save"))).await.expect(303);
    let location = saved.headers["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let session: Uuid = location
        .trim_start_matches("/console/sessions/")
        .split('?')
        .next()
        .expect("id")
        .parse()
        .expect("a session id");

    // Three people booked from the search, one of them voluntary (the reserved place).
    for (q, name) in [
        ("sian", "Siân Roberts"),
        ("bri", "Tomás Ó Briain"),
        ("AMA", "Ama Mensah"),
    ] {
        let found = b
            .get(&format!(
                "/console/sessions/{session}?q={}",
                q.replace(' ', "+")
            ))
            .await
            .expect(200);
        assert!(found.text.contains(name), "{q}: {}", found.text);
        let at = found
            .text
            .find(&format!("{name} <button"))
            .expect("a book button");
        let before = &found.text[..at];
        let pid = &before[before.rfind("name=\"person\" value=\"").expect("person") + 21..];
        let pid = &pid[..36];
        let csrf = form_token(&found.text);
        b.post(
            &format!("/console/sessions/{session}/book"),
            &[("csrf", &csrf), ("person", pid)],
        )
        .await
        .expect(303);
    }
    let page = b
        .get(&format!("/console/sessions/{session}"))
        .await
        .expect(200);
    assert!(page.text.contains("Youth Action"), "{}", page.text);
    assert!(
        page.text
            .contains("1 for the voluntary sector: 1 taken, 0 free"),
        "{}",
        page.text
    );
    assert!(page.text.contains("3 booked of 10"), "{}", page.text);

    // At the venue: the first sitting has started; booking is closed, so Beth walks in.
    app.clock
        .advance(chrono::Duration::days(20) - chrono::Duration::hours(1));
    b.sign_in("priya@example.org").await;
    let reg = b
        .get(&format!("/console/sessions/{session}/register?q=beth"))
        .await
        .expect(200);
    assert!(reg.text.contains("button-tap"), "{}", reg.text);
    let at = reg
        .text
        .find("Beth Jones <button")
        .expect("a walk-in button");
    let before = &reg.text[..at];
    let beth = &before[before.rfind("name=\"person\" value=\"").expect("person") + 21..][..36];
    b.post(
        &format!("/console/sessions/{session}/walk-in"),
        &[("csrf", &form_token(&reg.text)), ("person", beth)],
    )
    .await
    .expect(303);
    let register = app
        .get(
            &format!("/api/v1/sessions/{session}/attendance"),
            &app.admin,
        )
        .await
        .expect(200)
        .body;
    let rows = register["rows"].as_array().expect("rows").clone();
    assert_eq!(rows.len(), 4);
    // Everyone present at sitting 1 by one tap each; sitting 2 has not started.
    for row in &rows {
        let booking = row["booking_id"].as_str().expect("booking");
        b.post(
            &format!("/console/sessions/{session}/register"),
            &[
                ("csrf", &form_token(&reg.text)),
                ("booking", booking),
                ("sitting", "1"),
                ("present", "yes"),
            ],
        )
        .await
        .expect(303);
    }
    let early = b
        .post(
            &format!("/console/sessions/{session}/register"),
            &[
                ("csrf", &form_token(&reg.text)),
                ("booking", rows[0]["booking_id"].as_str().expect("b")),
                ("sitting", "2"),
                ("present", "yes"),
            ],
        )
        .await
        .expect(422);
    assert!(early.text.contains("has not started yet"), "{}", early.text);
    app.clock.advance(chrono::Duration::days(8));
    b.sign_in("priya@example.org").await;
    let reg = b
        .get(&format!("/console/sessions/{session}/register"))
        .await
        .expect(200);
    for row in &rows {
        let booking = row["booking_id"].as_str().expect("booking");
        b.post(
            &format!("/console/sessions/{session}/register"),
            &[
                ("csrf", &form_token(&reg.text)),
                ("booking", booking),
                ("sitting", "2"),
                ("present", "yes"),
            ],
        )
        .await
        .expect(303);
    }
    let ask = b
        .get(&format!("/console/sessions/{session}/complete"))
        .await
        .expect(200);
    b.post(
        &format!("/console/sessions/{session}/complete"),
        &[("csrf", &form_token(&ask.text))],
    )
    .await
    .expect(303);
    let certs = app
        .get(
            &format!("/api/v1/certificates?session_id={session}"),
            &app.admin,
        )
        .await
        .expect(200);
    assert_eq!(certs.body["items"].as_array().map(Vec::len), Some(4));
    let done = b
        .get(&format!("/console/sessions/{session}?done=completed"))
        .await
        .expect(200);
    assert!(
        done.text.contains("certificates are issued"),
        "{}",
        done.text
    );
}

#[tokio::test]
async fn each_role_sees_only_its_pages_and_a_partner_lead_only_its_staff() {
    let w = world().await;
    let app = &w.app;
    grant(app, "ama@example.org", "partner_lead").await;
    // Staff: no console pages.
    let mut staff = Browser::new(app);
    staff.sign_in("sian@example.org").await;
    for path in [
        "/console",
        "/console/sessions",
        "/console/sessions/new",
        "/console/people",
    ] {
        staff.get(path).await.expect(403);
    }
    let my = staff.get("/my").await.expect(200);
    assert!(!my.text.contains("href=\"/console\""));
    // A partner lead: the dashboard (its own breakdowns) and its own staff only.
    let mut lead = Browser::new(app);
    lead.sign_in("ama@example.org").await;
    lead.get("/console").await.expect(200);
    lead.get("/console/sessions/new").await.expect(403);
    let all = lead.get("/console/people").await.expect(200);
    assert!(all.text.contains("Beth Jones") && all.text.contains("Ama Mensah"));
    assert!(!all.text.contains("Siân Roberts"), "{}", all.text);
    let searched = lead.get("/console/people?q=sian").await.expect(200);
    assert!(searched.text.contains("Nobody found"), "{}", searched.text);
    let sian = person_id(app, "sian@example.org").await;
    lead.get(&format!("/console/people/{sian}"))
        .await
        .expect(404);
    let beth = person_id(app, "beth@example.org").await;
    let history = lead
        .get(&format!("/console/people/{beth}"))
        .await
        .expect(200);
    assert!(history.text.contains("Beth Jones"));
    // A coordinator finds anyone by a folded prefix of either name.
    let mut coordinator = Browser::new(app);
    coordinator.sign_in("priya@example.org").await;
    for q in ["SIAN", "rob", "bri"] {
        let found = coordinator
            .get(&format!("/console/people?q={q}"))
            .await
            .expect(200);
        assert!(
            found.text.contains("Siân Roberts") || found.text.contains("Tomás Ó Briain"),
            "{q}: {}",
            found.text
        );
    }
    let api = app
        .get("/api/v1/people?name=sian", &app.admin)
        .await
        .expect(200);
    assert_eq!(api.body["items"].as_array().map(Vec::len), Some(1));
    app.get("/api/v1/people?name=%20-%20", &app.admin)
        .await
        .expect(422);
}

#[tokio::test]
async fn a_coordinator_moves_a_session_messages_its_attendees_and_gives_a_waiting_person_a_place() {
    let w = world().await;
    let app = &w.app;
    // Two places, one held for the voluntary sector: Siân takes the other, Tomás waits.
    let session = id_of(&app.session(w.course, 30, 2).await);
    let sian: Uuid = person_id(app, "sian@example.org")
        .await
        .parse()
        .expect("id");
    let tomas: Uuid = person_id(app, "tomas@example.org")
        .await
        .parse()
        .expect("id");
    app.book(session, sian, &app.admin).await.expect(201);
    let waiting = id_of(&app.book(session, tomas, &app.admin).await.expect(201).body);
    let mut b = Browser::new(app);
    b.sign_in("priya@example.org").await;

    // Move it a day later: Siân gets an updated invitation.
    let form = b
        .get(&format!("/console/sessions/{session}/edit"))
        .await
        .expect(200);
    assert!(form.text.contains("Change or move"), "{}", form.text);
    let day = (app.clock.now() + chrono::Duration::days(31))
        .date_naive()
        .to_string();
    let csrf = form_token(&form.text);
    let fields = [
        ("csrf", csrf.as_str()),
        ("course", &w.course.to_string()),
        ("date1", &day),
        ("start1", "09:30"),
        ("end1", "16:00"),
        ("venue", "Corn Exchange, Devizes"),
        ("capacity", "2"),
        ("step", "save"),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, *v)).collect();
    b.post(&format!("/console/sessions/{session}/edit"), &fields)
        .await
        .expect(303);
    let moved = app
        .get(&format!("/api/v1/sessions/{session}"), &app.admin)
        .await
        .expect(200);
    assert_eq!(moved.body["sittings"][0]["date"], day);

    // A message to everyone with a place (Siân, not Tomás who waits).
    let page = b
        .get(&format!("/console/sessions/{session}/message"))
        .await
        .expect(200);
    let empty = b
        .post(
            &format!("/console/sessions/{session}/message"),
            &[
                ("csrf", &form_token(&page.text)),
                ("subject", ""),
                ("text", ""),
            ],
        )
        .await
        .expect(422);
    assert!(empty.text.contains("Subject"), "{}", empty.text);
    b.post(
        &format!("/console/sessions/{session}/message"),
        &[
            ("csrf", &form_token(&page.text)),
            ("subject", "Room change"),
            (
                "text",
                "We are in the Long Room now.\n\nBring a packed lunch.",
            ),
        ],
    )
    .await
    .expect(303);

    // Tomás moves off the waitlist: the session gains a place for him.
    let page = b
        .get(&format!("/console/sessions/{session}"))
        .await
        .expect(200);
    assert!(page.text.contains("Give a place"), "{}", page.text);
    b.post(
        &format!("/console/bookings/{waiting}/place"),
        &[("csrf", &form_token(&page.text))],
    )
    .await
    .expect(303);
    let after = app
        .get(&format!("/api/v1/bookings/{waiting}"), &app.admin)
        .await
        .expect(200);
    assert_eq!(after.body["status"], "confirmed");
    let s = app
        .get(&format!("/api/v1/sessions/{session}"), &app.admin)
        .await
        .expect(200);
    assert_eq!(s.body["availability"]["capacity"], 3);
    // Again: he no longer waits, and nothing changes.
    app.post(
        &format!("/api/v1/bookings/{waiting}/place"),
        &app.admin,
        json!({}),
    )
    .await
    .expect(409);

    app.send_mail().await;
    let kinds: Vec<String> = app
        .mailbox()
        .iter()
        .map(|m| format!("{} {}", m.to_address, m.kind))
        .collect();
    assert_eq!(
        app.mail_to("sian@example.org", "session_changed").len(),
        1,
        "{kinds:?}"
    );
    let message = app.mail_to("sian@example.org", "session_message");
    assert_eq!(message.len(), 1);
    assert!(
        message[0].subject.contains("Room change"),
        "{}",
        message[0].subject
    );
    assert!(message[0].text.contains("Long Room") && message[0].text.contains("Priya Sharma"));
    assert!(
        app.mail_to("tomas@example.org", "session_message")
            .is_empty()
    );
    assert_eq!(
        app.mail_to("tomas@example.org", "booking_promoted").len(),
        1
    );
}

#[tokio::test]
async fn the_trainer_board_shows_the_pipeline_and_a_trainer_records_a_cascade_that_reach_counts() {
    let app = TestApp::spawn().await;
    cascade::demo::load(&app.db)
        .await
        .expect("the partnership loads");
    cascade::demo::year::load(&app.state)
        .await
        .expect("the year loads");
    let programme = app
        .get("/api/v1/programmes?limit=50", &app.admin)
        .await
        .expect(200)
        .body["items"]
        .as_array()
        .expect("programmes")
        .iter()
        .find(|p| {
            p["code"] == "five-to-thrive" || p["name"].as_str().is_some_and(|n| n.contains("Five"))
        })
        .map(|p| p["id"].as_str().expect("id").to_owned())
        .expect("the Five to Thrive programme");
    let mut coordinator = Browser::new(&app);
    coordinator.sign_in("priya.sharma@wiltshire.example").await;
    let board = coordinator
        .get(&format!("/console/trainers?programme={programme}"))
        .await
        .expect(200);
    assert!(board.text.contains("Zoë Ashworth"), "{}", board.text);
    assert!(
        board.text.contains("of the year’s cap of 25"),
        "{}",
        board.text
    );
    let reach = |body: &serde_json::Value| body["people_reached"].as_i64().expect("reach");
    let before = reach(
        &app.get(
            &format!("/api/v1/reports/reach?programme_id={programme}"),
            &app.admin,
        )
        .await
        .expect(200)
        .body,
    );
    let dashboard = coordinator
        .get(&format!("/console?programme={programme}"))
        .await
        .expect(200);
    assert!(dashboard.text.contains(&format!(
        "<dt>People reached by the cascade</dt><dd>{before}</dd>"
    )));

    // Zoë records a session she led: two named attendees and a headcount of five.
    let mut zoe = Browser::new(&app);
    zoe.sign_in("zoe.ashworth@nhs.example").await;
    let my = zoe.get("/my").await.expect(200);
    assert!(my.text.contains("/my/cascades/new"), "{}", my.text);
    let form = zoe.get("/my/cascades/new").await.expect(200);
    let pick = |html: &str, select: &str| {
        let at = html.find(&format!("id=\"{select}\"")).expect("the select");
        let rest = &html[at..];
        let opt = rest.find("<option value=\"").expect("an option") + 15;
        let rest = &rest[opt..];
        let first = if rest.starts_with('"') {
            let next = rest.find("<option value=\"").expect("a second option") + 15;
            &rest[next..]
        } else {
            rest
        };
        first[..first.find('"').expect("end")].to_owned()
    };
    let course = pick(&form.text, "course");
    let org = pick(&form.text, "org1");
    let unknown = zoe
        .post(
            "/my/cascades/new",
            &[
                ("csrf", &form_token(&form.text)),
                ("course", &course),
                ("delivered_on", &app.clock.now().date_naive().to_string()),
                ("start", "10:00"),
                ("minutes", "90"),
                ("mode", "in_person"),
                ("attendees", "nobody@nowhere.example"),
            ],
        )
        .await
        .expect(422);
    assert!(
        unknown.text.contains("nobody@nowhere.example"),
        "{}",
        unknown.text
    );
    zoe.post(
        "/my/cascades/new",
        &[
            ("csrf", &form_token(&form.text)),
            ("course", &course),
            ("delivered_on", &app.clock.now().date_naive().to_string()),
            ("start", "10:00"),
            ("minutes", "90"),
            ("mode", "in_person"),
            (
                "attendees",
                "sian.roberts@wiltshire.example\npriya.sharma@wiltshire.example",
            ),
            ("org1", &org),
            ("count1", "5"),
        ],
    )
    .await
    .expect(303);
    let after = reach(
        &app.get(
            &format!("/api/v1/reports/reach?programme_id={programme}"),
            &app.admin,
        )
        .await
        .expect(200)
        .body,
    );
    assert_eq!(after, before + 7);
    let dashboard = coordinator
        .get(&format!("/console?programme={programme}"))
        .await
        .expect(200);
    assert!(dashboard.text.contains(&format!(
        "<dt>People reached by the cascade</dt><dd>{after}</dd>"
    )));
    Box::pin(sign_off_through_the_page(
        &app,
        &mut coordinator,
        &programme,
    ))
    .await;
    // The board is a coordinator's; a trainer has no way in.
    zoe.get("/console/trainers").await.expect(403);
}

#[tokio::test]
async fn the_preview_names_each_clash_and_a_walk_in_takes_only_a_free_place() {
    let w = world().await;
    let app = &w.app;
    let sian = person_id(app, "sian@example.org").await;
    let tomas = person_id(app, "tomas@example.org").await;
    let day = (app.clock.now() + chrono::Duration::days(20)).date_naive();
    let taken = id_of(
        &app.post(
            "/api/v1/sessions",
            &app.admin,
            json!({
                "course_id": w.course,
                "sittings": [{ "date": day, "start": "09:30", "end": "12:30" }],
                "venue": { "name": "Town Hall" },
                "facilitator_ids": [sian],
                "capacity": 1,
            }),
        )
        .await
        .expect(201)
        .body,
    );
    let preview = |start: &str, end: &str| {
        json!({
            "course_id": w.course,
            "sittings": [{ "date": day, "start": start, "end": end }],
            "venue": { "name": "TOWN HALL" },
            "facilitator_ids": [sian],
            "capacity": 20,
        })
    };
    let clash = app
        .post(
            "/api/v1/sessions/preview",
            &app.admin,
            preview("12:00", "13:00"),
        )
        .await
        .expect(200)
        .body;
    let kinds: Vec<&str> = clash["conflicts"]
        .as_array()
        .expect("conflicts")
        .iter()
        .map(|c| c["kind"].as_str().expect("kind"))
        .collect();
    assert_eq!(kinds, ["facilitator", "venue"]);
    assert_eq!(clash["conflicts"][0]["session_id"], taken.to_string());
    assert_eq!(clash["conflicts"][0]["person_id"], sian);
    assert_eq!(clash["reserved_places"]["places"], 2);
    // Back to back is no clash; a refusal is the same as scheduling's, and nothing is written.
    let free = app
        .post(
            "/api/v1/sessions/preview",
            &app.admin,
            preview("12:30", "13:30"),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(free["conflicts"], json!([]));
    let before = app
        .get("/api/v1/sessions", &app.admin)
        .await
        .expect(200)
        .body;
    app.post(
        "/api/v1/sessions/preview",
        &app.admin,
        preview("13:00", "12:00"),
    )
    .await
    .expect(422);
    let after = app
        .get("/api/v1/sessions", &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(before["items"], after["items"]);

    // Walk-ins: not while booking is open; then a free place, and none when it is full.
    let walk_in = |person: &str| json!({ "person_id": person });
    let refused = app
        .post(
            &format!("/api/v1/sessions/{taken}/walk-ins"),
            &app.admin,
            walk_in(&tomas),
        )
        .await
        .problem(409);
    assert_eq!(cascade_tests::kind(&refused), "booking-still-open");
    app.clock
        .advance(chrono::Duration::days(20) - chrono::Duration::hours(2));
    app.post(
        &format!("/api/v1/sessions/{taken}/walk-ins"),
        &app.admin,
        walk_in(&tomas),
    )
    .await
    .expect(201);
    let full = app
        .post(
            &format!("/api/v1/sessions/{taken}/walk-ins"),
            &app.admin,
            walk_in(&sian),
        )
        .await
        .problem(409);
    assert_eq!(cascade_tests::kind(&full), "session-full");
}

async fn sign_off_through_the_page(app: &TestApp, coordinator: &mut Browser<'_>, programme: &str) {
    // A coordinator signs off a step with its evidence; a step out of order is refused in the
    // API's words and records nothing.
    let priya = person_id(app, "priya.sharma@wiltshire.example").await;
    let form = coordinator
        .get(&format!(
            "/console/trainers/{priya}/sign-off?programme={programme}"
        ))
        .await
        .expect(200);
    let sign = |step: &'static str| {
        vec![
            ("csrf", form_token(&form.text)),
            ("programme", programme.to_owned()),
            ("step", step.to_owned()),
            ("evidence", "Nominated by her service manager".to_owned()),
        ]
    };
    let refused_fields = sign("accredited");
    let refs: Vec<(&str, &str)> = refused_fields
        .iter()
        .map(|(k, v)| (*k, v.as_str()))
        .collect();
    let refused = coordinator
        .post(&format!("/console/trainers/{priya}/sign-off"), &refs)
        .await
        .expect(409);
    assert!(
        refused.text.contains("The step could not be recorded"),
        "{}",
        refused.text
    );
    let fields = sign("nominated");
    let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    coordinator
        .post(&format!("/console/trainers/{priya}/sign-off"), &refs)
        .await
        .expect(303);
    let progress = app
        .get(&format!("/api/v1/trainers/{priya}"), &app.admin)
        .await
        .expect(200);
    assert!(
        progress.text.contains("\"step\":\"nominated\""),
        "{}",
        progress.text
    );
}
