use cascade::domain::api_keys::KeyRole;
use cascade_tests::{Reply, TestApp, id_of};
use entities::api_keys;
use serde_json::{Value, json};

#[tokio::test]
async fn an_admin_creates_a_key_whose_secret_is_shown_once_and_works() {
    let app = TestApp::spawn().await;
    let created = app
        .post(
            "/api/v1/api-keys",
            &app.admin,
            json!({ "name": "Board reporting", "role": "coordinator" }),
        )
        .await
        .expect(201);
    let secret = created.body["secret"].as_str().expect("secret").to_owned();
    assert!(
        secret.starts_with("cas_") && secret.len() >= 40,
        "secret {secret}"
    );
    assert!(secret.starts_with(created.body["prefix"].as_str().expect("prefix")));
    let id = id_of(&created.body);
    app.get("/api/v1/organisations", &secret).await.expect(200);

    let fetched = app
        .get(&format!("/api/v1/api-keys/{id}"), &app.admin)
        .await
        .expect(200);
    assert!(
        fetched.body.get("secret").is_none(),
        "the secret is never shown again"
    );
    let listed = app
        .get("/api/v1/api-keys?role=coordinator", &app.admin)
        .await
        .expect(200);
    assert!(!listed.text.contains(&secret));
    assert_eq!(listed.body["items"].as_array().map(Vec::len), Some(1));

    let rows = <api_keys::Entity as sea_orm::EntityTrait>::find()
        .all(&app.db)
        .await
        .expect("rows");
    assert!(
        rows.iter().all(|k| !k.token_hash.contains(&secret[4..])),
        "only a hash is stored"
    );
}

#[tokio::test]
async fn a_revoked_key_is_refused() {
    let app = TestApp::spawn().await;
    let created = app
        .post(
            "/api/v1/api-keys",
            &app.admin,
            json!({ "name": "Old", "role": "admin" }),
        )
        .await
        .expect(201);
    let secret = created.body["secret"].as_str().expect("secret").to_owned();
    let id = id_of(&created.body);
    let revoked = app
        .post(
            &format!("/api/v1/api-keys/{id}/revoke"),
            &app.admin,
            json!({}),
        )
        .await
        .expect(200);
    let when = revoked.body["revoked_at"].clone();
    assert!(when.is_string());
    app.get("/api/v1/organisations", &secret).await.problem(401);
    let again = app
        .post(
            &format!("/api/v1/api-keys/{id}/revoke"),
            &app.admin,
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(
        again.body["revoked_at"], when,
        "revoking twice keeps the first time"
    );
    let live = app
        .get("/api/v1/api-keys?revoked=false", &app.admin)
        .await
        .expect(200);
    assert_eq!(
        live.body["items"].as_array().map(Vec::len),
        Some(1),
        "only the test admin key is live"
    );
}

#[tokio::test]
async fn a_keys_binding_must_suit_its_role() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Council", "council").await;
    let person = app.person("P", "p@example.org", org, "1").await;
    let missing = uuid::Uuid::now_v7();
    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        (
            "partner without organisation",
            json!({ "name": "k", "role": "partner" }),
            vec!["organisation_id"],
        ),
        (
            "partner with person",
            json!({ "name": "k", "role": "partner", "organisation_id": org, "person_id": person }),
            vec!["person_id"],
        ),
        (
            "learner without person",
            json!({ "name": "k", "role": "learner" }),
            vec!["person_id"],
        ),
        (
            "trainer with organisation",
            json!({ "name": "k", "role": "trainer", "person_id": person, "organisation_id": org }),
            vec!["organisation_id"],
        ),
        (
            "coordinator bound",
            json!({ "name": "k", "role": "coordinator", "organisation_id": org }),
            vec!["organisation_id"],
        ),
        (
            "unknown organisation",
            json!({ "name": "k", "role": "partner", "organisation_id": missing }),
            vec!["organisation_id"],
        ),
        (
            "unknown person",
            json!({ "name": "k", "role": "learner", "person_id": missing }),
            vec!["person_id"],
        ),
        (
            "blank name",
            json!({ "name": " ", "role": "admin" }),
            vec!["name"],
        ),
    ];
    for (reason, body, fields) in cases {
        let problem = app
            .post("/api/v1/api-keys", &app.admin, body)
            .await
            .problem(422);
        assert_eq!(Reply::error_fields(&problem), fields, "{reason}");
    }
    assert_eq!(
        app.count(api_keys::Entity).await,
        1,
        "only the test admin key exists"
    );
    let partner = app
        .post(
            "/api/v1/api-keys",
            &app.admin,
            json!({ "name": "HR", "role": "partner", "organisation_id": org }),
        )
        .await
        .expect(201);
    assert_eq!(partner.body["organisation_id"], org.to_string());
    let learner = app.key(KeyRole::Learner, None, Some(person)).await;
    app.get(&format!("/api/v1/people/{person}"), &learner)
        .await
        .expect(200);
}

#[tokio::test]
async fn a_key_stops_working_while_its_organisation_or_person_is_inactive() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Council", "council").await;
    let person = app.person("P", "p@example.org", org, "1").await;
    let partner = app.key(KeyRole::Partner, Some(org), None).await;
    let learner = app.key(KeyRole::Learner, None, Some(person)).await;
    app.patch(
        &format!("/api/v1/people/{person}"),
        &app.admin,
        json!({ "active": false }),
    )
    .await
    .expect(200);
    app.get("/api/v1/people", &learner).await.problem(401);
    app.get("/api/v1/people", &partner).await.expect(200);
    app.patch(
        &format!("/api/v1/organisations/{org}"),
        &app.admin,
        json!({ "active": false }),
    )
    .await
    .expect(200);
    app.get("/api/v1/people", &partner).await.problem(401);
    app.patch(
        &format!("/api/v1/organisations/{org}"),
        &app.admin,
        json!({ "active": true }),
    )
    .await
    .expect(200);
    app.get("/api/v1/people", &partner).await.expect(200);
}
