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
    // Sessions in three weeks, the report once they are over: all in one programme year.
    app.leave_room_in_programme_year(30);
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
    let c = app.people(council, "c", 4).await;
    let h = app.people(health, "h", 4).await;
    let p = app.people(police, "p", 1).await;
    let v = app.people(charity, "v", 2).await;
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
    let mut owed: Vec<(String, i64, Option<String>)> = charges["items"]
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
    // floors 42,998, the 3 spare pence to police (.89), charity (.78), and of the tie at .67 to
    // NHS Health, listed (by name) before Wiltshire Council.
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
        [30000, 5000, 10, 3, 3, 0, 1, 3, -7, 0, 14333, 15667]
    );
    assert_eq!(
        figures(line(&report, "NHS Health")),
        [20000, 3333, 7, 3, 3, 0, 1, 3, -4, 0, 14334, 5666]
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
    assert_eq!(their_charges["items"].as_array().map(Vec::len), Some(1));
    // Another organisation's filter shows a partner nothing.
    let not_theirs = app
        .get(
            &format!("{base}/charges?organisation_id={council}"),
            &partner,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(not_theirs["items"], json!([]));
    // Filters and pages: by hand, 2 no-shows (owed) and 2 late cancellations (waived).
    let count = |query: String| {
        let app = &app;
        let base = &base;
        async move {
            app.get(&format!("{base}/charges?{query}"), &app.admin)
                .await
                .expect(200)
                .body["items"]
                .as_array()
                .map_or(0, Vec::len)
        }
    };
    assert_eq!(count("kind=no_show".to_owned()).await, 2);
    assert_eq!(
        count("kind=late_cancellation&waived=true".to_owned()).await,
        2
    );
    assert_eq!(count("waived=false".to_owned()).await, 2);
    assert_eq!(count(format!("organisation_id={council}")).await, 1);
    let first = app
        .get(&format!("{base}/charges?limit=3"), &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(first["items"].as_array().map(Vec::len), Some(3));
    let rest = app
        .get(
            &format!(
                "{base}/charges?limit=3&cursor={}",
                first["next_cursor"].as_str().unwrap_or("")
            ),
            &app.admin,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(rest["items"].as_array().map(Vec::len), Some(1));
    assert!(rest.get("next_cursor").is_none());
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

    // A finance officer rebuilds every penny from the CSV alone: the totals line gives what was
    // shared out (10,000 basis points, the places offered, the costs), each line its weight, and
    // spare units go to the largest fractions, ties to the line listed first.
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            r.strip_prefix('"')
                .and_then(|r| r.strip_suffix('"'))
                .unwrap_or(r)
                .split("\",\"")
                .map(str::to_owned)
                .collect()
        })
        .collect();
    let col = |name: &str| {
        table[0]
            .iter()
            .position(|h| h == name)
            .unwrap_or(usize::MAX)
    };
    let num = |row: &Vec<String>, name: &str| row[col(name)].parse::<i64>().unwrap_or(i64::MIN);
    let (lines, total) = (&table[1..5], &table[5]);
    let rebuild = |whole: i64, weights: &[i64]| -> Vec<i64> {
        let sum: i64 = weights.iter().sum();
        let mut parts: Vec<i64> = weights.iter().map(|w| whole * w / sum).collect();
        let mut order: Vec<usize> = (0..weights.len()).collect();
        order.sort_by_key(|i| (std::cmp::Reverse(whole * weights[*i] % sum), *i));
        let spare = whole - parts.iter().sum::<i64>();
        for i in order.into_iter().take(spare as usize) {
            parts[i] += 1;
        }
        parts
    };
    let contributions: Vec<i64> = lines.iter().map(|l| num(l, "contribution_pence")).collect();
    let used: Vec<i64> = lines.iter().map(|l| num(l, "used")).collect();
    let shares = rebuild(10_000, &contributions);
    let fair = rebuild(num(total, "fair_share_places"), &contributions);
    let consumed = rebuild(num(total, "cost_consumed_pence"), &used);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(num(l, "share_bp"), shares[i], "{l:?}");
        assert_eq!(num(l, "fair_share_places"), fair[i], "{l:?}");
        assert_eq!(num(l, "cost_consumed_pence"), consumed[i], "{l:?}");
        assert_eq!(
            num(l, "balance_pence"),
            contributions[i] - consumed[i] - num(l, "charges_pence"),
            "{l:?}"
        );
    }
    for name in [
        "contribution_pence",
        "charges_pence",
        "cost_consumed_pence",
        "balance_pence",
    ] {
        assert_eq!(
            lines.iter().map(|l| num(l, name)).sum::<i64>(),
            num(total, name),
            "{name}"
        );
    }
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

#[tokio::test]
async fn progress_and_reserved_places_against_targets_with_a_board_pdf() {
    let app = TestApp::spawn().await;
    // Sessions in three and in nine weeks, both counted in this programme year's figures.
    app.leave_room_in_programme_year(70);
    let programme = app.programme("five-to-thrive").await;
    let year = financial_year(today(&app));
    let course = json!({
        "programme_id": programme, "code": "ftt-champion", "title": "Champion training", "kind": "champion",
        "duration_minutes": 360, "cpd_hours": 6, "default_capacity": 10,
        "reserved_places": { "sector": "voluntary", "share_bp": 2000 },
    });
    let champion = id_of(
        &app.post("/api/v1/courses", &app.admin, course)
            .await
            .expect(201)
            .body,
    );
    let base = format!("/api/v1/programmes/{programme}/years/{year}");
    app.put(&base, &app.admin, json!({ "champion_sessions_target": 12, "champions_target": 600, "trainers_target": 25, "reserved_share_bp": 1000, "reach_target": 5000, "licence_fee_per_champion_pence": 1000 }))
        .await
        .expect(200);
    app.post(
        &format!("{base}/costs"),
        &app.admin,
        json!({ "category": "other", "amount_pence": 9001, "description": "Licences" }),
    )
    .await
    .expect(201);
    let council = app.organisation("Wiltshire Council", "council").await;
    let charity = app.organisation("Carers Charity", "voluntary").await;
    let calne = app.reference("localities", "Calne").await;
    let ey = app.reference("staff-groups", "Early years").await;
    let mut staff = Vec::new();
    for i in 0..4 {
        staff.push(
            app.person(
                &format!("S{i}"),
                &format!("s{i}@example.org"),
                council,
                &format!("S{i}"),
            )
            .await,
        );
    }
    let vol = app.person("V", "v@example.org", charity, "V").await;
    app.patch(
        &format!("/api/v1/people/{}", staff[0]),
        &app.admin,
        json!({ "locality_id": calne, "staff_group_id": ey }),
    )
    .await
    .expect(200);

    // Session A (capacity 10, 2 reserved): three council staff and the volunteer attend.
    // Session B, still scheduled: one more council person confirmed.
    let a = session(&app, champion, 20, 10).await;
    let b = session(&app, champion, 60, 10).await;
    let mut booked = Vec::new();
    for p in [staff[0], staff[1], staff[2], vol] {
        booked.push(id_of(&app.book(a, p, &app.admin).await.expect(201).body));
    }
    app.book(b, staff[3], &app.admin).await.expect(201);
    app.clock.advance(Duration::days(21));
    let marks: Vec<Value> = booked
        .iter()
        .map(|id| json!({ "booking_id": id, "sitting": 1, "present": true }))
        .collect();
    app.put(
        &format!("/api/v1/sessions/{a}/attendance"),
        &app.admin,
        json!({ "marks": marks }),
    )
    .await
    .expect(200);
    app.post(
        &format!("/api/v1/sessions/{a}/complete"),
        &app.admin,
        json!({}),
    )
    .await
    .expect(200);

    let report = app
        .get(
            &format!("/api/v1/reports/progress?programme_id={programme}&year={year}"),
            &app.admin,
        )
        .await
        .expect(200)
        .body;
    let target = |name: &str| -> (Option<i64>, i64, i64) {
        let t = report["targets"]
            .as_array()
            .and_then(|ts| ts.iter().find(|t| t["target"] == name))
            .cloned()
            .unwrap_or(Value::Null);
        (
            t["target_value"].as_i64(),
            t["actual"].as_i64().unwrap_or(-1),
            t["forecast"].as_i64().unwrap_or(-1),
        )
    };
    assert_eq!(target("champion_sessions"), (Some(12), 1, 2));
    assert_eq!(target("champions_trained"), (Some(600), 4, 5));
    assert_eq!(target("active_trainers"), (Some(25), 0, 0));
    // Actual, to date: session A was held, 4 places attended, 1 by the voluntary sector: 2500 bp.
    // Forecast: 5 places held on champion sessions (B's confirmed place too), 1 by the sector:
    // 2000 bp.
    assert_eq!(target("reserved_share_bp"), (Some(1000), 2500, 2000));
    assert_eq!(target("cascade_reach"), (Some(5000), 0, 0));
    assert_eq!(
        (
            report["sessions_delivered"].as_i64(),
            report["sessions_planned"].as_i64()
        ),
        (Some(1), Some(1))
    );
    // Costs 9,001 + 4 champions × 1,000 = 13,001; per champion 3,250.25 → 3,250.
    assert_eq!(
        (
            report["total_costs_pence"].as_i64(),
            report["cost_per_champion_pence"].as_i64()
        ),
        (Some(13_001), Some(3250))
    );
    assert_eq!(report["cost_per_person_reached_pence"], Value::Null);
    let by = |dim: &str| -> Vec<(String, i64)> {
        report[dim]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| {
                (
                    l["name"].as_str().unwrap_or("").to_owned(),
                    l["count"].as_i64().unwrap_or(0),
                )
            })
            .collect()
    };
    assert_eq!(
        by("champions_by_sector"),
        [("council".to_owned(), 3), ("voluntary".to_owned(), 1)]
    );
    assert_eq!(
        by("champions_by_locality"),
        [("Unknown".to_owned(), 3), ("Calne".to_owned(), 1)]
    );
    assert_eq!(
        by("champions_by_staff_group"),
        [("Unknown".to_owned(), 3), ("Early years".to_owned(), 1)]
    );

    let reserved = app
        .get(
            &format!("/api/v1/reports/reserved-places?programme_id={programme}&year={year}"),
            &app.admin,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(reserved["target_share_bp"], 1000);
    let line = |l: &Value| -> Vec<i64> {
        [
            "capacity",
            "reserved_offered",
            "taken_by_sector",
            "released_to_general",
            "sector_places",
            "places_held",
            "share_received_bp",
            "sector_attended",
            "places_attended",
            "share_attended_bp",
        ]
        .iter()
        .map(|k| l[k].as_i64().unwrap_or(-1))
        .collect()
    };
    assert_eq!(
        line(&reserved["sessions"][0]),
        [10, 2, 1, 1, 1, 4, 2500, 1, 4, 2500]
    );
    // Session B's places are still held for the sector (its release is 14 days before day 60):
    // nothing of it has gone to general use yet.
    assert_eq!(
        line(&reserved["sessions"][1]),
        [10, 2, 0, 0, 0, 1, 0, 0, 0, 0]
    );
    assert_eq!(
        line(&reserved["totals"]),
        [20, 4, 1, 1, 1, 5, 2000, 1, 4, 2500]
    );

    let csv = app
        .client
        .get(format!(
            "/api/v1/reports/reserved-places?programme_id={programme}&year={year}"
        ))
        .header("Authorization", format!("Bearer {}", app.admin))
        .header("Accept", "text/csv")
        .send()
        .await;
    csv.assert_content_type("text/csv; charset=utf-8");
    let text = csv.0.into_body().into_string().await.unwrap_or_default();
    assert_eq!(
        text.split("\r\n").filter(|l| !l.is_empty()).count(),
        4,
        "header, two sessions, totals"
    );
    // Past B's release time its two unused reserved places count as released.
    app.clock.advance(Duration::days(26));
    let released = app
        .get(
            &format!("/api/v1/reports/reserved-places?programme_id={programme}&year={year}"),
            &app.admin,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(
        line(&released["sessions"][1]),
        [10, 2, 0, 2, 0, 1, 0, 0, 0, 0]
    );
    app.clock.advance(Duration::days(-26));
    let progress_csv = app
        .client
        .get(format!(
            "/api/v1/reports/progress?programme_id={programme}&year={year}"
        ))
        .header("Authorization", format!("Bearer {}", app.admin))
        .header("Accept", "text/csv")
        .send()
        .await;
    let text = progress_csv
        .0
        .into_body()
        .into_string()
        .await
        .unwrap_or_default();
    assert!(text.starts_with("\"measure\",\"name\",\"target\",\"actual\",\"forecast\"\r\n\"champion_sessions\",\"Champion sessions\",\"12\",\"1\",\"2\"\r\n"), "{text}");

    let pdf = app
        .get(
            &format!("/api/v1/reports/progress/pdf?programme_id={programme}&year={year}"),
            &app.admin,
        )
        .await
        .expect(200);
    // Page 1: the targets and partners; then the dashboard's breakdown charts.
    assert!(cascade_tests::pdf_pages(&pdf.bytes) >= 2);
    let text = cascade_tests::pdf_text(&pdf.bytes);
    for expected in [
        "Champions trained by sector",
        "People reached by the cascade, by partner",
        "Champion sessions",
        "Champions trained",
        "Active trainers",
        "Reserved-sector share",
        "People reached by cascades",
        "4 of 600",
        "Wiltshire Council",
        "20.0% received (target 10.0%)",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
}

/// "Took the place": a colleague from the same organisation placed on the session at or after
/// the late cancellation — booked then or promoted from the waitlist — who attended. One
/// colleague takes one place, so a second late cancellation stays charged.
#[tokio::test]
async fn a_colleague_promoted_from_the_waitlist_waives_one_late_cancellation() {
    let app = TestApp::spawn().await;
    app.leave_room_in_programme_year(30);
    let f = ftt(&app).await;
    let year = financial_year(today(&app));
    let base = format!("/api/v1/programmes/{}/years/{year}", f.programme);
    app.put(
        &base,
        &app.admin,
        json!({ "late_cancel_full_day_pence": 5000, "no_show_full_day_pence": 7500 }),
    )
    .await
    .expect(200);
    let council = app.organisation("Wiltshire Council", "council").await;
    let c = app.people(council, "c", 3).await;
    let s = session(&app, f.champion, 10, 2).await;
    let mut booked = Vec::new();
    for person in &c {
        booked.push(app.book(s, *person, &app.admin).await.expect(201).body);
    }
    assert_eq!(
        booked[2]["status"], "waitlisted",
        "booked before anyone cancelled"
    );
    app.clock.advance(Duration::days(8));
    for b in &booked[..2] {
        let late = app
            .post(
                &format!("/api/v1/bookings/{}/cancel", id_of(b)),
                &app.admin,
                json!({}),
            )
            .await
            .expect(200);
        assert_eq!(late.body["late_cancellation"], true);
    }
    let promoted = app
        .get(
            &format!("/api/v1/bookings/{}", id_of(&booked[2])),
            &app.admin,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(promoted["status"], "confirmed");
    app.clock.advance(Duration::days(3));
    app.put(
        &format!("/api/v1/sessions/{s}/attendance"),
        &app.admin,
        json!({ "marks": [{ "booking_id": id_of(&booked[2]), "sitting": 1, "present": true }] }),
    )
    .await
    .expect(200);
    app.post(
        &format!("/api/v1/sessions/{s}/complete"),
        &app.admin,
        json!({}),
    )
    .await
    .expect(200);
    let charges = app
        .get(&format!("{base}/charges"), &app.admin)
        .await
        .expect(200)
        .body;
    let of = |b: &Value| {
        charges["items"]
            .as_array()
            .and_then(|l| l.iter().find(|ch| ch["booking_id"] == b["id"]))
            .map(|ch| {
                (
                    ch["amount_pence"].as_i64(),
                    ch["waived_reason"].as_str().map(str::to_owned),
                )
            })
    };
    // By hand: the first cancellation's place went to c2 (promoted, attended): waived; the
    // second has no colleague left to take it: 5,000p.
    assert_eq!(
        of(&booked[0]),
        Some((Some(0), Some("substitute attended".to_owned())))
    );
    assert_eq!(of(&booked[1]), Some((Some(5000), None)));
}
