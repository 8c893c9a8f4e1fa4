//! Every non-2xx answer is application/problem+json, whoever raised it.

use cascade_tests::{Reply, TestApp};
use entities::organisations;
use serde_json::json;

#[tokio::test]
async fn malformed_json_is_a_problem_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let body = app
        .raw(
            "POST",
            "/api/v1/organisations",
            "application/json",
            br#"{"name": "Half"#.to_vec(),
        )
        .await
        .problem(400);
    assert_eq!(Reply::error_fields(&body), ["body"]);
    assert_eq!(app.count(organisations::Entity).await, 0);
}

#[tokio::test]
async fn a_wrong_content_type_is_a_problem() {
    let app = TestApp::spawn().await;
    app.raw(
        "POST",
        "/api/v1/organisations",
        "text/plain",
        b"name=x".to_vec(),
    )
    .await
    .problem(415);
    assert_eq!(app.count(organisations::Entity).await, 0);
}

#[tokio::test]
async fn an_unknown_field_is_named_in_the_problem() {
    let app = TestApp::spawn().await;
    let body = app
        .post(
            "/api/v1/organisations",
            &app.admin,
            json!({ "name": "X", "sector": "council", "colour": "red" }),
        )
        .await
        .problem(400);
    assert_eq!(Reply::error_fields(&body), ["colour"]);
    assert_eq!(app.count(organisations::Entity).await, 0);
}

#[tokio::test]
async fn an_unknown_route_is_a_problem() {
    let app = TestApp::spawn().await;
    app.get("/api/v1/no-such-thing", &app.admin)
        .await
        .problem(404);
    app.get("/nowhere", &app.admin).await.problem(404);
}

#[tokio::test]
async fn a_wrong_method_is_a_problem() {
    let app = TestApp::spawn().await;
    app.request("DELETE", "/api/v1/organisations", Some(&app.admin), None)
        .await
        .problem(405);
}

#[tokio::test]
async fn a_bad_path_parameter_is_a_problem_naming_the_parameter() {
    let app = TestApp::spawn().await;
    let body = app
        .get("/api/v1/organisations/not-a-uuid", &app.admin)
        .await
        .problem(422);
    assert_eq!(
        Reply::error_fields(&body),
        ["id"],
        "its documented name, never param0"
    );
    assert_eq!(body["errors"][0]["message"], "must be a UUID");
}

#[tokio::test]
async fn a_bad_query_parameter_is_a_problem_naming_it() {
    let app = TestApp::spawn().await;
    let body = app
        .get("/api/v1/organisations?limit=many", &app.admin)
        .await
        .problem(422);
    assert_eq!(Reply::error_fields(&body), ["limit"]);
    assert_eq!(body["errors"][0]["message"], "must be a whole number");
    let body = app
        .get("/api/v1/organisations?sector=army", &app.admin)
        .await
        .problem(422);
    assert_eq!(Reply::error_fields(&body), ["sector"]);
    assert_eq!(
        body["errors"][0]["message"],
        "must be one of council, health, police, school, voluntary, other",
        "an enumeration lists what it allows"
    );
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_refused_with_413_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let name = "a".repeat(1024 * 1024 + 10);
    let body = serde_json::to_vec(&json!({ "name": name, "sector": "council" })).expect("json");
    app.raw("POST", "/api/v1/organisations", "application/json", body)
        .await
        .problem(413);
    assert_eq!(app.count(organisations::Entity).await, 0);
}

#[tokio::test]
async fn a_missing_key_is_a_problem() {
    let app = TestApp::spawn().await;
    app.request("GET", "/api/v1/organisations", None, None)
        .await
        .problem(401);
}

#[tokio::test]
async fn an_unknown_key_is_a_problem() {
    let app = TestApp::spawn().await;
    app.get("/api/v1/organisations", "cas_not-a-real-key")
        .await
        .problem(401);
    app.get("/api/v1/organisations", "something else")
        .await
        .problem(401);
}

#[tokio::test]
async fn a_missing_key_is_refused_before_a_malformed_body_is_read() {
    let app = TestApp::spawn().await;
    let reply = app
        .client
        .post("/api/v1/organisations")
        .content_type("application/json")
        .body("{")
        .send()
        .await;
    reply.assert_status(poem::http::StatusCode::UNAUTHORIZED);
    reply.assert_content_type("application/problem+json");
}

#[tokio::test]
async fn health_and_readiness_answer_without_a_key() {
    let app = TestApp::spawn().await;
    let health = app.request("GET", "/healthz", None, None).await.expect(200);
    assert_eq!(health.body["status"], "ok");
    let ready = app.request("GET", "/readyz", None, None).await.expect(200);
    assert_eq!(ready.body["status"], "ready");
}

/// Text every database stores alike: control characters, bidi overrides and absurd dates are
/// refused with a 422 naming the field, in bodies, query filters, staff sync and SCIM alike, and
/// nothing is written. (NUL used to be a 500 on PostgreSQL and stored on SQLite.)
#[tokio::test]
async fn control_characters_bidi_overrides_and_absurd_dates_are_refused_everywhere() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Wiltshire Council", "council").await;
    let person = app.person("Zoë", "zoe@example.org", org, "Z-1").await;
    let programme = app.programme("mecc").await;
    let course = app.course(programme, "mecc-skills").await;
    let before = app.count(organisations::Entity).await;
    // (method, path, body, the field the problem must name, why)
    let cases: Vec<(&str, String, Option<serde_json::Value>, &str, &str)> = vec![
        (
            "POST",
            "/api/v1/organisations".into(),
            Some(json!({ "name": "Council\u{0}", "sector": "council" })),
            "name",
            "NUL",
        ),
        (
            "POST",
            "/api/v1/organisations".into(),
            Some(json!({ "name": "Council\u{1b}[31m", "sector": "council" })),
            "name",
            "an escape (C0)",
        ),
        (
            "POST",
            "/api/v1/organisations".into(),
            Some(json!({ "name": "Council\u{85}", "sector": "council" })),
            "name",
            "C1 next line",
        ),
        (
            "POST",
            "/api/v1/people".into(),
            Some(
                json!({ "name": "Zo\u{202e}ë", "email": "x@example.org", "memberships": [{ "organisation_id": org }] }),
            ),
            "name",
            "a right-to-left override",
        ),
        (
            "POST",
            "/api/v1/people".into(),
            Some(
                json!({ "name": "Ok", "email": "y@example.org", "memberships": [{ "organisation_id": org, "external_id": "E\u{2066}1" }] }),
            ),
            "memberships[0].external_id",
            "an isolate",
        ),
        (
            "PATCH",
            format!("/api/v1/people/{person}"),
            Some(json!({ "name": "Zo\u{7f}ë" })),
            "name",
            "DEL",
        ),
        (
            "GET",
            "/api/v1/people?email=zoe%00@example.org".into(),
            None,
            "email",
            "NUL in a filter",
        ),
        (
            "GET",
            "/api/v1/sessions?from=1066-10-14".into(),
            None,
            "from",
            "a date before 1900",
        ),
        (
            "POST",
            "/api/v1/completions".into(),
            Some(json!({ "person_id": person, "course_id": course, "completed_on": "0001-01-01" })),
            "completed_on",
            "year 1",
        ),
        (
            "POST",
            format!("/api/v1/organisations/{org}/people/sync"),
            Some(
                json!({ "people": [{ "external_id": "S\u{0}1", "name": "Sync", "email": "s@example.org" }] }),
            ),
            "people[0].external_id",
            "NUL in a sync row",
        ),
    ];
    for (method, path, body, field, why) in cases {
        let reply = app.request(method, &path, Some(&app.admin), body).await;
        assert_eq!(reply.status.as_u16(), 422, "{why}: {}", reply.text);
        assert_eq!(reply.content_type, "application/problem+json", "{why}");
        assert_eq!(
            Reply::error_fields(&reply.body),
            [field],
            "{why}: {}",
            reply.text
        );
    }
    assert_eq!(app.count(organisations::Entity).await, before);
    assert_eq!(app.count(entities::people::Entity).await, 1);

    // SCIM answers in its own format.
    let partner = app
        .key(cascade::domain::api_keys::KeyRole::Partner, Some(org), None)
        .await;
    let scim = app
        .request(
            "POST",
            "/scim/v2/Users",
            Some(&partner),
            Some(json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                         "userName": "n@example.org", "externalId": "N-1", "displayName": "N\u{0}" })),
        )
        .await;
    assert_eq!(scim.status.as_u16(), 400, "{}", scim.text);
    assert_eq!(scim.body["scimType"], "invalidValue");
    assert!(scim.text.contains("displayName"), "{}", scim.text);

    // A number where a string is documented is refused too, naming the field.
    let reply = app
        .request(
            "POST",
            "/api/v1/organisations",
            Some(&app.admin),
            Some(json!({ "name": 42, "sector": "council" })),
        )
        .await;
    assert!(reply.status.is_client_error(), "{}", reply.text);
    assert!(reply.text.contains("name"), "{}", reply.text);
    assert_eq!(app.count(organisations::Entity).await, before);

    // Tabs and new lines stay allowed where text may span lines, and any script in names.
    app.patch(
        &format!("/api/v1/people/{person}"),
        &app.admin,
        json!({ "name": "زهرة ‏Łukasiewicz" }),
    )
    .await
    .expect(200);
}

#[tokio::test]
async fn a_refused_read_does_not_claim_to_have_written_nothing_but_a_refused_write_does() {
    let app = TestApp::spawn().await;
    let read = app
        .get("/api/v1/sessions?from=1066-10-14", &app.admin)
        .await
        .problem(422);
    let detail = read["detail"].as_str().unwrap_or("");
    assert!(!detail.contains("written"), "{detail}");
    assert_eq!(detail, "The request has 1 invalid field.");
    let write = app
        .post(
            "/api/v1/organisations",
            &app.admin,
            json!({ "name": "", "sector": "council" }),
        )
        .await
        .problem(422);
    assert!(
        write["detail"]
            .as_str()
            .unwrap_or("")
            .ends_with("nothing was written."),
        "{write}"
    );
}
