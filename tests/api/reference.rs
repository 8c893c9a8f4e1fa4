use cascade_tests::{Reply, TestApp, collect_all, id_of};
use entities::{localities, staff_groups};
use serde_json::json;

#[tokio::test]
async fn localities_and_staff_groups_are_maintained_as_lists() {
    let app = TestApp::spawn().await;
    for list in ["localities", "staff-groups"] {
        let created = app
            .post(
                &format!("/api/v1/{list}"),
                &app.admin,
                json!({ "name": "Westbury" }),
            )
            .await
            .expect(201);
        let id = id_of(&created.body);
        assert_eq!(created.headers["location"], format!("/api/v1/{list}/{id}"));
        app.post(
            &format!("/api/v1/{list}"),
            &app.admin,
            json!({ "name": "Westbury" }),
        )
        .await
        .problem(409);
        let renamed = app
            .patch(
                &format!("/api/v1/{list}/{id}"),
                &app.admin,
                json!({ "name": "Warminster", "active": false }),
            )
            .await
            .expect(200);
        assert_eq!(renamed.body["name"], "Warminster");
        assert_eq!(renamed.body["active"], false);
        let fetched = app
            .get(&format!("/api/v1/{list}/{id}"), &app.admin)
            .await
            .expect(200);
        assert_eq!(fetched.body["name"], "Warminster");
        let retired = app
            .get(&format!("/api/v1/{list}?active=false"), &app.admin)
            .await
            .expect(200);
        assert_eq!(retired.body["items"].as_array().map(Vec::len), Some(1));
        let current = app
            .get(&format!("/api/v1/{list}?active=true"), &app.admin)
            .await
            .expect(200);
        assert_eq!(current.body["items"].as_array().map(Vec::len), Some(0));
        app.get(
            &format!("/api/v1/{list}/{}", uuid::Uuid::now_v7()),
            &app.admin,
        )
        .await
        .problem(404);
    }
}

#[tokio::test]
async fn the_two_lists_are_separate() {
    let app = TestApp::spawn().await;
    app.reference("localities", "Calne").await;
    app.reference("staff-groups", "Calne").await;
    assert_eq!(app.count(localities::Entity).await, 1);
    assert_eq!(app.count(staff_groups::Entity).await, 1);
}

#[tokio::test]
async fn blank_or_overlong_names_are_refused_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    for name in ["", "  ", &"y".repeat(101)] {
        let body = app
            .post("/api/v1/localities", &app.admin, json!({ "name": name }))
            .await
            .problem(422);
        assert_eq!(Reply::error_fields(&body), ["name"]);
    }
    assert_eq!(app.count(localities::Entity).await, 0);
}

#[tokio::test]
async fn reference_lists_paginate() {
    let app = TestApp::spawn().await;
    for i in 0..5 {
        app.reference("staff-groups", &format!("Group {i}")).await;
    }
    let all = collect_all(&app, "/api/v1/staff-groups", &app.admin, 2).await;
    assert_eq!(all.len(), 5);
}
