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
async fn a_bad_path_parameter_is_a_problem_naming_the_path() {
    let app = TestApp::spawn().await;
    let body = app
        .get("/api/v1/organisations/not-a-uuid", &app.admin)
        .await
        .problem(400);
    assert_eq!(Reply::error_fields(&body), ["path"]);
}

#[tokio::test]
async fn a_bad_query_parameter_is_a_problem_naming_it() {
    let app = TestApp::spawn().await;
    let body = app
        .get("/api/v1/organisations?limit=many", &app.admin)
        .await
        .problem(400);
    assert_eq!(Reply::error_fields(&body), ["limit"]);
    let body = app
        .get("/api/v1/organisations?sector=army", &app.admin)
        .await
        .problem(400);
    assert_eq!(Reply::error_fields(&body), ["sector"]);
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
