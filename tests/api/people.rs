use cascade::domain::api_keys::KeyRole;
use cascade_tests::{Reply, TestApp, collect_all, id_of};
use entities::{memberships, people};
use serde_json::{Value, json};

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|p| p["id"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[tokio::test]
async fn names_in_any_script_are_kept_exactly_in_composed_form() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Wiltshire Council", "council").await;
    let decomposed = "Zoe\u{0308} Ashworth"; // "Zoë" typed with a combining diaeresis
    let names = [
        decomposed,
        "Dafydd ap Gwŷn",
        "Łukasz Żółć",
        "Олена Коваленко",
        "李娜",
        "Siân O'Connor-Brontë",
    ];
    for (i, name) in names.iter().enumerate() {
        let body = json!({
            "name": name,
            "email": format!("person{i}@example.org"),
            "memberships": [{ "organisation_id": org }],
        });
        let created = app
            .post("/api/v1/people", &app.admin, body)
            .await
            .expect(201);
        let fetched = app
            .get(
                &format!("/api/v1/people/{}", id_of(&created.body)),
                &app.admin,
            )
            .await
            .expect(200);
        let expected = if i == 0 { "Zo\u{00eb} Ashworth" } else { name };
        assert_eq!(fetched.body["name"], expected);
    }
}

#[tokio::test]
async fn a_person_is_created_with_memberships_and_the_first_is_primary_by_default() {
    let app = TestApp::spawn().await;
    let council = app.organisation("Wiltshire Council", "council").await;
    let school = app.organisation("Matravers School", "school").await;
    let group = app.reference("staff-groups", "Early years").await;
    let place = app.reference("localities", "Westbury").await;
    let created = app
        .post(
            "/api/v1/people",
            &app.admin,
            json!({
                "name": "Hannah Whitfield",
                "email": "Hannah.Whitfield@Example.org",
                "staff_group_id": group,
                "locality_id": place,
                "memberships": [
                    { "organisation_id": council, "external_id": "WC-1" },
                    { "organisation_id": school, "external_id": "MAT-1" },
                ],
            }),
        )
        .await
        .expect(201);
    let id = id_of(&created.body);
    assert_eq!(created.headers["location"], format!("/api/v1/people/{id}"));
    assert_eq!(created.body["email"], "Hannah.Whitfield@Example.org");
    assert_eq!(created.body["active"], true);
    assert_eq!(
        created.body["memberships"],
        json!([
            { "organisation_id": council, "external_id": "WC-1", "primary": true, "active": true },
            { "organisation_id": school, "external_id": "MAT-1", "primary": false, "active": true },
        ])
    );
}

#[tokio::test]
async fn an_email_belongs_to_one_person_whatever_its_case() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Wiltshire Police", "police").await;
    app.person("Ayşe Demir", "ayse.demir@police.example", org, "WP-1")
        .await;
    let body = json!({ "name": "Someone", "email": "AYSE.DEMIR@police.example", "memberships": [{ "organisation_id": org }] });
    app.post("/api/v1/people", &app.admin, body)
        .await
        .problem(409);
    assert_eq!(app.count(people::Entity).await, 1);
}

#[tokio::test]
async fn an_external_id_is_unique_within_its_organisation_only() {
    let app = TestApp::spawn().await;
    let council = app.organisation("Council", "council").await;
    let health = app.organisation("Health", "health").await;
    app.person("A", "a@example.org", council, "E-100").await;
    app.person("B", "b@example.org", health, "E-100").await;
    let clash = json!({ "name": "C", "email": "c@example.org", "memberships": [{ "organisation_id": council, "external_id": "E-100" }] });
    let problem = app
        .post("/api/v1/people", &app.admin, clash)
        .await
        .problem(409);
    assert!(problem["detail"].as_str().unwrap_or("").contains("E-100"));
    assert_eq!(app.count(people::Entity).await, 2);
    assert_eq!(app.count(memberships::Entity).await, 2);
}

#[tokio::test]
async fn invalid_people_are_refused_with_every_field_named_and_nothing_written() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Council", "council").await;
    let closed = app.organisation("Closed", "other").await;
    app.patch(
        &format!("/api/v1/organisations/{closed}"),
        &app.admin,
        json!({ "active": false }),
    )
    .await
    .expect(200);
    let retired_group = app.reference("staff-groups", "Retired group").await;
    app.patch(
        &format!("/api/v1/staff-groups/{retired_group}"),
        &app.admin,
        json!({ "active": false }),
    )
    .await
    .expect(200);
    let missing = uuid::Uuid::now_v7();
    let member = json!([{ "organisation_id": org }]);
    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        (
            "blank name",
            json!({ "name": " ", "email": "x@example.org", "memberships": member }),
            vec!["name"],
        ),
        (
            "bad email",
            json!({ "name": "X", "email": "not-an-email", "memberships": member }),
            vec!["email"],
        ),
        (
            "no organisation",
            json!({ "name": "X", "email": "x@example.org", "memberships": [] }),
            vec!["memberships"],
        ),
        (
            "same organisation twice",
            json!({ "name": "X", "email": "x@example.org", "memberships": [{ "organisation_id": org }, { "organisation_id": org }] }),
            vec!["memberships[1].organisation_id"],
        ),
        (
            "unknown organisation",
            json!({ "name": "X", "email": "x@example.org", "memberships": [{ "organisation_id": missing }] }),
            vec!["memberships[0].organisation_id"],
        ),
        (
            "inactive organisation",
            json!({ "name": "X", "email": "x@example.org", "memberships": [{ "organisation_id": closed }] }),
            vec!["memberships[0].organisation_id"],
        ),
        (
            "two primaries",
            json!({ "name": "X", "email": "x@example.org", "memberships": [
                { "organisation_id": org, "primary": true }, { "organisation_id": closed, "primary": true }] }),
            vec!["memberships", "memberships[1].organisation_id"],
        ),
        (
            "external id with spaces",
            json!({ "name": "X", "email": "x@example.org", "memberships": [{ "organisation_id": org, "external_id": " E1 " }] }),
            vec!["memberships[0].external_id"],
        ),
        (
            "unknown staff group",
            json!({ "name": "X", "email": "x@example.org", "staff_group_id": missing, "memberships": member }),
            vec!["staff_group_id"],
        ),
        (
            "retired staff group",
            json!({ "name": "X", "email": "x@example.org", "staff_group_id": retired_group, "memberships": member }),
            vec!["staff_group_id"],
        ),
        (
            "unknown locality",
            json!({ "name": "X", "email": "x@example.org", "locality_id": missing, "memberships": member }),
            vec!["locality_id"],
        ),
        (
            "everything wrong at once",
            json!({ "name": "", "email": "@", "locality_id": missing, "memberships": [] }),
            vec!["email", "locality_id", "memberships", "name"],
        ),
    ];
    for (reason, body, fields) in cases {
        let problem = app
            .post("/api/v1/people", &app.admin, body)
            .await
            .problem(422);
        assert_eq!(Reply::error_fields(&problem), fields, "{reason}");
    }
    assert_eq!(app.count(people::Entity).await, 0);
    assert_eq!(app.count(memberships::Entity).await, 0);
}

#[tokio::test]
async fn a_person_is_updated_cleared_and_deactivated() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Council", "council").await;
    let group = app.reference("staff-groups", "Social care").await;
    let id = app.person("Tomas", "tomas@example.org", org, "WC-9").await;
    let path = format!("/api/v1/people/{id}");
    let updated = app
        .patch(&path, &app.admin, json!({ "name": "Tomás Ó Briain", "email": "TOMAS@example.org", "staff_group_id": group }))
        .await
        .expect(200);
    assert_eq!(updated.body["name"], "Tomás Ó Briain");
    assert_eq!(updated.body["staff_group_id"], group.to_string());
    let cleared = app
        .patch(&path, &app.admin, json!({ "staff_group_id": null }))
        .await
        .expect(200);
    assert_eq!(cleared.body["staff_group_id"], Value::Null);
    assert_eq!(cleared.body["email"], "TOMAS@example.org");
    let inactive = app
        .patch(&path, &app.admin, json!({ "active": false }))
        .await
        .expect(200);
    assert_eq!(inactive.body["active"], false);
    let listed = app
        .get("/api/v1/people?active=false", &app.admin)
        .await
        .expect(200);
    assert_eq!(
        ids(listed.body["items"].as_array().expect("items")),
        [id.to_string()]
    );
}

#[tokio::test]
async fn an_update_onto_another_persons_email_is_a_conflict_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Council", "council").await;
    app.person("A", "a@example.org", org, "1").await;
    let b = app.person("B", "b@example.org", org, "2").await;
    app.patch(
        &format!("/api/v1/people/{b}"),
        &app.admin,
        json!({ "email": "A@example.org", "name": "Bee" }),
    )
    .await
    .problem(409);
    let unchanged = app
        .get(&format!("/api/v1/people/{b}"), &app.admin)
        .await
        .expect(200);
    assert_eq!(unchanged.body["name"], "B");
    assert_eq!(unchanged.body["email"], "b@example.org");
}

#[tokio::test]
async fn memberships_are_added_changed_and_ended_one_organisation_at_a_time() {
    let app = TestApp::spawn().await;
    let council = app.organisation("Council", "council").await;
    let school = app.organisation("School", "school").await;
    let id = app
        .person("Chloé Martin", "chloe@example.org", council, "WC-5")
        .await;
    let path = format!("/api/v1/people/{id}/memberships/{school}");
    let added = app
        .put(
            &path,
            &app.admin,
            json!({ "external_id": "ABB-2", "primary": true }),
        )
        .await
        .expect(200);
    assert_eq!(
        added.body["memberships"],
        json!([
            { "organisation_id": council, "external_id": "WC-5", "primary": false, "active": true },
            { "organisation_id": school, "external_id": "ABB-2", "primary": true, "active": true },
        ])
    );
    let ended = app
        .put(
            &path,
            &app.admin,
            json!({ "active": false, "external_id": null }),
        )
        .await
        .expect(200);
    assert_eq!(
        ended.body["memberships"][1],
        json!({ "organisation_id": school, "primary": true, "active": false })
    );
    let missing_org = uuid::Uuid::now_v7();
    app.put(
        &format!("/api/v1/people/{id}/memberships/{missing_org}"),
        &app.admin,
        json!({}),
    )
    .await
    .problem(404);
    let bad = app
        .put(&path, &app.admin, json!({ "external_id": "" }))
        .await
        .problem(422);
    assert_eq!(Reply::error_fields(&bad), ["external_id"]);
}

#[tokio::test]
async fn the_people_list_filters_by_organisation_external_id_email_group_locality_and_active() {
    let app = TestApp::spawn().await;
    let council = app.organisation("Council", "council").await;
    let health = app.organisation("Health", "health").await;
    let group = app.reference("staff-groups", "Health visiting").await;
    let place = app.reference("localities", "Calne").await;
    let a = app.person("A", "a@example.org", council, "C-1").await;
    let b = app.person("B", "b@example.org", health, "H-1").await;
    app.patch(
        &format!("/api/v1/people/{b}"),
        &app.admin,
        json!({ "staff_group_id": group, "locality_id": place }),
    )
    .await
    .expect(200);
    let find = |query: String| {
        let app = &app;
        async move { ids(&collect_all(app, &format!("/api/v1/people?{query}"), &app.admin, 50).await) }
    };
    assert_eq!(
        find(format!("organisation_id={council}")).await,
        [a.to_string()]
    );
    assert_eq!(
        find(format!("organisation_id={health}&external_id=H-1")).await,
        [b.to_string()]
    );
    assert!(
        find(format!("organisation_id={council}&external_id=H-1"))
            .await
            .is_empty()
    );
    assert_eq!(
        find("email=B%40EXAMPLE.org".to_owned()).await,
        [b.to_string()]
    );
    assert_eq!(
        find(format!("staff_group_id={group}")).await,
        [b.to_string()]
    );
    assert_eq!(find(format!("locality_id={place}")).await, [b.to_string()]);
    assert_eq!(find("active=true".to_owned()).await.len(), 2);
    let problem = app
        .get("/api/v1/people?external_id=H-1", &app.admin)
        .await
        .problem(422);
    assert_eq!(Reply::error_fields(&problem), ["external_id"]);
}

#[tokio::test]
async fn people_lists_paginate_without_gaps_or_repeats() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Council", "council").await;
    let mut created = Vec::new();
    for i in 0..9 {
        created.push(
            app.person(
                &format!("P{i}"),
                &format!("p{i}@example.org"),
                org,
                &format!("X{i}"),
            )
            .await
            .to_string(),
        );
    }
    assert_eq!(
        ids(&collect_all(&app, "/api/v1/people", &app.admin, 4).await),
        created
    );
}

#[tokio::test]
async fn a_partner_sees_and_changes_only_its_own_people() {
    let app = TestApp::spawn().await;
    let police = app.organisation("Wiltshire Police", "police").await;
    let council = app.organisation("Wiltshire Council", "council").await;
    let officer = app
        .person("Gareth", "gareth@police.example", police, "WP-1")
        .await;
    let social_worker = app
        .person("Priya", "priya@council.example", council, "WC-1")
        .await;
    let shared = app
        .person("Shared", "shared@example.org", council, "WC-2")
        .await;
    app.put(
        &format!("/api/v1/people/{shared}/memberships/{police}"),
        &app.admin,
        json!({ "external_id": "WP-2" }),
    )
    .await
    .expect(200);
    let partner = app.key(KeyRole::Partner, Some(police), None).await;

    let listed = collect_all(&app, "/api/v1/people", &partner, 50).await;
    assert_eq!(ids(&listed), [officer.to_string(), shared.to_string()]);
    assert_eq!(
        listed[1]["memberships"],
        json!([{ "organisation_id": police, "external_id": "WP-2", "primary": false, "active": true }]),
        "a partner sees only its own organisation's membership"
    );
    let by_external = app
        .get("/api/v1/people?external_id=WP-1", &partner)
        .await
        .expect(200);
    assert_eq!(
        ids(by_external.body["items"].as_array().expect("items")),
        [officer.to_string()]
    );
    // Another organisation's staff are not a partner's to filter by, not even the ones it shares.
    app.get(
        &format!("/api/v1/people?organisation_id={council}"),
        &partner,
    )
    .await
    .problem(403);

    app.get(&format!("/api/v1/people/{social_worker}"), &partner)
        .await
        .problem(404);
    app.patch(
        &format!("/api/v1/people/{social_worker}"),
        &partner,
        json!({ "name": "Changed" }),
    )
    .await
    .problem(404);
    app.put(
        &format!("/api/v1/people/{social_worker}/memberships/{police}"),
        &partner,
        json!({}),
    )
    .await
    .problem(404);
    app.put(
        &format!("/api/v1/people/{officer}/memberships/{council}"),
        &partner,
        json!({}),
    )
    .await
    .problem(403);

    let renamed = app
        .patch(
            &format!("/api/v1/people/{officer}"),
            &partner,
            json!({ "name": "Gareth Llewellyn" }),
        )
        .await
        .expect(200);
    assert_eq!(renamed.body["name"], "Gareth Llewellyn");
    app.patch(
        &format!("/api/v1/people/{officer}"),
        &partner,
        json!({ "active": false }),
    )
    .await
    .expect(200);
    app.patch(
        &format!("/api/v1/people/{shared}"),
        &partner,
        json!({ "active": false }),
    )
    .await
    .problem(403);
    app.put(
        &format!("/api/v1/people/{shared}/memberships/{police}"),
        &partner,
        json!({ "active": false }),
    )
    .await
    .expect(200);

    let own = json!({ "name": "New PC", "email": "pc@police.example", "memberships": [{ "organisation_id": police, "external_id": "WP-3" }] });
    app.post("/api/v1/people", &partner, own).await.expect(201);
    let other = json!({ "name": "Not ours", "email": "x@council.example", "memberships": [{ "organisation_id": council }] });
    app.post("/api/v1/people", &partner, other)
        .await
        .problem(403);
    assert_eq!(app.count(people::Entity).await, 4);

    let unchanged = app
        .get(&format!("/api/v1/people/{social_worker}"), &app.admin)
        .await
        .expect(200);
    assert_eq!(unchanged.body["name"], "Priya");
}

#[tokio::test]
async fn a_learner_or_trainer_sees_only_themselves() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Council", "council").await;
    let me = app.person("Me", "me@example.org", org, "1").await;
    let colleague = app
        .person("Colleague", "colleague@example.org", org, "2")
        .await;
    for role in [KeyRole::Learner, KeyRole::Trainer] {
        let key = app.key(role, None, Some(me)).await;
        let listed = app.get("/api/v1/people", &key).await.expect(200);
        assert_eq!(
            ids(listed.body["items"].as_array().expect("items")),
            [me.to_string()]
        );
        app.get(&format!("/api/v1/people/{me}"), &key)
            .await
            .expect(200);
        app.get(&format!("/api/v1/people/{colleague}"), &key)
            .await
            .problem(404);
        app.patch(
            &format!("/api/v1/people/{me}"),
            &key,
            json!({ "name": "Me" }),
        )
        .await
        .problem(403);
    }
}

#[tokio::test]
async fn concurrent_creates_of_one_email_or_external_id_make_exactly_one_person() {
    let app = std::sync::Arc::new(TestApp::spawn().await);
    let org = app.organisation("Council", "council").await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let app = app.clone();
        tasks.spawn(async move {
            // Half race on the email, half on the organisation's external id.
            let (email, external) = if i % 2 == 0 {
                ("SAME@example.org".to_owned(), format!("E-{i}"))
            } else {
                (format!("other{i}@example.org"), "SAME-ID".to_owned())
            };
            let body = json!({ "name": format!("P{i}"), "email": email.to_lowercase(),
                               "memberships": [{ "organisation_id": org, "external_id": external }] });
            app.post("/api/v1/people", &app.admin, body).await
        });
    }
    let mut statuses = Vec::new();
    while let Some(reply) = tasks.join_next().await {
        let reply = reply.expect("task");
        if reply.status.as_u16() != 201 {
            reply.problem(409);
            statuses.push(409);
        } else {
            statuses.push(201);
        }
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        2,
        "one per contested value"
    );
    assert_eq!(app.count(people::Entity).await, 2);
    assert_eq!(app.count(memberships::Entity).await, 2);
}
