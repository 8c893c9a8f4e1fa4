//! What partner systems rely on to stay in step: polling with `updated_since`, and a request
//! rate per API key.

use cascade::domain::api_keys::KeyRole;
use cascade_tests::{TestApp, collect_all, id_of};
use chrono::Duration;
use serde_json::{Value, json};

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["id"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[tokio::test]
async fn lists_partner_systems_poll_return_only_what_changed_since_their_last_sync() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Council", "council").await;
    let a = app.person("A", "a@example.org", org, "A").await;
    app.clock.advance(Duration::seconds(1));
    let b = app.post("/api/v1/people", &app.admin, json!({ "name": "B", "email": "b@example.org", "memberships": [{ "organisation_id": org }] }))
        .await
        .expect(201)
        .body;
    let since = b["updated_at"].as_str().unwrap_or("").to_owned();
    let q = |path: &str, since: &str| format!("{path}?updated_since={}", since.replace('+', "%2B"));
    let changed = collect_all(&app, &q("/api/v1/people", &since), &app.admin, 50).await;
    assert_eq!(ids(&changed), [b["id"].as_str().unwrap_or("").to_owned()]);
    app.clock.advance(Duration::seconds(1));
    app.patch(
        &format!("/api/v1/people/{a}"),
        &app.admin,
        json!({ "name": "A2" }),
    )
    .await
    .expect(200);
    let changed = collect_all(&app, &q("/api/v1/people", &since), &app.admin, 50).await;
    assert_eq!(changed.len(), 2);

    let programme = app.programme("mecc").await;
    let course = app.course(programme, "mecc-skills").await;
    let session = id_of(&app.session(course, 20, 10).await);
    let first = app.book(session, a, &app.admin).await.expect(201).body;
    app.clock.advance(Duration::minutes(5));
    let second = app
        .book(session, id_of(&b), &app.admin)
        .await
        .expect(201)
        .body;
    let since = second["updated_at"].as_str().unwrap_or("").to_owned();
    let recent = collect_all(
        &app,
        &q(&format!("/api/v1/sessions/{session}/bookings"), &since),
        &app.admin,
        50,
    )
    .await;
    assert_eq!(
        ids(&recent),
        [second["id"].as_str().unwrap_or("").to_owned()]
    );
    app.clock.advance(Duration::minutes(5));
    app.post(
        &format!("/api/v1/bookings/{}/cancel", id_of(&first)),
        &app.admin,
        json!({}),
    )
    .await
    .expect(200);
    let recent = collect_all(
        &app,
        &q(&format!("/api/v1/people/{a}/bookings"), &since),
        &app.admin,
        50,
    )
    .await;
    assert_eq!(
        ids(&recent),
        [first["id"].as_str().unwrap_or("").to_owned()],
        "the cancellation is a change"
    );
    let problem = app
        .get("/api/v1/people?updated_since=yesterday", &app.admin)
        .await
        .problem(422);
    assert_eq!(problem["errors"][0]["field"], "updated_since");
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("RFC 3339")
    );
}

#[tokio::test]
async fn each_api_key_is_limited_to_its_requests_per_minute() {
    let app = TestApp::spawn_with(|c| c.key_requests_per_minute = 5).await;
    let busy = app.key(KeyRole::Coordinator, None, None).await;
    for _ in 0..5 {
        app.get("/api/v1/organisations", &busy).await.expect(200);
    }
    let limited = app.get("/api/v1/organisations", &busy).await;
    let retry = limited
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    assert!(
        retry.is_some_and(|s| (1..=60).contains(&s)),
        "Retry-After: {retry:?}"
    );
    let problem = limited.problem(429);
    assert!(
        problem["type"]
            .as_str()
            .unwrap_or("")
            .ends_with("/too-many-requests")
    );
    let other = app.key(KeyRole::Coordinator, None, None).await;
    app.get("/api/v1/organisations", &other).await.expect(200);
}

fn etag(reply: &cascade_tests::Reply) -> String {
    reply
        .headers
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

#[tokio::test]
async fn an_update_made_on_a_stale_read_is_refused_with_412() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Council", "council").await;
    let person = app
        .person("Zoë Ashworth", "zoe@example.org", org, "1")
        .await;
    let path = format!("/api/v1/people/{person}");

    let read = app.get(&path, &app.admin).await.expect(200);
    let tag = etag(&read);
    assert!(tag.starts_with('"') && tag.len() > 10, "{tag:?}");
    let unchanged = app
        .request_with(
            "GET",
            &path,
            Some(&app.admin),
            &[("If-None-Match", &tag)],
            None,
        )
        .await;
    assert_eq!(unchanged.status, 304);
    assert_eq!(etag(&unchanged), tag);
    assert!(unchanged.bytes.is_empty());

    // The first update on that read succeeds and answers the new tag; the second, made on the
    // same (now stale) read, is refused and changes nothing.
    let first = app
        .request_with(
            "PATCH",
            &path,
            Some(&app.admin),
            &[("If-Match", &tag)],
            Some(json!({ "name": "Zoë Ashworth-Khan" })),
        )
        .await
        .expect(200);
    let new_tag = etag(&first);
    assert_ne!(new_tag, tag);
    assert_eq!(etag(&app.get(&path, &app.admin).await.expect(200)), new_tag);
    let stale = app
        .request_with(
            "PATCH",
            &path,
            Some(&app.admin),
            &[("If-Match", &tag)],
            Some(json!({ "name": "Zoe Ashworth" })),
        )
        .await;
    // Tags are "<version>-<digest>"; the refusal carries the current version's tag, which an
    // update can send as its If-Match.
    let version = |tag: &str| {
        tag.trim_matches('"')
            .split('-')
            .next()
            .unwrap_or("")
            .to_owned()
    };
    let current = etag(&stale);
    assert!(!version(&new_tag).is_empty(), "{new_tag}");
    assert_eq!(
        version(&current),
        version(&new_tag),
        "the refusal names the current version"
    );
    let problem = stale.problem(412);
    assert_eq!(cascade_tests::Reply::error_fields(&problem), ["If-Match"]);
    let now = app.get(&path, &app.admin).await.expect(200).body;
    assert_eq!(now["name"], "Zoë Ashworth-Khan");
    app.request_with(
        "PATCH",
        &path,
        Some(&app.admin),
        &[("If-Match", &current)],
        Some(json!({ "name": "Zoë Ashworth-Khan" })),
    )
    .await
    .expect(200);

    // `*` matches whatever exists; no If-Match is an unconditional update; a missing resource
    // is still 404; a weak tag never matches.
    app.request_with(
        "PATCH",
        &path,
        Some(&app.admin),
        &[("If-Match", "*")],
        Some(json!({ "name": "Zoë A" })),
    )
    .await
    .expect(200);
    let weak = format!("W/{}", etag(&app.get(&path, &app.admin).await));
    app.request_with(
        "PATCH",
        &path,
        Some(&app.admin),
        &[("If-Match", &weak)],
        Some(json!({ "name": "Z" })),
    )
    .await
    .problem(412);
    app.request_with(
        "PATCH",
        &format!("/api/v1/people/{}", uuid::Uuid::now_v7()),
        Some(&app.admin),
        &[("If-Match", &tag)],
        Some(json!({ "name": "Nobody" })),
    )
    .await
    .problem(404);
    // A membership has no address of its own to read, so there is no tag to match.
    app.request_with(
        "PUT",
        &format!("{path}/memberships/{org}"),
        Some(&app.admin),
        &[("If-Match", &tag)],
        Some(json!({})),
    )
    .await
    .problem(412);

    // Other resources too: an organisation.
    let org_path = format!("/api/v1/organisations/{org}");
    let org_tag = etag(&app.get(&org_path, &app.admin).await.expect(200));
    app.patch(
        &org_path,
        &app.admin,
        json!({ "name": "Wiltshire Council" }),
    )
    .await
    .expect(200);
    app.request_with(
        "PATCH",
        &org_path,
        Some(&app.admin),
        &[("If-Match", &org_tag)],
        Some(json!({ "name": "Swindon" })),
    )
    .await
    .problem(412);
}

#[tokio::test]
async fn two_servers_with_their_own_pools_updating_on_the_same_read_let_exactly_one_win() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Council", "council").await;
    let person = app
        .person("Aoife Ní Bhriain", "aoife@example.org", org, "1")
        .await;
    let path = format!("/api/v1/people/{person}");
    let tag = etag(&app.get(&path, &app.admin).await.expect(200));
    let (one, two) = (app.serve_replica().await, app.serve_replica().await);
    let headers = [("If-Match", tag.as_str())];
    let (body_one, body_two) = (
        json!({ "name": "Aoife One" }),
        json!({ "name": "Aoife Two" }),
    );
    let ((a, _), (b, _)) = tokio::join!(
        cascade_tests::http_with(&one, "PATCH", &path, &app.admin, &headers, &body_one),
        cascade_tests::http_with(&two, "PATCH", &path, &app.admin, &headers, &body_two),
    );
    let mut statuses = [a, b];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 412]);
}

#[tokio::test]
async fn a_precondition_that_is_not_ascii_is_refused_never_ignored() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Council", "council").await;
    let path = format!("/api/v1/organisations/{org}");
    for (name, method) in [("If-Match", "PATCH"), ("If-None-Match", "GET")] {
        let mut req = match method {
            "PATCH" => app.client.patch(&path),
            _ => app.client.get(&path),
        };
        req = req
            .header("Authorization", format!("Bearer {}", app.admin))
            .header(
                name,
                poem::http::HeaderValue::from_bytes("\"é-tag\"".as_bytes()).expect("header"),
            );
        if method == "PATCH" {
            req = req.body_json(&json!({ "name": "Renamed" }));
        }
        let resp = req.send().await;
        resp.assert_status(poem::http::StatusCode::BAD_REQUEST);
        let body: Value = resp.json().await.value().deserialize();
        assert_eq!(body["errors"][0]["field"], name, "{body}");
    }
    let read = app.get(&path, &app.admin).await.expect(200);
    assert_eq!(read.body["name"], "Council", "nothing was written");
}

/// Every resource a PATCH or PUT changes claims the version its If-Match names: the update made
/// on a read succeeds and answers a new tag; a second update made on the same read is refused.
#[tokio::test]
async fn every_update_claims_the_version_it_read_and_parts_raise_their_owners_version() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Council", "council").await;
    let person = app
        .person("Siobhán Ó Briain", "siobhan@example.org", org, "1")
        .await;
    let programme = app.programme("mecc").await;
    let course = app.course(programme, "mecc-skills").await;
    let session = id_of(&app.session(course, 20, 10).await);
    let locality = id_of(
        &app.post("/api/v1/localities", &app.admin, json!({ "name": "Calne" }))
            .await
            .expect(201)
            .body,
    );
    let group = id_of(
        &app.post(
            "/api/v1/staff-groups",
            &app.admin,
            json!({ "name": "Early years" }),
        )
        .await
        .expect(201)
        .body,
    );
    let year = cascade::domain::trainers::steps::financial_year(
        cascade::domain::sessions::london_today(app.clock.now()),
    );
    app.put(
        &format!("/api/v1/programmes/{programme}/years/{year}"),
        &app.admin,
        json!({ "champions_target": 600 }),
    )
    .await
    .expect(200);
    let cases: Vec<(&str, String, Value, Value)> = vec![
        (
            "PATCH",
            format!("/api/v1/organisations/{org}"),
            json!({ "name": "Wiltshire Council" }),
            json!({ "name": "Swindon Council" }),
        ),
        (
            "PATCH",
            format!("/api/v1/people/{person}"),
            json!({ "name": "Siobhán Ní Bhriain" }),
            json!({ "name": "Siobhan" }),
        ),
        (
            "PATCH",
            format!("/api/v1/localities/{locality}"),
            json!({ "name": "Calne Without" }),
            json!({ "name": "Chippenham" }),
        ),
        (
            "PATCH",
            format!("/api/v1/staff-groups/{group}"),
            json!({ "name": "Early years practitioners" }),
            json!({ "name": "Nursery" }),
        ),
        (
            "PATCH",
            format!("/api/v1/programmes/{programme}"),
            json!({ "name": "Making Every Contact Count" }),
            json!({ "name": "MECC" }),
        ),
        (
            "PUT",
            format!("/api/v1/programmes/{programme}/years/{year}"),
            json!({ "champions_target": 650 }),
            json!({ "champions_target": 700 }),
        ),
        (
            "PATCH",
            format!("/api/v1/courses/{course}"),
            json!({ "title": "MECC skills" }),
            json!({ "title": "MECC skills day" }),
        ),
        (
            "PATCH",
            format!("/api/v1/sessions/{session}"),
            json!({ "capacity": 12 }),
            json!({ "capacity": 14 }),
        ),
    ];
    for (method, path, first, second) in cases {
        let tag = etag(&app.get(&path, &app.admin).await.expect(200));
        let done = app
            .request_with(
                method,
                &path,
                Some(&app.admin),
                &[("If-Match", &tag)],
                Some(first),
            )
            .await
            .expect(200);
        let new_tag = etag(&done);
        assert_ne!(new_tag, tag, "{path}");
        assert_eq!(
            etag(&app.get(&path, &app.admin).await.expect(200)),
            new_tag,
            "{path}: the update answers the tag a read then gives"
        );
        app.request_with(
            method,
            &path,
            Some(&app.admin),
            &[("If-Match", &tag)],
            Some(second),
        )
        .await
        .problem(412);
    }

    // Parts raise their owner's version: a membership changes the person's tag, a booking the
    // session's, so an update made before them is refused.
    let person_path = format!("/api/v1/people/{person}");
    let before = etag(&app.get(&person_path, &app.admin).await.expect(200));
    let other = app.organisation("Wiltshire Police", "police").await;
    app.put(
        &format!("{person_path}/memberships/{other}"),
        &app.admin,
        json!({ "external_id": "P-9" }),
    )
    .await
    .expect(200);
    assert_ne!(etag(&app.get(&person_path, &app.admin).await), before);
    app.request_with(
        "PATCH",
        &person_path,
        Some(&app.admin),
        &[("If-Match", &before)],
        Some(json!({ "name": "Someone else" })),
    )
    .await
    .problem(412);

    let session_path = format!("/api/v1/sessions/{session}");
    let before = etag(&app.get(&session_path, &app.admin).await.expect(200));
    app.book(session, person, &app.admin).await.expect(201);
    let after = app.get(&session_path, &app.admin).await.expect(200);
    assert_ne!(etag(&after), before);
    assert_eq!(after.body["availability"]["confirmed"], 1);
    app.request_with(
        "PATCH",
        &session_path,
        Some(&app.admin),
        &[("If-Match", &before)],
        Some(json!({ "capacity": 16 })),
    )
    .await
    .problem(412);
    // The register is the session's: its tag names the session's version. A request that would
    // be refused anyway gets that refusal, not 412 (RFC 9110 §13.2.2).
    let register = format!("{session_path}/attendance");
    let version = |tag: &str| {
        tag.trim_matches('"')
            .split('-')
            .next()
            .unwrap_or("")
            .to_owned()
    };
    let register_tag = etag(&app.get(&register, &app.admin).await.expect(200));
    let session_tag = etag(&app.get(&session_path, &app.admin).await.expect(200));
    assert_eq!(version(&register_tag), version(&session_tag));
    app.request_with(
        "PUT",
        &register,
        Some(&app.admin),
        &[("If-Match", "\"1-stale\"")],
        Some(json!({ "marks": [] })),
    )
    .await
    .problem(422);
}
