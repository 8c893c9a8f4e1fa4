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

#[tokio::test]
async fn putting_a_year_again_replaces_every_figure_tariff_and_fee_included() {
    let app = TestApp::spawn().await;
    let programme = app.programme("five-to-thrive").await;
    let path = format!("/api/v1/programmes/{programme}/years/2026");
    let first = json!({ "champions_target": 600, "trainers_target": 25,
        "late_cancel_half_day_pence": 2500, "late_cancel_full_day_pence": 5000,
        "no_show_half_day_pence": 4000, "no_show_full_day_pence": 8000,
        "licence_fee_per_champion_pence": 1500 });
    app.put(&path, &app.admin, first).await.expect(200);
    let second = json!({ "champions_target": 650, "trainers_target": 30,
        "late_cancel_half_day_pence": 3000, "late_cancel_full_day_pence": 6000,
        "no_show_half_day_pence": 4500, "no_show_full_day_pence": 9000,
        "licence_fee_per_champion_pence": 1750 });
    let put = app
        .put(&path, &app.admin, second.clone())
        .await
        .expect(200)
        .body;
    let read = app.get(&path, &app.admin).await.expect(200).body;
    for (field, value) in second.as_object().into_iter().flatten() {
        assert_eq!(&put[field], value, "{field} in the answer");
        assert_eq!(&read[field], value, "{field} as stored");
    }
    // Replaced, not merged: what the second PUT leaves out is unset.
    let third = app
        .put(&path, &app.admin, json!({ "champions_target": 700 }))
        .await
        .expect(200)
        .body;
    assert!(third.get("no_show_full_day_pence").is_none(), "{third}");
}
