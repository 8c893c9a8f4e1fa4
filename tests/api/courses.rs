use cascade_tests::{Reply, TestApp, collect_all, id_of};
use entities::{course_prerequisites, courses};
use serde_json::{Value, json};

fn champion_course(programme: uuid::Uuid, code: &str) -> Value {
    json!({
        "programme_id": programme,
        "code": code,
        "title": "Five to Thrive champion training",
        "kind": "champion",
        "duration_minutes": 360,
        "cpd_hours": 6,
        "default_capacity": 50,
        "certificate_validity_months": 36,
        "reserved_places": { "sector": "voluntary", "share_bp": 1000 },
    })
}

#[tokio::test]
async fn a_course_keeps_its_audience_prerequisites_validity_and_reserved_places() {
    let app = TestApp::spawn().await;
    let programme = app.programme("five-to-thrive").await;
    let early_years = app.reference("staff-groups", "Early years").await;
    let champion = id_of(
        &app.post(
            "/api/v1/courses",
            &app.admin,
            champion_course(programme, "ftt-champion"),
        )
        .await
        .expect(201)
        .body,
    );
    let trainer = app
        .post(
            "/api/v1/courses",
            &app.admin,
            json!({
                "programme_id": programme,
                "code": "ftt-trainer",
                "title": "Five to Thrive trainer course",
                "kind": "trainer",
                "duration_minutes": 720,
                "cpd_hours": 12.5,
                "default_capacity": 12,
                "audience_staff_group_ids": [early_years, early_years],
                "prerequisite_course_ids": [champion],
                "max_places_per_organisation": 3,
            }),
        )
        .await
        .expect(201);
    assert_eq!(trainer.body["prerequisite_course_ids"], json!([champion]));
    assert_eq!(
        trainer.body["audience_staff_group_ids"],
        json!([early_years]),
        "duplicates are folded"
    );
    assert_eq!(trainer.body["cpd_hours"], 12.5);
    assert_eq!(trainer.body["max_places_per_organisation"], 3);
    assert_eq!(trainer.body["certificate_validity_months"], Value::Null);

    let fetched = app
        .get(&format!("/api/v1/courses/{champion}"), &app.admin)
        .await
        .expect(200);
    assert_eq!(
        fetched.body["reserved_places"],
        json!({ "sector": "voluntary", "share_bp": 1000, "release_days_before_start": 14 })
    );
    assert_eq!(fetched.body["certificate_validity_months"], 36);
}

#[tokio::test]
async fn null_clears_an_optional_setting_and_omission_keeps_it() {
    let app = TestApp::spawn().await;
    let programme = app.programme("five-to-thrive").await;
    let id = id_of(
        &app.post(
            "/api/v1/courses",
            &app.admin,
            champion_course(programme, "ftt-champion"),
        )
        .await
        .expect(201)
        .body,
    );
    let kept = app
        .patch(
            &format!("/api/v1/courses/{id}"),
            &app.admin,
            json!({ "title": "Renamed" }),
        )
        .await
        .expect(200);
    assert_eq!(kept.body["certificate_validity_months"], 36);
    assert_eq!(kept.body["reserved_places"]["share_bp"], 1000);
    let cleared = app
        .patch(
            &format!("/api/v1/courses/{id}"),
            &app.admin,
            json!({ "certificate_validity_months": null, "reserved_places": null }),
        )
        .await
        .expect(200);
    assert_eq!(cleared.body["certificate_validity_months"], Value::Null);
    assert_eq!(cleared.body["reserved_places"], Value::Null);
    assert_eq!(cleared.body["title"], "Renamed");
    let changed = app
        .patch(
            &format!("/api/v1/courses/{id}"),
            &app.admin,
            json!({ "reserved_places": { "sector": "school", "share_bp": 2500, "release_days_before_start": 7 } }),
        )
        .await
        .expect(200);
    assert_eq!(
        changed.body["reserved_places"],
        json!({ "sector": "school", "share_bp": 2500, "release_days_before_start": 7 })
    );
}

#[tokio::test]
async fn invalid_courses_are_refused_with_every_field_named_and_nothing_written() {
    let app = TestApp::spawn().await;
    let programme = app.programme("mecc").await;
    let base = champion_course(programme, "mecc-skills");
    let with = |patch: Value| {
        let mut body = base.clone();
        for (k, v) in patch.as_object().expect("object") {
            body[k] = v.clone();
        }
        body
    };
    let missing = uuid::Uuid::now_v7();
    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        (
            "unknown programme",
            with(json!({ "programme_id": missing })),
            vec!["programme_id"],
        ),
        (
            "duration too short",
            with(json!({ "duration_minutes": 5 })),
            vec!["duration_minutes"],
        ),
        (
            "cpd not in quarters",
            with(json!({ "cpd_hours": 1.1 })),
            vec!["cpd_hours"],
        ),
        (
            "negative cpd",
            with(json!({ "cpd_hours": -1 })),
            vec!["cpd_hours"],
        ),
        (
            "capacity zero",
            with(json!({ "default_capacity": 0 })),
            vec!["default_capacity"],
        ),
        (
            "validity zero",
            with(json!({ "certificate_validity_months": 0 })),
            vec!["certificate_validity_months"],
        ),
        (
            "reserved share over 100%",
            with(json!({ "reserved_places": { "sector": "voluntary", "share_bp": 10001 } })),
            vec!["reserved_places.share_bp"],
        ),
        (
            "release too far ahead",
            with(
                json!({ "reserved_places": { "sector": "voluntary", "share_bp": 1000, "release_days_before_start": 400 } }),
            ),
            vec!["reserved_places.release_days_before_start"],
        ),
        (
            "unknown staff group",
            with(json!({ "audience_staff_group_ids": [missing] })),
            vec!["audience_staff_group_ids"],
        ),
        (
            "unknown prerequisite",
            with(json!({ "prerequisite_course_ids": [missing] })),
            vec!["prerequisite_course_ids"],
        ),
        (
            "cap zero",
            with(json!({ "max_places_per_organisation": 0 })),
            vec!["max_places_per_organisation"],
        ),
        (
            "bad code and title",
            with(json!({ "code": "Bad Code", "title": "" })),
            vec!["code", "title"],
        ),
    ];
    for (reason, body, fields) in cases {
        let problem = app
            .post("/api/v1/courses", &app.admin, body)
            .await
            .problem(422);
        assert_eq!(Reply::error_fields(&problem), fields, "{reason}");
    }
    assert_eq!(app.count(courses::Entity).await, 0);
}

#[tokio::test]
async fn a_course_cannot_require_itself_directly_or_through_others() {
    let app = TestApp::spawn().await;
    let programme = app.programme("contextual-safeguarding").await;
    let a = app.course(programme, "cs-a").await;
    let b_body = json!({
        "programme_id": programme, "code": "cs-b", "title": "B", "kind": "practitioner",
        "duration_minutes": 60, "cpd_hours": 1, "default_capacity": 10, "prerequisite_course_ids": [a],
    });
    let b = id_of(
        &app.post("/api/v1/courses", &app.admin, b_body)
            .await
            .expect(201)
            .body,
    );
    let self_loop = app
        .patch(
            &format!("/api/v1/courses/{a}"),
            &app.admin,
            json!({ "prerequisite_course_ids": [a] }),
        )
        .await
        .problem(422);
    assert_eq!(Reply::error_fields(&self_loop), ["prerequisite_course_ids"]);
    let cycle = app
        .patch(
            &format!("/api/v1/courses/{a}"),
            &app.admin,
            json!({ "prerequisite_course_ids": [b] }),
        )
        .await
        .problem(422);
    assert!(
        cycle["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("require itself")
    );
    assert_eq!(
        app.count(course_prerequisites::Entity).await,
        1,
        "the refused change wrote nothing"
    );
    let cleared = app
        .patch(
            &format!("/api/v1/courses/{b}"),
            &app.admin,
            json!({ "prerequisite_course_ids": [] }),
        )
        .await
        .expect(200);
    assert_eq!(cleared.body["prerequisite_course_ids"], json!([]));
}

#[tokio::test]
async fn course_codes_are_unique() {
    let app = TestApp::spawn().await;
    let programme = app.programme("mecc").await;
    app.course(programme, "mecc-elearning").await;
    app.post(
        "/api/v1/courses",
        &app.admin,
        champion_course(programme, "mecc-elearning"),
    )
    .await
    .problem(409);
    assert_eq!(app.count(courses::Entity).await, 1);
}

#[tokio::test]
async fn courses_filter_by_programme_kind_audience_and_active() {
    let app = TestApp::spawn().await;
    let ftt = app.programme("five-to-thrive").await;
    let mecc = app.programme("mecc").await;
    let youth = app.reference("staff-groups", "Youth work").await;
    app.course(ftt, "ftt-champion").await;
    let cascade = json!({
        "programme_id": ftt, "code": "ftt-cascade", "title": "Light touch", "kind": "cascade",
        "duration_minutes": 90, "cpd_hours": 1.5, "default_capacity": 30, "audience_staff_group_ids": [youth],
    });
    let cascade = id_of(
        &app.post("/api/v1/courses", &app.admin, cascade)
            .await
            .expect(201)
            .body,
    );
    let elearning = app.course(mecc, "mecc-elearning").await;
    app.patch(
        &format!("/api/v1/courses/{elearning}"),
        &app.admin,
        json!({ "active": false }),
    )
    .await
    .expect(200);

    let codes = |items: Vec<Value>| -> Vec<String> {
        items
            .iter()
            .map(|c| c["code"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    assert_eq!(
        codes(
            collect_all(
                &app,
                &format!("/api/v1/courses?programme_id={ftt}"),
                &app.admin,
                50
            )
            .await
        ),
        ["ftt-champion", "ftt-cascade"]
    );
    assert_eq!(
        codes(collect_all(&app, "/api/v1/courses?kind=cascade", &app.admin, 50).await),
        ["ftt-cascade"]
    );
    assert_eq!(
        codes(
            collect_all(
                &app,
                &format!("/api/v1/courses?audience_staff_group_id={youth}"),
                &app.admin,
                50
            )
            .await
        ),
        ["ftt-cascade"]
    );
    assert_eq!(
        codes(collect_all(&app, "/api/v1/courses?active=false", &app.admin, 50).await),
        ["mecc-elearning"]
    );
    assert_eq!(
        collect_all(&app, "/api/v1/courses", &app.admin, 1)
            .await
            .len(),
        3
    );
    let _ = cascade;
}
