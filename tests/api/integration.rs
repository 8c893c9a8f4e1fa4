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
    std::thread::sleep(std::time::Duration::from_millis(5));
    let b = app.post("/api/v1/people", &app.admin, json!({ "name": "B", "email": "b@example.org", "memberships": [{ "organisation_id": org }] }))
        .await
        .expect(201)
        .body;
    let since = b["updated_at"].as_str().unwrap_or("").to_owned();
    let q = |path: &str, since: &str| format!("{path}?updated_since={}", since.replace('+', "%2B"));
    let changed = collect_all(&app, &q("/api/v1/people", &since), &app.admin, 50).await;
    assert_eq!(ids(&changed), [b["id"].as_str().unwrap_or("").to_owned()]);
    std::thread::sleep(std::time::Duration::from_millis(5));
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
        .problem(400);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or("")
            .contains("updated_since")
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
