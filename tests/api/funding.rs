//! Funding, charges and the partner report, against figures computed by hand.

use cascade::domain::{api_keys::KeyRole, trainers::steps::financial_year};
use cascade_tests::{TestApp, id_of};
use chrono::Duration;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::progression::{ftt, today};

/// A one-sitting champion session `days` ahead whose booking stays open until the day before.
async fn session(app: &TestApp, course: Uuid, days: i64, capacity: i32) -> Uuid {
    let date = today(app) + Duration::days(days);
    let body = json!({
        "course_id": course, "sittings": [{ "date": date, "start": "09:30", "end": "16:00" }],
        "venue": { "name": "Hall" }, "capacity": capacity,
        "booking_closes_at": format!("{}T00:00:00Z", date - Duration::days(1)),
    });
    id_of(
        &app.post("/api/v1/sessions", &app.admin, body)
            .await
            .expect(201)
            .body,
    )
}

fn line<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["partners"]
        .as_array()
        .and_then(|l| l.iter().find(|p| p["name"] == name))
        .unwrap_or(&Value::Null)
}

fn figures(l: &Value) -> Vec<i64> {
    [
        "contribution_pence",
        "share_bp",
        "fair_share_places",
        "booked",
        "attended",
        "no_show",
        "late_cancelled",
        "used",
        "over_under",
        "charges_pence",
        "cost_consumed_pence",
        "balance_pence",
    ]
    .iter()
    .map(|k| l[k].as_i64().unwrap_or(i64::MIN))
    .collect()
}

#[tokio::test]
async fn the_partner_report_reconciles_contributions_use_charges_and_costs_exactly() {
    let app = TestApp::spawn().await;
    let f = ftt(&app).await;
    let year = financial_year(today(&app));
    let council = app.organisation("Wiltshire Council", "council").await;
    let health = app.organisation("NHS Health", "health").await;
    let police = app.organisation("Wiltshire Police", "police").await;
    let charity = app.organisation("Carers Charity", "voluntary").await;
    let base = format!("/api/v1/programmes/{}/years/{year}", f.programme);
    app.put(&base, &app.admin, json!({ "late_cancel_full_day_pence": 5000, "no_show_full_day_pence": 7500, "late_cancel_half_day_pence": 2500, "no_show_half_day_pence": 3750, "licence_fee_per_champion_pence": 1000 }))
        .await
        .expect(200);
    for (org, amount) in [(council, 30_000), (health, 20_000), (police, 10_000)] {
        app.put(
            &format!("{base}/contributions/{org}"),
            &app.admin,
            json!({ "amount_pence": amount }),
        )
        .await
        .expect(200);
    }
    let people = |org: Uuid, prefix: &'static str, n: usize| {
        let app = &app;
        async move {
            let mut out = Vec::new();
            for i in 0..n {
                out.push(
                    app.person(
                        &format!("{prefix}{i}"),
                        &format!("{prefix}{i}@example.org"),
                        org,
                        &format!("{prefix}{i}"),
                    )
                    .await,
                );
            }
            out
        }
    };
    let c = people(council, "c", 4).await;
    let h = people(health, "h", 4).await;
    let p = people(police, "p", 1).await;
    let v = people(charity, "v", 2).await;
    let s1 = session(&app, f.champion, 20, 10).await;
    let s2 = session(&app, f.champion, 22, 10).await;
    for cost in [
        json!({ "category": "venue", "session_id": s1, "amount_pence": 12000 }),
        json!({ "category": "trainer", "session_id": s2, "amount_pence": 18000 }),
        json!({ "category": "other", "amount_pence": 6001, "description": "Printing workbooks" }),
    ] {
        app.post(&format!("{base}/costs"), &app.admin, cost)
            .await
            .expect(201);
    }
    let mut booked = std::collections::HashMap::new();
    for person in [c[0], c[1], c[2], h[0], p[0], v[0]] {
        booked.insert(
            person,
            id_of(&app.book(s1, person, &app.admin).await.expect(201).body),
        );
    }
    for person in [c[3], h[1], h[2], v[1]] {
        booked.insert(
            person,
            id_of(&app.book(s2, person, &app.admin).await.expect(201).body),
        );
    }
    // Two days before S1: two late cancellations; health sends a substitute; council's is waived.
    app.clock.advance(Duration::days(18));
    for person in [h[0], c[2]] {
        let late = app
            .post(
                &format!("/api/v1/bookings/{}/cancel", booked[&person]),
                &app.admin,
                json!({}),
            )
            .await
            .expect(200);
        assert_eq!(late.body["late_cancellation"], true);
    }
    booked.insert(
        h[3],
        id_of(&app.book(s1, h[3], &app.admin).await.expect(201).body),
    );
    let waived = app
        .post(
            &format!("/api/v1/bookings/{}/waive-charge", booked[&c[2]]),
            &app.admin,
            json!({ "reason": "Bereavement" }),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(
        (
            waived["amount_pence"].as_i64(),
            waived["tariff_pence"].as_i64()
        ),
        (Some(0), Some(5000))
    );
    app.post(
        &format!("/api/v1/bookings/{}/waive-charge", booked[&c[0]]),
        &app.admin,
        json!({ "reason": "x" }),
    )
    .await
    .problem(409);

    app.clock.advance(Duration::days(5));
    for (session, present, absent) in [
        (s1, vec![c[0], c[1], h[3], v[0]], vec![p[0]]),
        (s2, vec![c[3], h[1], h[2]], vec![v[1]]),
    ] {
        let marks: Vec<Value> = present
            .iter()
            .map(|x| json!({ "booking_id": booked[x], "sitting": 1, "present": true }))
            .chain(
                absent
                    .iter()
                    .map(|x| json!({ "booking_id": booked[x], "sitting": 1, "present": false })),
            )
            .collect();
        app.put(
            &format!("/api/v1/sessions/{session}/attendance"),
            &app.admin,
            json!({ "marks": marks }),
        )
        .await
        .expect(200);
        app.post(
            &format!("/api/v1/sessions/{session}/complete"),
            &app.admin,
            json!({}),
        )
        .await
        .expect(200);
    }

    let charges = app
        .get(&format!("{base}/charges"), &app.admin)
        .await
        .expect(200)
        .body;
    let mut owed: Vec<(String, i64, Option<String>)> = charges
        .as_array()
        .into_iter()
        .flatten()
        .map(|ch| {
            (
                ch["kind"].as_str().unwrap_or("").to_owned(),
                ch["amount_pence"].as_i64().unwrap_or(-1),
                ch["waived_reason"].as_str().map(str::to_owned),
            )
        })
        .collect();
    owed.sort();
    assert_eq!(
        owed,
        [
            (
                "late_cancellation".to_owned(),
                0,
                Some("Bereavement".to_owned())
            ),
            (
                "late_cancellation".to_owned(),
                0,
                Some("substitute attended".to_owned())
            ),
            ("no_show".to_owned(), 7500, None),
            ("no_show".to_owned(), 7500, None),
        ]
    );

    // By hand: 20 places offered; 7 champions trained (fee 7,000) + costs 36,001 = 43,001.
    // Shares of 60,000: 5000 / 3333 / 1667 / 0 bp (the spare basis point to police's .67).
    // Fair share of 20 places: 10 / 7 / 3 / 0 (the spare place to health's .67).
    // Used 3 / 3 / 1 / 2 = 9; costs 43,001 × used / 9 = 14333.67 / 14333.67 / 4777.89 / 9555.78:
    // floors 42,998, the 3 spare pence to police (.89), charity (.78), council (.67, first of a tie).
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
    assert_eq!(
        (
            report["places_offered"].as_i64(),
            report["champions_trained"].as_i64()
        ),
        (Some(20), Some(7))
    );
    assert_eq!(
        (
            report["total_costs_pence"].as_i64(),
            report["cost_per_place_pence"].as_i64()
        ),
        (Some(43_001), Some(4778))
    );
    assert_eq!(
        figures(line(&report, "Wiltshire Council")),
        [30000, 5000, 10, 3, 3, 0, 1, 3, -7, 0, 14334, 15666]
    );
    assert_eq!(
        figures(line(&report, "NHS Health")),
        [20000, 3333, 7, 3, 3, 0, 1, 3, -4, 0, 14333, 5667]
    );
    assert_eq!(
        figures(line(&report, "Wiltshire Police")),
        [10000, 1667, 3, 1, 0, 1, 0, 1, -2, 7500, 4778, -2278]
    );
    assert_eq!(
        figures(line(&report, "Carers Charity")),
        [0, 0, 0, 2, 1, 1, 0, 2, 2, 7500, 9556, -17056]
    );
    assert_eq!(
        figures(&report["totals"]),
        [60000, 10000, 20, 9, 7, 2, 2, 9, -11, 15000, 43001, 1999]
    );

    // A partner sees its own line and the programme totals.
    let partner = app.key(KeyRole::Partner, Some(police), None).await;
    let theirs = app
        .get(
            &format!(
                "/api/v1/reports/partners?programme_id={}&year={year}",
                f.programme
            ),
            &partner,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(theirs["partners"].as_array().map(Vec::len), Some(1));
    assert_eq!(theirs["totals"]["balance_pence"], 1999);
    let their_charges = app
        .get(&format!("{base}/charges"), &partner)
        .await
        .expect(200)
        .body;
    assert_eq!(their_charges.as_array().map(Vec::len), Some(1));
    let shares = app
        .get(&format!("{base}/contributions"), &partner)
        .await
        .expect(200)
        .body;
    assert_eq!(
        shares,
        json!([{ "organisation_id": police, "amount_pence": 10000, "share_bp": 1667 }])
    );

    // CSV opens as a table: a header row, one partner per line, the totals last, quoted fields.
    let csv = app
        .client
        .get(format!(
            "/api/v1/reports/partners?programme_id={}&year={year}",
            f.programme
        ))
        .header("Authorization", format!("Bearer {}", app.admin))
        .header("Accept", "text/csv")
        .send()
        .await;
    csv.assert_status_is_ok();
    csv.assert_content_type("text/csv; charset=utf-8");
    let text = csv.0.into_body().into_string().await.unwrap_or_default();
    let rows: Vec<&str> = text.split("\r\n").filter(|r| !r.is_empty()).collect();
    assert_eq!(rows.len(), 6);
    assert!(rows[0].starts_with("\"organisation_id\",\"name\",\"sector\",\"contribution_pence\""));
    assert!(
        rows.iter()
            .all(|r| r.starts_with('"') && r.ends_with('"') && r.matches("\",\"").count() == 14)
    );
    assert!(rows[5].contains("\"Total\"") && rows[5].ends_with("\"1999\""));
}

#[tokio::test]
async fn costs_and_contributions_are_validated() {
    let app = TestApp::spawn().await;
    let f = ftt(&app).await;
    let year = financial_year(today(&app));
    let base = format!("/api/v1/programmes/{}/years/{year}", f.programme);
    let org = app.organisation("Council", "council").await;
    let bad = app
        .put(
            &format!("{base}/contributions/{org}"),
            &app.admin,
            json!({ "amount_pence": -1 }),
        )
        .await
        .problem(422);
    assert_eq!(cascade_tests::Reply::error_fields(&bad), ["amount_pence"]);
    app.put(
        &format!("{base}/contributions/{}", Uuid::now_v7()),
        &app.admin,
        json!({ "amount_pence": 1 }),
    )
    .await
    .problem(404);
    let no_session = app
        .post(
            &format!("{base}/costs"),
            &app.admin,
            json!({ "category": "venue", "amount_pence": 100 }),
        )
        .await
        .problem(422);
    assert_eq!(
        cascade_tests::Reply::error_fields(&no_session),
        ["session_id"]
    );
    let undescribed = app
        .post(
            &format!("{base}/costs"),
            &app.admin,
            json!({ "category": "other", "amount_pence": 0 }),
        )
        .await
        .problem(422);
    assert_eq!(
        cascade_tests::Reply::error_fields(&undescribed),
        ["amount_pence", "description"]
    );
    let other_year = session(&app, f.champion, 400, 10).await;
    let wrong = app
        .post(
            &format!("{base}/costs"),
            &app.admin,
            json!({ "category": "venue", "session_id": other_year, "amount_pence": 100 }),
        )
        .await
        .problem(422);
    assert_eq!(cascade_tests::Reply::error_fields(&wrong), ["session_id"]);
    let cost = app
        .post(
            &format!("{base}/costs"),
            &app.admin,
            json!({ "category": "other", "amount_pence": 250, "description": "Tea" }),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(
        app.get(&format!("{base}/costs"), &app.admin)
            .await
            .expect(200)
            .body
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    app.request(
        "DELETE",
        &format!("{base}/costs/{}", id_of(&cost)),
        Some(&app.admin),
        None,
    )
    .await
    .expect(204);
    app.request(
        "DELETE",
        &format!("{base}/costs/{}", id_of(&cost)),
        Some(&app.admin),
        None,
    )
    .await
    .problem(404);
    assert_eq!(app.count(entities::costs::Entity).await, 0);
}
