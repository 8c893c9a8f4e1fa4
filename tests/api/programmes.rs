use cascade_tests::{Reply, TestApp, id_of};
use entities::programmes;
use serde_json::json;

#[tokio::test]
async fn a_programme_is_created_read_changed_and_retired() {
    let app = TestApp::spawn().await;
    let created = app
        .post(
            "/api/v1/programmes",
            &app.admin,
            json!({ "code": "five-to-thrive", "name": "Five to Thrive: Attachment, Trauma and Resilience" }),
        )
        .await
        .expect(201);
    let id = id_of(&created.body);
    assert_eq!(created.body["description"], "");
    let changed = app
        .patch(
            &format!("/api/v1/programmes/{id}"),
            &app.admin,
            json!({ "description": "Champions model", "active": false }),
        )
        .await
        .expect(200);
    assert_eq!(changed.body["description"], "Champions model");
    assert_eq!(changed.body["active"], false);
    assert_eq!(changed.body["code"], "five-to-thrive");
    let listed = app
        .get("/api/v1/programmes?active=false", &app.admin)
        .await
        .expect(200);
    assert_eq!(listed.body["items"][0]["id"], id.to_string());
}

#[tokio::test]
async fn programme_codes_are_unique_and_well_formed() {
    let app = TestApp::spawn().await;
    app.programme("mecc").await;
    app.post(
        "/api/v1/programmes",
        &app.admin,
        json!({ "code": "mecc", "name": "Again" }),
    )
    .await
    .problem(409);
    for code in ["M", "MECC", "has space", "-lead", "trail-", &"x".repeat(41)] {
        let body = app
            .post(
                "/api/v1/programmes",
                &app.admin,
                json!({ "code": code, "name": "P" }),
            )
            .await
            .problem(422);
        assert_eq!(Reply::error_fields(&body), ["code"], "code {code:?}");
    }
    assert_eq!(app.count(programmes::Entity).await, 1);
}
