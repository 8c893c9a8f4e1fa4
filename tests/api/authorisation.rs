//! The authorisation matrix: every operation of the API, called by every role, answers as the
//! scope rules in `api/src/auth.rs` say. A new operation without a row here fails the test.

use std::collections::BTreeSet;

use cascade::domain::api_keys::KeyRole;
use cascade_tests::TestApp;
use serde_json::{Value, json};

const ROLES: [&str; 6] = [
    "none",
    "admin",
    "coordinator",
    "partner",
    "trainer",
    "learner",
];

struct Row {
    method: &'static str,
    template: &'static str,
    path: String,
    body: Option<Value>,
    /// Expected status per role, in the order of [`ROLES`].
    expect: [u16; 6],
}

#[tokio::test]
async fn every_operation_answers_every_role_as_the_scope_rules_say() {
    let app = TestApp::spawn().await;
    let own = app.organisation("Partner's own", "health").await;
    let other = app.organisation("Another partner", "council").await;
    let me = app
        .person("Own person", "own@example.org", own, "O-1")
        .await;
    let them = app
        .person("Other person", "other@example.org", other, "X-1")
        .await;
    let programme = app.programme("matrix").await;
    let course = app.course(programme, "matrix-course").await;
    let locality = app.reference("localities", "Devizes").await;
    let group = app.reference("staff-groups", "Police").await;
    let spare_key = app
        .post(
            "/api/v1/api-keys",
            &app.admin,
            json!({ "name": "spare", "role": "learner", "person_id": me }),
        )
        .await
        .expect(201)
        .body["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let keys = [
        None,
        Some(app.admin.clone()),
        Some(app.key(KeyRole::Coordinator, None, None).await),
        Some(app.key(KeyRole::Partner, Some(own), None).await),
        Some(app.key(KeyRole::Trainer, None, Some(me)).await),
        Some(app.key(KeyRole::Learner, None, Some(me)).await),
    ];

    // Two membership requests by the partner for people another organisation employs: one for
    // the confirm rows, one the partner withdraws.
    let mut requests = Vec::new();
    let mut asked_people = Vec::new();
    for (n, email) in ["asked1@example.org", "asked2@example.org"]
        .iter()
        .enumerate()
    {
        asked_people.push(app.person("Asked", email, other, &format!("X-A{n}")).await);
        let asked = app
            .post(
                "/api/v1/people",
                keys[3].as_deref().unwrap_or_default(),
                json!({ "name": "Asked", "email": email,
                        "memberships": [{ "organisation_id": own, "external_id": format!("ASK-{n}") }] }),
            )
            .await
            .expect(202);
        requests.push(cascade_tests::id_of(&asked.body));
    }

    // One session per role on its own course, so each role's booking of `me` is a first booking.
    let mut role_sessions = Vec::new();
    for (day, role) in (30..).zip(ROLES) {
        let course = app.course(programme, &format!("matrix-{role}")).await;
        role_sessions.push(cascade_tests::id_of(&app.session(course, day, 10).await));
    }
    let session = role_sessions[0];
    let my_booking =
        cascade_tests::id_of(&app.book(session, me, &app.admin).await.expect(201).body);
    let their_booking =
        cascade_tests::id_of(&app.book(session, them, &app.admin).await.expect(201).body);
    let missing = uuid::Uuid::now_v7();
    let coordinators_hook = cascade_tests::id_of(
        &app.post(
            "/api/v1/webhooks",
            &app.admin,
            json!({ "url": "http://127.0.0.1:9/hook", "secret": "a secret of 16+ chars",
                    "event_types": ["booking.confirmed"] }),
        )
        .await
        .expect(201)
        .body,
    );

    app.put(
        &format!("/api/v1/programmes/{programme}/years/2026"),
        &app.admin,
        json!({ "trainers_target": 25 }),
    )
    .await
    .expect(200);
    let today = cascade::domain::sessions::london_today(app.clock.now());
    let register = [401, 404, 404, 403, 404, 403];
    let cascade_body = json!({
        "course_id": course, "lead_trainer_id": me, "delivered_on": today, "start": "10:00",
        "duration_minutes": 60, "mode": "in_person",
    });

    let read_all = [401, 200, 200, 200, 200, 200];
    let own_only = [401, 200, 200, 404, 404, 404];
    let manage = |ok: u16| [401, ok, ok, 403, 403, 403];
    let admin_only = |ok: u16| [401, ok, 403, 403, 403, 403];
    let people_write = |ok: u16| [401, ok, ok, ok, 403, 403];
    let row = |method, template, path: String, body: Option<Value>, expect| Row {
        method,
        template,
        path,
        body,
        expect,
    };
    let mut rows = vec![
        row(
            "GET",
            "/organisations",
            "/organisations".into(),
            None,
            read_all,
        ),
        row(
            "GET",
            "/organisations/{id}",
            format!("/organisations/{own}"),
            None,
            read_all,
        ),
        row(
            "PATCH",
            "/organisations/{id}",
            format!("/organisations/{own}"),
            Some(json!({})),
            manage(200),
        ),
        row("GET", "/localities", "/localities".into(), None, read_all),
        row(
            "GET",
            "/localities/{id}",
            format!("/localities/{locality}"),
            None,
            read_all,
        ),
        row(
            "PATCH",
            "/localities/{id}",
            format!("/localities/{locality}"),
            Some(json!({})),
            manage(200),
        ),
        row(
            "GET",
            "/staff-groups",
            "/staff-groups".into(),
            None,
            read_all,
        ),
        row(
            "GET",
            "/staff-groups/{id}",
            format!("/staff-groups/{group}"),
            None,
            read_all,
        ),
        row(
            "PATCH",
            "/staff-groups/{id}",
            format!("/staff-groups/{group}"),
            Some(json!({})),
            manage(200),
        ),
        row("GET", "/programmes", "/programmes".into(), None, read_all),
        row(
            "GET",
            "/programmes/{id}",
            format!("/programmes/{programme}"),
            None,
            read_all,
        ),
        row(
            "PATCH",
            "/programmes/{id}",
            format!("/programmes/{programme}"),
            Some(json!({})),
            manage(200),
        ),
        row("GET", "/courses", "/courses".into(), None, read_all),
        row(
            "GET",
            "/courses/{id}",
            format!("/courses/{course}"),
            None,
            read_all,
        ),
        row(
            "PATCH",
            "/courses/{id}",
            format!("/courses/{course}"),
            Some(json!({})),
            manage(200),
        ),
        row("GET", "/people", "/people".into(), None, read_all),
        row(
            "GET",
            "/membership-requests",
            "/membership-requests".into(),
            None,
            read_all,
        ),
        row(
            "GET",
            "/membership-requests/{id}",
            format!("/membership-requests/{}", requests[0]),
            None,
            [401, 200, 200, 200, 404, 404],
        ),
        // The requester may not confirm its own request; trainers and learners write no people.
        row(
            "POST",
            "/membership-requests/{id}/confirm",
            format!("/membership-requests/{}/confirm", requests[0]),
            Some(json!({})),
            [401, 0, 0, 403, 403, 403],
        ),
        row(
            "POST",
            "/membership-requests/{id}/confirm",
            format!("/membership-requests/{}/confirm", requests[0]),
            Some(json!({})),
            [0, 200, 409, 0, 0, 0],
        ),
        // Confirmed, the partner shares that person: it reads them, but only their employer
        // changes who they are or who employs them.
        row(
            "GET",
            "/people/{id}",
            format!("/people/{}", asked_people[0]),
            None,
            [401, 200, 200, 200, 404, 404],
        ),
        row(
            "PATCH",
            "/people/{id}",
            format!("/people/{}", asked_people[0]),
            Some(json!({ "name": "Renamed" })),
            [401, 200, 200, 403, 403, 403],
        ),
        row(
            "PUT",
            "/people/{id}/memberships/{organisation_id}",
            format!("/people/{}/memberships/{own}", asked_people[0]),
            Some(json!({ "primary": true })),
            [401, 0, 0, 403, 403, 403],
        ),
        row(
            "POST",
            "/membership-requests/{id}/decline",
            format!("/membership-requests/{}/decline", requests[1]),
            Some(json!({})),
            [401, 0, 0, 200, 403, 403],
        ),
        row(
            "POST",
            "/membership-requests/{id}/decline",
            format!("/membership-requests/{}/decline", requests[1]),
            Some(json!({})),
            [0, 409, 409, 0, 0, 0],
        ),
        row(
            "GET",
            "/people/{id}",
            format!("/people/{me}"),
            None,
            read_all,
        ),
        row(
            "GET",
            "/people/{id}",
            format!("/people/{them}"),
            None,
            [401, 200, 200, 404, 404, 404],
        ),
        row(
            "PATCH",
            "/people/{id}",
            format!("/people/{me}"),
            Some(json!({})),
            people_write(200),
        ),
        row(
            "PATCH",
            "/people/{id}",
            format!("/people/{them}"),
            Some(json!({})),
            [401, 200, 200, 404, 403, 403],
        ),
        row(
            "PUT",
            "/people/{id}/memberships/{organisation_id}",
            format!("/people/{me}/memberships/{own}"),
            Some(json!({})),
            people_write(200),
        ),
        row(
            "PUT",
            "/people/{id}/memberships/{organisation_id}",
            format!("/people/{them}/memberships/{other}"),
            Some(json!({})),
            [401, 200, 200, 403, 403, 403],
        ),
        row("GET", "/sessions", "/sessions".into(), None, read_all),
        row(
            "GET",
            "/sessions/{id}",
            format!("/sessions/{session}"),
            None,
            read_all,
        ),
        row(
            "PATCH",
            "/sessions/{id}",
            format!("/sessions/{session}"),
            Some(json!({})),
            manage(200),
        ),
        row(
            "POST",
            "/sessions/{id}/cancel",
            format!("/sessions/{missing}/cancel"),
            Some(json!({ "reason": "r" })),
            manage(404),
        ),
        row(
            "GET",
            "/sessions/{id}/bookings",
            format!("/sessions/{session}/bookings"),
            None,
            read_all,
        ),
        row(
            "GET",
            "/bookings/{id}",
            format!("/bookings/{my_booking}"),
            None,
            read_all,
        ),
        row(
            "GET",
            "/bookings/{id}",
            format!("/bookings/{their_booking}"),
            None,
            own_only,
        ),
        row(
            "POST",
            "/bookings/{id}/cancel",
            format!("/bookings/{missing}/cancel"),
            Some(json!({})),
            [401, 404, 404, 404, 404, 404],
        ),
        row(
            "POST",
            "/bookings/{id}/cancel",
            format!("/bookings/{their_booking}/cancel"),
            Some(json!({})),
            [401, 0, 0, 404, 404, 404],
        ),
        row(
            "GET",
            "/people/{id}/bookings",
            format!("/people/{me}/bookings"),
            None,
            read_all,
        ),
        row(
            "GET",
            "/people/{id}/bookings",
            format!("/people/{them}/bookings"),
            None,
            own_only,
        ),
        row(
            "POST",
            "/sessions/{id}/bookings",
            format!("/sessions/{session}/bookings"),
            Some(json!({ "person_id": them })),
            [401, 0, 0, 404, 404, 404],
        ),
        row(
            "POST",
            "/past-sessions",
            "/past-sessions".into(),
            Some(json!({ "course_id": course, "venue": { "name": "Hall" },
                "sittings": [{ "date": "2020-01-06", "start": "09:30", "end": "12:00" }],
                "attendees": [{ "person_id": missing }] })),
            manage(422),
        ),
        // Every role that may book gets its per-person outcomes (another partner's person is a
        // 404 inside the answer); the keyless request is refused whole.
        row(
            "POST",
            "/sessions/{id}/bookings/batch",
            format!("/sessions/{session}/bookings/batch"),
            Some(json!({ "person_ids": [them] })),
            [401, 200, 200, 200, 200, 200],
        ),
        // Checked and previewed by those who schedule; nothing is written.
        row(
            "POST",
            "/sessions/preview",
            "/sessions/preview".into(),
            Some(json!({
                "course_id": course,
                "sittings": [{ "date": today + chrono::Duration::days(60), "start": "09:30", "end": "12:30" }],
                "venue": { "name": "Corn Exchange" },
            })),
            manage(200),
        ),
        // Nobody waits on this booking: those who schedule hear so; nobody else may ask.
        row(
            "POST",
            "/bookings/{id}/place",
            format!("/bookings/{their_booking}/place"),
            None,
            [401, 409, 409, 403, 403, 403],
        ),
        // An empty message is refused before anything is queued.
        row(
            "POST",
            "/sessions/{id}/messages",
            format!("/sessions/{session}/messages"),
            Some(json!({ "subject": "", "text": "" })),
            [401, 422, 422, 403, 403, 403],
        ),
        // Booking is still open: the register's keepers hear so; nobody else may ask.
        row(
            "POST",
            "/sessions/{id}/walk-ins",
            format!("/sessions/{session}/walk-ins"),
            Some(json!({ "person_id": them })),
            [401, 409, 409, 403, 403, 403],
        ),
        row(
            "GET",
            "/sessions/{id}/attendance",
            format!("/sessions/{session}/attendance"),
            None,
            [401, 200, 200, 403, 403, 403],
        ),
        row(
            "PUT",
            "/sessions/{id}/attendance",
            format!("/sessions/{missing}/attendance"),
            Some(json!({ "marks": [] })),
            [401, 422, 422, 403, 422, 403],
        ),
        row(
            "POST",
            "/sessions/{id}/complete",
            format!("/sessions/{missing}/complete"),
            Some(json!({})),
            register,
        ),
        row("GET", "/completions", "/completions".into(), None, read_all),
        row(
            "POST",
            "/completions",
            "/completions".into(),
            Some(json!({ "person_id": me, "course_id": course, "completed_on": today })),
            [401, 201, 201, 201, 403, 403],
        ),
        row("GET", "/champions", "/champions".into(), None, read_all),
        row(
            "GET",
            "/programmes/{id}/pipeline",
            format!("/programmes/{programme}/pipeline"),
            None,
            read_all,
        ),
        row(
            "PUT",
            "/programmes/{id}/pipeline",
            format!("/programmes/{programme}/pipeline"),
            Some(
                json!({ "steps": [{ "code": "accredited", "kind": "accreditation", "licence_months": 12 }] }),
            ),
            manage(200),
        ),
        row(
            "GET",
            "/programmes/{id}/years",
            format!("/programmes/{programme}/years"),
            None,
            read_all,
        ),
        row(
            "GET",
            "/programmes/{id}/years/{year}",
            format!("/programmes/{programme}/years/2026"),
            None,
            read_all,
        ),
        row(
            "PUT",
            "/programmes/{id}/years/{year}",
            format!("/programmes/{programme}/years/2027"),
            Some(json!({ "champions_target": 600 })),
            manage(200),
        ),
        row(
            "GET",
            "/trainers",
            format!("/trainers?programme_id={programme}"),
            None,
            read_all,
        ),
        row(
            "GET",
            "/trainers/{person_id}",
            format!("/trainers/{me}"),
            None,
            read_all,
        ),
        row(
            "GET",
            "/trainers/{person_id}",
            format!("/trainers/{them}"),
            None,
            own_only,
        ),
        row(
            "GET",
            "/trainers/{person_id}/lineage",
            format!("/trainers/{me}/lineage?programme_id={programme}"),
            None,
            read_all,
        ),
        row(
            "GET",
            "/trainers/{person_id}/lineage",
            format!("/trainers/{them}/lineage?programme_id={programme}"),
            None,
            own_only,
        ),
        row(
            "POST",
            "/trainers/{person_id}/steps",
            format!("/trainers/{me}/steps"),
            Some(json!({ "programme_id": missing, "step": "nominated", "evidence": "e" })),
            [401, 422, 422, 403, 422, 403],
        ),
        row(
            "POST",
            "/trainers/steps",
            "/trainers/steps".into(),
            Some(
                json!({ "person_ids": [me], "step": { "programme_id": missing, "step": "nominated", "evidence": "e" } }),
            ),
            [401, 200, 200, 403, 200, 403],
        ),
        row(
            "GET",
            "/cascade-sessions",
            "/cascade-sessions".into(),
            None,
            [401, 200, 200, 403, 200, 403],
        ),
        row(
            "GET",
            "/cascade-sessions/{id}",
            format!("/cascade-sessions/{missing}"),
            None,
            register,
        ),
        row(
            "POST",
            "/cascade-sessions",
            "/cascade-sessions".into(),
            Some(cascade_body.clone()),
            [401, 422, 422, 403, 422, 403],
        ),
        row(
            "PUT",
            "/cascade-sessions/{id}",
            format!("/cascade-sessions/{missing}"),
            Some(cascade_body.clone()),
            register,
        ),
        row(
            "DELETE",
            "/cascade-sessions/{id}",
            format!("/cascade-sessions/{missing}"),
            None,
            register,
        ),
        row(
            "GET",
            "/reports/reach",
            format!("/reports/reach?programme_id={programme}"),
            None,
            [401, 200, 200, 200, 403, 403],
        ),
        row(
            "GET",
            "/sessions/{id}/calendar.ics",
            format!("/sessions/{session}/calendar.ics"),
            None,
            read_all,
        ),
        row(
            "GET",
            "/bookings/{id}/invite.ics",
            format!("/bookings/{my_booking}/invite.ics"),
            None,
            read_all,
        ),
        row(
            "GET",
            "/bookings/{id}/invite.ics",
            format!("/bookings/{their_booking}/invite.ics"),
            None,
            own_only,
        ),
        row(
            "GET",
            "/calendar-feeds",
            "/calendar-feeds".into(),
            None,
            read_all,
        ),
        row(
            "POST",
            "/calendar-feeds",
            "/calendar-feeds".into(),
            Some(json!({ "programme_id": programme })),
            [401, 201, 201, 201, 201, 201],
        ),
        row(
            "POST",
            "/calendar-feeds",
            "/calendar-feeds".into(),
            Some(json!({ "person_id": them })),
            [401, 201, 201, 404, 404, 404],
        ),
        row(
            "POST",
            "/calendar-feeds/{id}/rotate",
            format!("/calendar-feeds/{missing}/rotate"),
            Some(json!({})),
            [401, 404, 404, 404, 404, 404],
        ),
        row(
            "POST",
            "/calendar-feeds/{id}/revoke",
            format!("/calendar-feeds/{missing}/revoke"),
            Some(json!({})),
            [401, 404, 404, 404, 404, 404],
        ),
        row(
            "GET",
            "/feeds/{token}/calendar.ics",
            "/feeds/cal_unknown/calendar.ics".into(),
            None,
            [404; 6],
        ),
        row(
            "GET",
            "/certificates",
            "/certificates".into(),
            None,
            read_all,
        ),
        row(
            "GET",
            "/certificates/{id}",
            format!("/certificates/{missing}"),
            None,
            [401, 404, 404, 404, 404, 404],
        ),
        row(
            "GET",
            "/certificates/{id}/pdf",
            format!("/certificates/{missing}/pdf"),
            None,
            [401, 404, 404, 404, 404, 404],
        ),
        row(
            "POST",
            "/certificates/{id}/revoke",
            format!("/certificates/{missing}/revoke"),
            Some(json!({ "reason": "r" })),
            [401, 404, 404, 403, 403, 403],
        ),
        row(
            "POST",
            "/certificates/{id}/reissue",
            format!("/certificates/{missing}/reissue"),
            Some(json!({})),
            [401, 404, 404, 403, 403, 403],
        ),
        row(
            "GET",
            "/sessions/{id}/certificates/pdf",
            format!("/sessions/{missing}/certificates/pdf"),
            None,
            [401, 404, 404, 403, 403, 403],
        ),
        row(
            "GET",
            "/verify/{code}",
            "/verify/AAAA-BBBB-CCCC-DDDD-EEEE".into(),
            None,
            [404; 6],
        ),
        row(
            "GET",
            "/programmes/{id}/years/{year}/contributions",
            format!("/programmes/{programme}/years/2026/contributions"),
            None,
            [401, 200, 200, 200, 403, 403],
        ),
        row(
            "PUT",
            "/programmes/{id}/years/{year}/contributions/{organisation_id}",
            format!("/programmes/{programme}/years/2026/contributions/{own}"),
            Some(json!({ "amount_pence": 100 })),
            manage(200),
        ),
        row(
            "GET",
            "/programmes/{id}/years/{year}/costs",
            format!("/programmes/{programme}/years/2026/costs"),
            None,
            manage(200),
        ),
        row(
            "POST",
            "/programmes/{id}/years/{year}/costs",
            format!("/programmes/{programme}/years/2026/costs"),
            Some(json!({ "category": "other", "amount_pence": 0 })),
            manage(422),
        ),
        row(
            "DELETE",
            "/programmes/{id}/years/{year}/costs/{cost_id}",
            format!("/programmes/{programme}/years/2026/costs/{missing}"),
            None,
            manage(404),
        ),
        row(
            "GET",
            "/programmes/{id}/years/{year}/charges",
            format!("/programmes/{programme}/years/2026/charges"),
            None,
            [401, 200, 200, 200, 403, 403],
        ),
        row(
            "POST",
            "/bookings/{id}/waive-charge",
            format!("/bookings/{missing}/waive-charge"),
            Some(json!({ "reason": "r" })),
            manage(404),
        ),
        row(
            "GET",
            "/reports/partners",
            format!("/reports/partners?programme_id={programme}&year=2026"),
            None,
            [401, 200, 200, 200, 403, 403],
        ),
        row(
            "GET",
            "/reports/progress",
            format!("/reports/progress?programme_id={programme}&year=2026"),
            None,
            [401, 200, 200, 200, 403, 403],
        ),
        row(
            "GET",
            "/reports/progress/pdf",
            format!("/reports/progress/pdf?programme_id={programme}&year=2026"),
            None,
            [401, 200, 200, 200, 403, 403],
        ),
        row(
            "GET",
            "/reports/reserved-places",
            format!("/reports/reserved-places?programme_id={programme}&year=2026"),
            None,
            [401, 200, 200, 200, 403, 403],
        ),
        row(
            "POST",
            "/organisations/{id}/people/sync",
            format!("/organisations/{other}/people/sync"),
            Some(json!({ "people": [] })),
            [401, 422, 422, 403, 403, 403],
        ),
        row(
            "GET",
            "/events",
            "/events?limit=5".into(),
            None,
            [401, 200, 200, 200, 403, 403],
        ),
        row(
            "GET",
            "/webhooks",
            "/webhooks".into(),
            None,
            [401, 200, 200, 200, 403, 403],
        ),
        row(
            "POST",
            "/webhooks",
            "/webhooks".into(),
            Some(json!({ "url": "not a url", "secret": "short", "event_types": [] })),
            [401, 422, 422, 422, 403, 403],
        ),
        row(
            "GET",
            "/webhooks/{id}",
            format!("/webhooks/{coordinators_hook}"),
            None,
            [401, 200, 200, 404, 403, 403],
        ),
        row(
            "PATCH",
            "/webhooks/{id}",
            format!("/webhooks/{coordinators_hook}"),
            Some(json!({ "url": "not a url" })),
            [401, 422, 422, 404, 403, 403],
        ),
        row(
            "GET",
            "/webhooks/{id}/deliveries",
            format!("/webhooks/{coordinators_hook}/deliveries"),
            None,
            [401, 200, 200, 404, 403, 403],
        ),
        row(
            "POST",
            "/webhooks/{id}/deliveries/{delivery_id}/redeliver",
            format!("/webhooks/{coordinators_hook}/deliveries/{missing}/redeliver"),
            Some(json!({})),
            [401, 404, 404, 404, 403, 403],
        ),
        row(
            "GET",
            "/api-keys",
            "/api-keys".into(),
            None,
            admin_only(200),
        ),
        row(
            "GET",
            "/people/{id}/sign-in-role",
            format!("/people/{me}/sign-in-role"),
            None,
            admin_only(200),
        ),
        row(
            "PUT",
            "/people/{id}/sign-in-role",
            format!("/people/{me}/sign-in-role"),
            Some(json!({ "role": "none" })),
            admin_only(200),
        ),
        row(
            "GET",
            "/api-keys/{id}",
            format!("/api-keys/{spare_key}"),
            None,
            admin_only(200),
        ),
        row(
            "POST",
            "/api-keys/{id}/revoke",
            format!("/api-keys/{spare_key}/revoke"),
            Some(json!({})),
            admin_only(200),
        ),
        row(
            "GET",
            "/audit",
            "/audit".into(),
            None,
            [401, 200, 200, 403, 403, 403],
        ),
        row(
            "GET",
            "/people/{id}/export",
            format!("/people/{me}/export"),
            None,
            [401, 200, 200, 403, 200, 200],
        ),
        row(
            "GET",
            "/people/{id}/export",
            format!("/people/{them}/export"),
            None,
            [401, 200, 200, 403, 404, 404],
        ),
        row(
            "POST",
            "/people/{id}/erase",
            format!("/people/{missing}/erase"),
            Some(json!({})),
            [401, 404, 403, 403, 403, 403],
        ),
    ];
    // Creates need a fresh body per role so that a success does not turn the next into a conflict.
    for (i, role) in ROLES.iter().enumerate() {
        let mut expect_manage = [0; 6];
        let mut expect_people = [0; 6];
        let mut expect_admin = [0; 6];
        for j in 0..6 {
            expect_manage[j] = if i == j { manage(201)[j] } else { 0 };
            expect_people[j] = if i == j { people_write(201)[j] } else { 0 };
            expect_admin[j] = if i == j { admin_only(201)[j] } else { 0 };
        }
        let creates = [
            (
                "/organisations",
                json!({ "name": format!("Org by {role}"), "sector": "other" }),
                expect_manage,
            ),
            (
                "/localities",
                json!({ "name": format!("Place by {role}") }),
                expect_manage,
            ),
            (
                "/staff-groups",
                json!({ "name": format!("Group by {role}") }),
                expect_manage,
            ),
            (
                "/programmes",
                json!({ "code": format!("by-{role}"), "name": "P" }),
                expect_manage,
            ),
            (
                "/courses",
                json!({ "programme_id": programme, "code": format!("course-by-{role}"), "title": "C", "kind": "briefing",
                        "duration_minutes": 60, "cpd_hours": 1, "default_capacity": 10 }),
                expect_manage,
            ),
            (
                "/people",
                json!({ "name": "N", "email": format!("{role}@new.example"), "memberships": [{ "organisation_id": own }] }),
                expect_people,
            ),
            (
                "/api-keys",
                json!({ "name": format!("by {role}"), "role": "coordinator" }),
                expect_admin,
            ),
        ];
        for (path, body, expect) in creates {
            rows.push(Row {
                method: "POST",
                template: path,
                path: path.to_owned(),
                body: Some(body),
                expect,
            });
        }
        let mut expect_book = [0; 6];
        expect_book[i] = [401, 201, 201, 201, 201, 201][i];
        rows.push(Row {
            method: "POST",
            template: "/sessions/{id}/bookings",
            path: format!("/sessions/{}/bookings", role_sessions[i]),
            body: Some(json!({ "person_id": me })),
            expect: expect_book,
        });
        let course = app.course(programme, &format!("new-session-{role}")).await;
        let date = (app.clock.now() + chrono::Duration::days(40)).date_naive();
        rows.push(Row {
            method: "POST",
            template: "/sessions",
            path: "/sessions".into(),
            body: Some(json!({ "course_id": course, "sittings": [{ "date": date, "start": "10:00", "end": "12:00" }],
                               "venue": { "name": "Hall" } })),
            expect: expect_manage,
        });
    }

    let mut failures = Vec::new();
    for r in &rows {
        for (i, role) in ROLES.iter().enumerate() {
            if r.expect[i] == 0 {
                continue;
            }
            let reply = app
                .request(
                    r.method,
                    &format!("/api/v1{}", r.path),
                    keys[i].as_deref(),
                    r.body.clone(),
                )
                .await;
            if reply.status.as_u16() != r.expect[i] {
                failures.push(format!(
                    "{} {} as {role}: expected {}, got {} ({})",
                    r.method, r.path, r.expect[i], reply.status, reply.text
                ));
            } else if reply.status.as_u16() >= 400 {
                assert_eq!(
                    reply.content_type, "application/problem+json",
                    "{} {} as {role}",
                    r.method, r.path
                );
            }
        }
    }
    assert!(
        failures.is_empty(),
        "authorisation matrix mismatches:\n{}",
        failures.join("\n")
    );

    let doc: Value = serde_json::from_str(&cascade::openapi_json()).expect("document");
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("item")
                .keys()
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect();
    let tested: BTreeSet<(String, String)> = rows
        .iter()
        .map(|r| (r.method.to_owned(), r.template.to_owned()))
        .collect();
    let untested: Vec<_> = documented.difference(&tested).collect();
    assert!(
        untested.is_empty(),
        "operations missing from the authorisation matrix: {untested:?}"
    );
}
