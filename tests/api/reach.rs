//! The reach report, kept as a rollup in each cascade session's transaction, against the full
//! computation from what was recorded: random cascade sessions, corrections, deletions and a
//! partner's change of sector, checked for the whole programme, a partner and a date range.

use std::collections::{BTreeMap, HashMap};

use cascade::domain::api_keys::KeyRole;
use cascade_tests::{TestApp, id_of};
use chrono::{Duration, NaiveDate};
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    progression::{ftt, run_session, today},
    trainers::bootstrap_accredited,
};

/// A small deterministic generator (xorshift), so a failing seed can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[self.below(from.len())]
    }
}

/// A cascade session as the test recorded it: each named attendee with the organisation and
/// staff group they had then, and the headcounts.
#[derive(Clone)]
struct Delivery {
    lead: Uuid,
    on: NaiveDate,
    locality: Option<Uuid>,
    named: Vec<(Option<Uuid>, Option<Uuid>)>,
    headcounts: Vec<(Uuid, Option<Uuid>, i64)>,
}

type Lines = BTreeMap<String, (i64, i64)>;

/// The report computed from every recorded session: what the rollup must equal.
fn expected(
    deliveries: &HashMap<Uuid, Delivery>,
    sectors: &HashMap<Uuid, &str>,
    scope: Option<Uuid>,
    from: NaiveDate,
    to: NaiveDate,
) -> (i64, i64, i64, BTreeMap<&'static str, Lines>) {
    let key = |id: Option<Uuid>| id.map_or_else(|| "unknown".to_owned(), |id| id.to_string());
    let (mut sessions, mut named, mut headcount) = (0, 0, 0);
    let mut out: BTreeMap<&'static str, Lines> = BTreeMap::new();
    for d in deliveries.values().filter(|d| d.on >= from && d.on <= to) {
        sessions += 1;
        let units: Vec<(Option<Uuid>, Option<Uuid>, i64)> = d
            .named
            .iter()
            .map(|(o, g)| (*o, *g, 1))
            .chain(d.headcounts.iter().map(|(o, g, n)| (Some(*o), *g, *n)))
            .collect();
        named += d.named.len() as i64;
        headcount += d.headcounts.iter().map(|h| h.2).sum::<i64>();
        let mut lines: BTreeMap<(&'static str, String), i64> = BTreeMap::new();
        for (org, group, n) in units
            .into_iter()
            .filter(|u| scope.is_none() || u.0 == scope)
        {
            let sector = org
                .and_then(|o| sectors.get(&o))
                .map_or("unknown", |s| *s)
                .to_owned();
            for line in [
                ("by_trainer", d.lead.to_string()),
                ("by_partner", key(org)),
                ("by_sector", sector),
                ("by_locality", key(d.locality)),
                ("by_staff_group", key(group)),
            ] {
                *lines.entry(line).or_default() += n;
            }
        }
        for ((breakdown, line), n) in lines {
            let l = out.entry(breakdown).or_default().entry(line).or_default();
            l.0 += 1;
            l.1 += n;
        }
    }
    (sessions, named, headcount, out)
}

fn reported(report: &Value, breakdown: &str) -> Lines {
    report[breakdown]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| {
            (
                l["key"].as_str().unwrap_or_default().to_owned(),
                (
                    l["cascade_sessions"].as_i64().unwrap_or(-1),
                    l["people_reached"].as_i64().unwrap_or(-1),
                ),
            )
        })
        .collect()
}

/// What the test recorded, to compute the report from.
struct Recorded<'a> {
    programme: Uuid,
    deliveries: &'a HashMap<Uuid, Delivery>,
    sectors: &'a HashMap<Uuid, &'a str>,
    seed: u64,
}

/// The report as `key` sees it (`scope`: a partner's organisation) equals the computation.
async fn check(
    app: &TestApp,
    key: &str,
    r: &Recorded<'_>,
    scope: Option<Uuid>,
    from: NaiveDate,
    to: NaiveDate,
) {
    let Recorded {
        programme,
        deliveries,
        sectors,
        seed,
    } = *r;
    let report = app
        .get(
            &format!("/api/v1/reports/reach?programme_id={programme}&from={from}&to={to}"),
            key,
        )
        .await
        .expect(200)
        .body;
    let all = expected(deliveries, sectors, None, from, to);
    let (sessions, named, headcount, _) = all;
    assert_eq!(
        (
            report["cascade_sessions"].as_i64(),
            report["named"].as_i64(),
            report["headcount"].as_i64(),
            report["people_reached"].as_i64()
        ),
        (
            Some(sessions),
            Some(named),
            Some(headcount),
            Some(named + headcount)
        ),
        "totals, seed {seed}"
    );
    let (_, _, _, lines) = expected(deliveries, sectors, scope, from, to);
    for breakdown in [
        "by_trainer",
        "by_partner",
        "by_sector",
        "by_locality",
        "by_staff_group",
    ] {
        assert_eq!(
            reported(&report, breakdown),
            lines.get(breakdown).cloned().unwrap_or_default(),
            "{breakdown} for {scope:?} from {from} to {to}, seed {seed}"
        );
    }
    // Every trainer here trained in the one cohort: its line is the sum of theirs.
    let cohort = reported(&report, "by_cohort");
    let trainers = lines.get("by_trainer").cloned().unwrap_or_default();
    if trainers.is_empty() {
        assert!(cohort.is_empty(), "seed {seed}");
    } else {
        let sum = trainers
            .values()
            .fold((0, 0), |a, l| (a.0 + l.0, a.1 + l.1));
        assert_eq!(cohort.values().copied().collect::<Vec<_>>(), vec![sum]);
    }
}

#[tokio::test]
async fn reach_kept_in_the_write_equals_the_full_computation_on_random_data() {
    let seed = std::env::var("REACH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        });
    println!("REACH_SEED={seed}");
    let mut rng = Rng(seed);
    let app = TestApp::spawn().await;
    let f = ftt(&app).await;
    let mut sectors: HashMap<Uuid, &str> = HashMap::new();
    let mut orgs = Vec::new();
    for (name, sector) in [
        ("Wiltshire Council", "council"),
        ("Great Western Hospitals", "health"),
        ("Wiltshire Police", "police"),
        ("Wiltshire Parent Carer Council", "voluntary"),
    ] {
        let org = app.organisation(name, sector).await;
        sectors.insert(org, sector);
        orgs.push(org);
    }
    let mut groups = vec![None];
    for name in ["Early years", "Social care", "Police"] {
        groups.push(Some(app.reference("staff-groups", name).await));
    }
    let mut localities = vec![None];
    for name in ["Calne", "Devizes", "Melksham"] {
        localities.push(Some(app.reference("localities", name).await));
    }
    let mut staff: Vec<(Uuid, Option<Uuid>, Option<Uuid>)> = Vec::new();
    for i in 0..30 {
        let org = rng.pick(&orgs);
        let group = rng.pick(&groups);
        let person = app
            .person(
                &format!("Siân Ó Briain {i}"),
                &format!("staff{i}@example.org"),
                org,
                &format!("S{i}"),
            )
            .await;
        if let Some(group) = group {
            app.patch(
                &format!("/api/v1/people/{person}"),
                &app.admin,
                json!({ "staff_group_id": group }),
            )
            .await
            .expect(200);
        }
        staff.push((person, Some(org), group));
    }
    let mut trainers = Vec::new();
    for i in 0..3 {
        trainers.push(
            app.person(
                &format!("Trainer {i}"),
                &format!("trainer{i}@example.org"),
                orgs[0],
                &format!("T{i}"),
            )
            .await,
        );
    }
    run_session(&app, f.champion, &trainers).await;
    for t in &trainers {
        bootstrap_accredited(&app, &f, *t).await;
    }
    let first = today(&app);
    app.clock.advance(Duration::days(20));

    let mut deliveries: HashMap<Uuid, Delivery> = HashMap::new();
    let mut ids: Vec<Uuid> = Vec::new();
    for step in 0..40 {
        if step == 25 {
            // A partner changes sector: what reached its staff moves to the new sector's lines.
            app.patch(
                &format!("/api/v1/organisations/{}", orgs[1]),
                &app.admin,
                json!({ "sector": "school" }),
            )
            .await
            .expect(200);
            sectors.insert(orgs[1], "school");
        }
        let roll = rng.below(10);
        if roll == 0 && !ids.is_empty() {
            let id = ids.swap_remove(rng.below(ids.len()));
            app.request(
                "DELETE",
                &format!("/api/v1/cascade-sessions/{id}"),
                Some(&app.admin),
                None,
            )
            .await
            .expect(204);
            deliveries.remove(&id);
            continue;
        }
        let mut attendees: Vec<(Uuid, Option<Uuid>, Option<Uuid>)> = Vec::new();
        for _ in 0..rng.below(7) {
            let s = rng.pick(&staff);
            if !attendees.iter().any(|a| a.0 == s.0) {
                attendees.push(s);
            }
        }
        let headcounts: Vec<(Uuid, Option<Uuid>, i64)> = (0..rng.below(3)
            + usize::from(attendees.is_empty()))
            .map(|_| (rng.pick(&orgs), rng.pick(&groups), 1 + rng.below(20) as i64))
            .fold(Vec::new(), |mut all: Vec<(Uuid, Option<Uuid>, i64)>, h| {
                // One row per organisation and staff group.
                if !all.iter().any(|a| (a.0, a.1) == (h.0, h.1)) {
                    all.push(h);
                }
                all
            });
        let delivery = Delivery {
            lead: rng.pick(&trainers),
            on: first + Duration::days(rng.below(21) as i64),
            locality: rng.pick(&localities),
            named: attendees.iter().map(|a| (a.1, a.2)).collect(),
            headcounts,
        };
        let body = json!({
            "course_id": f.cascade, "lead_trainer_id": delivery.lead, "delivered_on": delivery.on,
            "start": "14:00", "duration_minutes": 90, "mode": "in_person",
            "locality_id": delivery.locality,
            "attendee_ids": attendees.iter().map(|a| a.0).collect::<Vec<_>>(),
            "headcounts": delivery.headcounts.iter().map(|(o, g, n)| json!({
                "organisation_id": o, "staff_group_id": g, "count": n,
            })).collect::<Vec<_>>(),
        });
        let id = if roll < 3 && !ids.is_empty() {
            // A correction replaces a recorded session's content.
            let id = rng.pick(&ids);
            app.put(&format!("/api/v1/cascade-sessions/{id}"), &app.admin, body)
                .await
                .expect(200);
            id
        } else {
            let id = id_of(
                &app.post("/api/v1/cascade-sessions", &app.admin, body)
                    .await
                    .expect(201)
                    .body,
            );
            ids.push(id);
            id
        };
        deliveries.insert(id, delivery);
    }
    assert!(deliveries.len() > 10, "seed {seed}");

    // A database older than the rollup: `cascade` fills it from the attendance on start.
    let report = |key: String| {
        let app = &app;
        let url = format!(
            "/api/v1/reports/reach?programme_id={}&from={first}&to={}",
            f.programme,
            today(app)
        );
        async move { app.get(&url, &key).await.expect(200).body }
    };
    let before = report(app.admin.clone()).await;
    entities::reach_rollup::Entity::delete_many()
        .exec(&app.db)
        .await
        .expect("empty the rollup");
    assert_eq!(report(app.admin.clone()).await["cascade_sessions"], 0);
    cascade::domain::migrate(&app.db).await.expect("migrate");
    assert_eq!(report(app.admin.clone()).await, before);

    let last = today(&app);
    let partner = rng.pick(&orgs);
    let partner_key = app.key(KeyRole::Partner, Some(partner), None).await;
    let middle = first + Duration::days(7);
    let recorded = Recorded {
        programme: f.programme,
        deliveries: &deliveries,
        sectors: &sectors,
        seed,
    };
    for (from, to) in [(first, last), (middle, middle + Duration::days(6))] {
        check(&app, &app.admin, &recorded, None, from, to).await;
        check(&app, &partner_key, &recorded, Some(partner), from, to).await;
    }
}
