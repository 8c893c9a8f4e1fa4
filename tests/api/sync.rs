//! Staff sync from partners' HR systems.

use cascade::domain::api_keys::KeyRole;
use cascade_tests::{Reply, TestApp, collect_all, id_of};
use entities::{memberships, people};
use serde_json::{Value, json};
use uuid::Uuid;

fn row(external: &str, name: &str, email: &str) -> Value {
    json!({ "external_id": external, "name": name, "email": email })
}

fn counts(r: &Value) -> [i64; 6] {
    [
        "created",
        "linked",
        "updated",
        "unchanged",
        "deactivated",
        "bookings_cancelled",
    ]
    .map(|k| r[k].as_i64().unwrap_or(-1))
}

#[tokio::test]
async fn an_upsert_creates_updates_and_leaves_unchanged_and_a_dry_run_writes_nothing() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Wiltshire Police", "police").await;
    let url = format!("/api/v1/organisations/{org}/people/sync");
    let batch = json!({ "people": [
        row("WP-1", "Ayşe Demir", "ayse@police.example"),
        row("WP-2", "Gareth Llewellyn", "gareth@police.example"),
    ]});
    let dry = app
        .post(&format!("{url}?dry_run=true"), &app.admin, batch.clone())
        .await
        .expect(200)
        .body;
    assert_eq!(
        (dry["dry_run"].as_bool(), counts(&dry)),
        (Some(true), [2, 0, 0, 0, 0, 0])
    );
    assert_eq!(
        app.count(people::Entity).await,
        0,
        "a dry run writes nothing"
    );
    let first = app
        .post(&url, &app.admin, batch.clone())
        .await
        .expect(200)
        .body;
    assert_eq!(counts(&first), [2, 0, 0, 0, 0, 0]);
    let again = app.post(&url, &app.admin, batch).await.expect(200).body;
    assert_eq!(counts(&again), [0, 0, 0, 2, 0, 0]);
    let renamed = json!({ "people": [row("WP-1", "Ayşe Demir-Yılmaz", "ayse@police.example")] });
    let changed = app.post(&url, &app.admin, renamed).await.expect(200).body;
    assert_eq!(counts(&changed), [0, 0, 1, 0, 0, 0]);
    let found = app
        .get(
            &format!("/api/v1/people?organisation_id={org}&external_id=WP-1"),
            &app.admin,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(found["items"][0]["name"], "Ayşe Demir-Yılmaz");
    assert_eq!(app.count(people::Entity).await, 2);
}

#[tokio::test]
async fn invalid_rows_are_all_listed_and_by_default_nothing_is_written() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Council", "council").await;
    let url = format!("/api/v1/organisations/{org}/people/sync");
    let batch = json!({ "people": [
        row("C-1", "Good Person", "good@example.org"),
        row("C-2", "", "blank@example.org"),
        row("C-3", "Bad Email", "not-an-email"),
        row("C-1", "Duplicate Key", "dup@example.org"),
        json!({ "external_id": "C-5", "name": "Unknown group", "email": "u@example.org", "staff_group_id": Uuid::now_v7() }),
    ]});
    let problem = app.post(&url, &app.admin, batch.clone()).await.problem(422);
    assert_eq!(
        Reply::error_fields(&problem),
        [
            "people[1].name",
            "people[2].email",
            "people[3].external_id",
            "people[4].staff_group_id"
        ]
    );
    assert_eq!(app.count(people::Entity).await, 0);
    let partial = app
        .post(&format!("{url}?on_invalid=skip"), &app.admin, batch)
        .await
        .expect(200)
        .body;
    assert_eq!(counts(&partial), [1, 0, 0, 0, 0, 0]);
    let invalid: Vec<(i64, String)> = partial["invalid"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["index"].as_i64().unwrap_or(-1),
                r["field"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        invalid,
        [
            (1, "name".into()),
            (2, "email".into()),
            (3, "external_id".into()),
            (4, "staff_group_id".into())
        ]
    );
    assert_eq!(app.count(people::Entity).await, 1);
}

#[tokio::test]
async fn a_snapshot_deactivates_leavers_cancels_their_future_places_and_promotes_the_waitlist() {
    let app = TestApp::spawn().await;
    let programme = app.programme("mecc").await;
    let course = app.course(programme, "mecc-skills").await;
    let police = app.organisation("Police", "police").await;
    let council = app.organisation("Council", "council").await;
    let url = format!("/api/v1/organisations/{police}/people/sync");
    let staff = json!({ "people": [
        row("P-1", "Stays", "stays@example.org"),
        row("P-2", "Leaves", "leaves@example.org"),
        row("P-3", "Shared", "shared@example.org"),
    ]});
    app.post(&url, &app.admin, staff).await.expect(200);
    let id = |email: &'static str| {
        let app = &app;
        async move {
            id_of(
                &collect_all(
                    app,
                    &format!("/api/v1/people?email={email}"),
                    &app.admin,
                    10,
                )
                .await[0],
            )
        }
    };
    let (leaves, shared) = (
        id("leaves@example.org").await,
        id("shared@example.org").await,
    );
    // The shared person also works for the council (linked by email through the council's sync).
    let linked = app
        .post(
            &format!("/api/v1/organisations/{council}/people/sync"),
            &app.admin,
            json!({ "people": [row("C-9", "Shared", "shared@example.org")] }),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(counts(&linked), [0, 1, 0, 0, 0, 0]);
    let session = id_of(&app.session(course, 20, 1).await);
    let held = app.book(session, leaves, &app.admin).await.expect(201).body;
    let clerk = app
        .person("Clerk", "clerk@council.example", council, "C-1")
        .await;
    let waiting = app.book(session, clerk, &app.admin).await.expect(201).body;
    assert_eq!(waiting["status"], "waitlisted");

    let snapshot = json!({ "people": [row("P-1", "Stays", "stays@example.org")] });
    let dry = app
        .post(
            &format!("{url}?mode=snapshot&dry_run=true"),
            &app.admin,
            snapshot.clone(),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(counts(&dry), [0, 0, 0, 1, 2, 1]);
    assert_eq!(
        app.get(&format!("/api/v1/bookings/{}", id_of(&held)), &app.admin)
            .await
            .expect(200)
            .body["status"],
        "confirmed"
    );
    let done = app
        .post(&format!("{url}?mode=snapshot"), &app.admin, snapshot)
        .await
        .expect(200)
        .body;
    assert_eq!(counts(&done), [0, 0, 0, 1, 2, 1]);
    let cancelled = app
        .get(&format!("/api/v1/bookings/{}", id_of(&held)), &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(
        (
            cancelled["status"].as_str(),
            cancelled["cancel_reason"].as_str()
        ),
        (Some("cancelled"), Some("left_organisation"))
    );
    let promoted = app
        .get(&format!("/api/v1/bookings/{}", id_of(&waiting)), &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(
        promoted["status"], "confirmed",
        "the freed place went to the waitlist"
    );
    let gone = app
        .get(&format!("/api/v1/people/{leaves}"), &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(gone["active"], false);
    let still = app
        .get(&format!("/api/v1/people/{shared}"), &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(still["active"], true, "they still work for the council");
    let memberships: Vec<(String, bool)> = still["memberships"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            (
                m["external_id"].as_str().unwrap_or("").to_owned(),
                m["active"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    assert_eq!(
        memberships,
        [("P-3".to_owned(), false), ("C-9".to_owned(), true)],
        "each sync touched only its own membership"
    );
    assert_eq!(
        app.count(memberships::Entity).await,
        5,
        "three police, the shared council membership, the clerk"
    );
}

#[tokio::test]
async fn a_partner_syncs_only_its_own_organisation() {
    let app = TestApp::spawn().await;
    let police = app.organisation("Police", "police").await;
    let council = app.organisation("Council", "council").await;
    let partner = app.key(KeyRole::Partner, Some(police), None).await;
    let batch = json!({ "people": [row("X-1", "Someone", "someone@example.org")] });
    app.post(
        &format!("/api/v1/organisations/{council}/people/sync"),
        &partner,
        batch.clone(),
    )
    .await
    .problem(403);
    app.post(
        &format!("/api/v1/organisations/{police}/people/sync"),
        &partner,
        batch,
    )
    .await
    .expect(200);
    let learner_person = app.person("L", "l@example.org", police, "L-1").await;
    let learner = app.key(KeyRole::Learner, None, Some(learner_person)).await;
    app.post(
        &format!("/api/v1/organisations/{police}/people/sync"),
        &learner,
        json!({ "people": [] }),
    )
    .await
    .problem(403);
    let empty = app
        .post(
            &format!("/api/v1/organisations/{police}/people/sync"),
            &app.admin,
            json!({ "people": [] }),
        )
        .await
        .problem(422);
    assert_eq!(Reply::error_fields(&empty), ["people"]);
}

#[tokio::test]
async fn a_retried_sync_with_its_idempotency_key_answers_the_first_result_and_applies_once() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Wiltshire Police", "police").await;
    let partner = app.key(KeyRole::Partner, Some(org), None).await;
    let url = format!("/api/v1/organisations/{org}/people/sync");
    let batch = json!({ "people": [row("WP-1", "Ayşe Demir", "ayse@police.example")] });
    let headers = [("Idempotency-Key", "nightly-2026-11-23")];
    let first = app
        .request_with("POST", &url, Some(&partner), &headers, Some(batch.clone()))
        .await
        .expect(200);
    assert_eq!(counts(&first.body), [1, 0, 0, 0, 0, 0]);
    let retry = app
        .request_with("POST", &url, Some(&partner), &headers, Some(batch))
        .await
        .expect(200);
    assert_eq!(
        retry.body, first.body,
        "the retry gets the first answer, not [0, 0, 0, 1, 0, 0]"
    );
    let other = json!({ "people": [row("WP-2", "Gareth Llewellyn", "gareth@police.example")] });
    app.request_with("POST", &url, Some(&partner), &headers, Some(other))
        .await
        .problem(422);
    assert_eq!(app.count(people::Entity).await, 1);
}
