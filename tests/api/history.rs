//! Recording the past: a partnership that adopts Cascade mid-year records the sessions already
//! held, then runs live ones; every figure follows as if the history had been live.

use cascade::domain::trainers::steps::financial_year;
use cascade_tests::{TestApp, id_of, kind};
use chrono::Duration;
use serde_json::{Value, json};

use crate::progression::{ftt, today};

#[tokio::test]
async fn a_year_adopted_mid_way_records_its_history_then_runs_live() {
    let app = TestApp::spawn().await;
    // Sixty days into a programme year with at least sixty left.
    app.leave_room_in_programme_year(120);
    app.clock.advance(Duration::days(60));
    let f = ftt(&app).await;
    let year = financial_year(today(&app));
    let base = format!("/api/v1/programmes/{}/years/{year}", f.programme);
    app.put(
        &base,
        &app.admin,
        json!({ "champion_sessions_target": 12, "champions_target": 600,
        "no_show_full_day_pence": 7500, "late_cancel_full_day_pence": 5000,
        "licence_fee_per_champion_pence": 1000 }),
    )
    .await
    .expect(200);
    let council = app.organisation("Wiltshire Council", "council").await;
    let charity = app.organisation("Carers Charity", "voluntary").await;
    app.put(
        &format!("{base}/contributions/{council}"),
        &app.admin,
        json!({ "amount_pence": 30000 }),
    )
    .await
    .expect(200);
    let c = app.people(council, "c", 4).await;
    let v = app.person("v0", "v0@example.org", charity, "V0").await;
    let past_day = today(&app) - Duration::days(30);
    let history = json!({
        "course_id": f.champion,
        "sittings": [{ "date": past_day, "start": "09:30", "end": "16:00" }],
        "venue": { "name": "Corn Exchange" }, "capacity": 10,
        "attendees": [
            { "person_id": c[0], "attended_sittings": [1] },
            { "person_id": c[1], "attended_sittings": [1] },
            { "person_id": v, "attended_sittings": [1] },
            { "person_id": c[2] },
        ],
    });

    // Refused whole, nothing written: a sitting still to come, a person twice, too few places.
    let mut future = history.clone();
    future["sittings"][0]["date"] = json!(today(&app) + Duration::days(1));
    let bad = app
        .post("/api/v1/past-sessions", &app.admin, future)
        .await
        .expect(422)
        .body;
    assert_eq!(bad["errors"][0]["field"], "sittings");
    let mut twice = history.clone();
    twice["attendees"][3]["person_id"] = json!(c[0]);
    let bad = app
        .post("/api/v1/past-sessions", &app.admin, twice)
        .await
        .expect(422)
        .body;
    assert_eq!(bad["errors"][0]["field"], "attendees[3].person_id");
    let mut small = history.clone();
    small["capacity"] = json!(3);
    let bad = app
        .post("/api/v1/past-sessions", &app.admin, small)
        .await
        .expect(422)
        .body;
    assert_eq!(bad["errors"][0]["field"], "capacity");
    // A booking rule still holds, naming the attendee: c3 has left.
    app.patch(
        &format!("/api/v1/people/{}", c[3]),
        &app.admin,
        json!({ "active": false }),
    )
    .await
    .expect(200);
    let mut leaver = history.clone();
    leaver["attendees"][3]["person_id"] = json!(c[3]);
    let refused = app
        .post("/api/v1/past-sessions", &app.admin, leaver)
        .await
        .problem(409);
    assert_eq!(kind(&refused), "person-inactive");
    assert!(
        refused["detail"]
            .as_str()
            .unwrap_or("")
            .starts_with("attendees[3]"),
        "{refused}"
    );
    let sessions = app
        .get("/api/v1/sessions?limit=200", &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(sessions["items"], json!([]), "nothing written");
    // Partners may not record history.
    let partner = app
        .key(
            cascade::domain::api_keys::KeyRole::Partner,
            Some(council),
            None,
        )
        .await;
    app.post("/api/v1/past-sessions", &partner, history.clone())
        .await
        .problem(403);

    let past = app
        .post("/api/v1/past-sessions", &app.admin, history)
        .await
        .expect(201)
        .body;
    assert_eq!(past["status"], "completed");
    let past_id = id_of(&past);

    // Then live: one more champion session, with one council person confirmed.
    let live_day = today(&app) + Duration::days(20);
    let live = id_of(
        &app.post(
            "/api/v1/sessions",
            &app.admin,
            json!({ "course_id": f.champion, "capacity": 10, "venue": { "name": "Hall" },
                "sittings": [{ "date": live_day, "start": "09:30", "end": "16:00" }] }),
        )
        .await
        .expect(201)
        .body,
    );
    let c4 = app.person("c4", "c4@example.org", council, "C4").await;
    app.book(live, c4, &app.admin).await.expect(201);

    // Champions: the three who attended, of the past session's cohort.
    let champions = app
        .get(
            &format!("/api/v1/champions?cohort_session_id={past_id}"),
            &app.admin,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(champions["items"].as_array().map(Vec::len), Some(3));
    assert_eq!(champions["items"][0]["since"], json!(past_day));
    // No certificates were asked for.
    let certs = app
        .get(
            &format!("/api/v1/certificates?person_id={}", c[0]),
            &app.admin,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(certs["items"], json!([]));
    // The no-show is charged, as live: 7,500p to the council.
    let charges = app
        .get(&format!("{base}/charges"), &app.admin)
        .await
        .expect(200)
        .body;
    let owed: Vec<(Value, Value)> = charges["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|ch| (ch["kind"].clone(), ch["amount_pence"].clone()))
        .collect();
    assert_eq!(owed, [(json!("no_show"), json!(7500))]);
    // Progress, by hand: 1 champion session held (forecast 2 with the live one); 3 champions
    // trained (forecast 4 with c4 confirmed).
    let progress = app
        .get(
            &format!(
                "/api/v1/reports/progress?programme_id={}&year={year}",
                f.programme
            ),
            &app.admin,
        )
        .await
        .expect(200)
        .body;
    let target = |name: &str| {
        progress["targets"]
            .as_array()
            .and_then(|ts| ts.iter().find(|t| t["target"] == name))
            .map(|t| (t["actual"].as_i64(), t["forecast"].as_i64()))
    };
    assert_eq!(target("champion_sessions"), Some((Some(1), Some(2))));
    assert_eq!(target("champions_trained"), Some((Some(3), Some(4))));
    // Partner report, by hand: council held 3 past places + 1 live = 4 used, 2 attended,
    // 1 no-show; charges 7,500; costs = 3 champions × 1,000 = 3,000, split by places used
    // (council 4, charity 1): 2,400 / 600; balance 30,000 − 2,400 − 7,500 = 20,100.
    let report = app
        .get(
            &format!(
                "/api/v1/reports/partners?programme_id={}&year={year}",
                f.programme
            ),
            &app.admin,
        )
        .await
        .expect(200)
        .body;
    let line = report["partners"]
        .as_array()
        .and_then(|l| l.iter().find(|p| p["name"] == "Wiltshire Council"))
        .cloned()
        .unwrap_or(Value::Null);
    let figures: Vec<i64> = [
        "used",
        "attended",
        "no_show",
        "charges_pence",
        "cost_consumed_pence",
        "balance_pence",
    ]
    .iter()
    .map(|k| line[k].as_i64().unwrap_or(i64::MIN))
    .collect();
    assert_eq!(figures, [4, 2, 1, 7500, 2400, 20100]);
    // The audit log says which records were entered after the fact.
    let audit = app
        .get(
            &format!("/api/v1/audit?resource=session&resource_id={past_id}"),
            &app.admin,
        )
        .await
        .expect(200)
        .body;
    let summaries: Vec<&str> = audit["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["summary"].as_str())
        .collect();
    assert!(!summaries.is_empty());
    assert!(
        summaries
            .iter()
            .all(|s| s.starts_with("recorded after the fact: ")),
        "{summaries:?}"
    );
    let live_audit = app
        .get(
            &format!("/api/v1/audit?resource=session&resource_id={live}"),
            &app.admin,
        )
        .await
        .expect(200)
        .body;
    assert!(!live_audit.to_string().contains("after the fact"));
}

#[tokio::test]
async fn a_past_session_may_issue_its_certificates_when_asked() {
    let app = TestApp::spawn().await;
    let f = ftt(&app).await;
    let org = app.organisation("Council", "council").await;
    let ann = app.person("Ann", "ann@example.org", org, "A").await;
    let day = today(&app) - Duration::days(2);
    let past = app
        .post(
            "/api/v1/past-sessions",
            &app.admin,
            json!({ "course_id": f.champion, "online_url": "https://meet.example.org/x",
                "sittings": [{ "date": day, "start": "09:30", "end": "12:00" },
                             { "date": day, "start": "13:00", "end": "16:00" }],
                "attendees": [{ "person_id": ann, "attended_sittings": [1, 2] }],
                "issue_certificates": true }),
        )
        .await
        .expect(201)
        .body;
    let certs = app
        .get(&format!("/api/v1/certificates?person_id={ann}"), &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(certs["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(certs["items"][0]["session_id"], past["id"]);
    assert_eq!(certs["items"][0]["completed_on"], json!(day));
}
