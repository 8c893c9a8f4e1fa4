use cascade_tests::{Reply, TestApp, collect_all, id_of};
use entities::organisations;
use serde_json::{Value, json};

#[tokio::test]
async fn a_coordinator_creates_reads_updates_and_deactivates_an_organisation() {
    let app = TestApp::spawn().await;
    let created = app
        .post(
            "/api/v1/organisations",
            &app.admin,
            json!({ "name": "Wiltshire Parent Carer Council", "sector": "voluntary" }),
        )
        .await
        .expect(201);
    let id = id_of(&created.body);
    assert_eq!(
        created.headers["location"],
        format!("/api/v1/organisations/{id}")
    );
    assert_eq!(created.body["funding_partner"], false);
    assert_eq!(created.body["active"], true);

    let fetched = app
        .get(&format!("/api/v1/organisations/{id}"), &app.admin)
        .await
        .expect(200);
    assert_eq!(fetched.body["name"], "Wiltshire Parent Carer Council");
    assert_eq!(fetched.body["sector"], "voluntary");

    let updated = app
        .patch(
            &format!("/api/v1/organisations/{id}"),
            &app.admin,
            json!({ "funding_partner": true }),
        )
        .await
        .expect(200);
    assert_eq!(updated.body["funding_partner"], true);
    assert_eq!(
        updated.body["name"], "Wiltshire Parent Carer Council",
        "unsent fields stay"
    );

    let deactivated = app
        .patch(
            &format!("/api/v1/organisations/{id}"),
            &app.admin,
            json!({ "active": false }),
        )
        .await
        .expect(200);
    assert_eq!(deactivated.body["active"], false);
    app.get(&format!("/api/v1/organisations/{id}"), &app.admin)
        .await
        .expect(200);
}

#[tokio::test]
async fn a_second_organisation_with_the_same_name_is_a_conflict() {
    let app = TestApp::spawn().await;
    app.organisation("Wiltshire Police", "police").await;
    app.post(
        "/api/v1/organisations",
        &app.admin,
        json!({ "name": " Wiltshire Police ", "sector": "police" }),
    )
    .await
    .problem(409);
    assert_eq!(app.count(organisations::Entity).await, 1);
}

#[tokio::test]
async fn renaming_onto_another_organisations_name_is_a_conflict() {
    let app = TestApp::spawn().await;
    app.organisation("Wiltshire Police", "police").await;
    let other = app.organisation("Wiltshire Council", "council").await;
    app.patch(
        &format!("/api/v1/organisations/{other}"),
        &app.admin,
        json!({ "name": "Wiltshire Police" }),
    )
    .await
    .problem(409);
    let unchanged = app
        .get(&format!("/api/v1/organisations/{other}"), &app.admin)
        .await
        .expect(200);
    assert_eq!(unchanged.body["name"], "Wiltshire Council");
}

#[tokio::test]
async fn invalid_organisations_are_refused_with_every_field_named_and_nothing_written() {
    let app = TestApp::spawn().await;
    let cases: &[(&str, Value, u16, &[&str])] = &[
        (
            "blank name",
            json!({ "name": "   ", "sector": "council" }),
            422,
            &["name"],
        ),
        (
            "name too long",
            json!({ "name": "x".repeat(201), "sector": "council" }),
            422,
            &["name"],
        ),
        (
            "control character",
            json!({ "name": "Bad\u{7}Name", "sector": "council" }),
            422,
            &["name"],
        ),
        (
            "unknown sector",
            json!({ "name": "Army", "sector": "army" }),
            422,
            &["sector"],
        ),
        (
            "missing sector",
            json!({ "name": "No sector" }),
            422,
            &["sector"],
        ),
        (
            "unknown field",
            json!({ "name": "X", "sector": "council", "motto": "hi" }),
            400,
            &["motto"],
        ),
        (
            "name is an object",
            json!({ "name": { "en": "X" }, "sector": "council" }),
            422,
            &["name"],
        ),
    ];
    for (reason, body, status, fields) in cases {
        let reply = app
            .post("/api/v1/organisations", &app.admin, body.clone())
            .await;
        assert_eq!(reply.status.as_u16(), *status, "{reason}: {}", reply.text);
        let problem = reply.problem(*status);
        assert_eq!(Reply::error_fields(&problem), *fields, "{reason}");
    }
    assert_eq!(app.count(organisations::Entity).await, 0);
}

#[tokio::test]
async fn an_invalid_update_changes_nothing() {
    let app = TestApp::spawn().await;
    let id = app.organisation("Wiltshire Council", "council").await;
    app.patch(
        &format!("/api/v1/organisations/{id}"),
        &app.admin,
        json!({ "name": "", "funding_partner": true }),
    )
    .await
    .problem(422);
    let unchanged = app
        .get(&format!("/api/v1/organisations/{id}"), &app.admin)
        .await
        .expect(200);
    assert_eq!(unchanged.body["funding_partner"], false);
}

#[tokio::test]
async fn an_unknown_organisation_is_not_found() {
    let app = TestApp::spawn().await;
    let missing = uuid::Uuid::now_v7();
    app.get(&format!("/api/v1/organisations/{missing}"), &app.admin)
        .await
        .problem(404);
    app.patch(
        &format!("/api/v1/organisations/{missing}"),
        &app.admin,
        json!({ "active": false }),
    )
    .await
    .problem(404);
}

#[tokio::test]
async fn the_list_pages_through_every_organisation_once_in_creation_order() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(
            app.organisation(&format!("School {i}"), "school")
                .await
                .to_string(),
        );
    }
    let items = collect_all(&app, "/api/v1/organisations", &app.admin, 3).await;
    let listed: Vec<String> = items
        .iter()
        .map(|o| o["id"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(listed, ids);
    let first = app
        .get("/api/v1/organisations?limit=7", &app.admin)
        .await
        .expect(200);
    assert!(
        first.body.get("next_cursor").is_none(),
        "an exact last page has no next cursor"
    );
}

#[tokio::test]
async fn the_list_filters_by_sector_funding_and_active() {
    let app = TestApp::spawn().await;
    let council = app.organisation("Council", "council").await;
    let charity = app.organisation("Charity", "voluntary").await;
    app.patch(
        &format!("/api/v1/organisations/{council}"),
        &app.admin,
        json!({ "funding_partner": true }),
    )
    .await
    .expect(200);
    app.patch(
        &format!("/api/v1/organisations/{charity}"),
        &app.admin,
        json!({ "active": false }),
    )
    .await
    .expect(200);
    let names = |body: Value| -> Vec<String> {
        body["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|o| o["name"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    let by_sector = app
        .get("/api/v1/organisations?sector=voluntary", &app.admin)
        .await
        .expect(200);
    assert_eq!(names(by_sector.body), ["Charity"]);
    let funders = app
        .get("/api/v1/organisations?funding_partner=true", &app.admin)
        .await
        .expect(200);
    assert_eq!(names(funders.body), ["Council"]);
    let active = app
        .get("/api/v1/organisations?active=true", &app.admin)
        .await
        .expect(200);
    assert_eq!(names(active.body), ["Council"]);
}

#[tokio::test]
async fn page_size_and_cursor_are_validated() {
    let app = TestApp::spawn().await;
    for url in [
        "/api/v1/organisations?limit=0",
        "/api/v1/organisations?limit=201",
    ] {
        let body = app.get(url, &app.admin).await.problem(422);
        assert_eq!(Reply::error_fields(&body), ["limit"]);
    }
    let body = app
        .get("/api/v1/organisations?cursor=not-a-cursor", &app.admin)
        .await
        .problem(422);
    assert_eq!(Reply::error_fields(&body), ["cursor"]);
}
