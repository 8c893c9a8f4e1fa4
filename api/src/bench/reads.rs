//! `cascade bench reads`: the read paths at concurrency 32 — a filtered session list, a person's
//! bookings, the reach report and the partner report — as the cascade attendance tables grow
//! through 10,000, 100,000 and 1,000,000 rows, so the growth curve shows.
//!
//! Reference data, sessions, staff and bookings are made through the API; the cascade
//! attendance rows are written in bulk straight to the database (through the API they would
//! take hours), in the shape the API writes them: 20 named attendees per cascade session,
//! delivered over the programme year so far, led by 50 trainers, plus a headcount row on every
//! tenth session.

use std::{fmt::Write as _, time::Instant};

use chrono::{Datelike, Duration as Days, NaiveDate};
use entities::{cascade_attendees, cascade_headcounts, cascade_sessions, enums::DeliveryMode};
use sea_orm::{DatabaseConnection, EntityTrait, Set};
use serde_json::{Value, json};
use uuid::Uuid;

use super::harness::{Figures, Server, id, load, ms, on_each_backend};
use crate::domain::sessions::london_today;

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// A PostgreSQL server URL (its `postgres` database); a fresh database is made on it.
    pub postgres_url: Option<String>,
    /// Cascade attendance rows at each step of the curve.
    pub levels: Vec<usize>,
    /// Requests per list scenario (reports get a tenth as many).
    pub requests: usize,
}

/// Runs every step on SQLite and, when given, PostgreSQL; returns the report.
pub async fn run(options: Options) -> anyhow::Result<String> {
    on_each_backend(options.postgres_url.as_deref(), |url, label| {
        backend(url, label, &options)
    })
    .await
}

struct Seeded {
    programme: Uuid,
    course: Uuid,
    council: Uuid,
    localities: Vec<Uuid>,
    people: Vec<Uuid>,
    booked: Vec<Uuid>,
}

/// The path of the i-th request of a scenario.
type PathOf = Box<dyn Fn(usize) -> String + Send + Sync>;

const STAFF: usize = 20_000;
const PER_SESSION: usize = 20;
const TRAINERS: usize = 50;

async fn backend(url: String, label: &'static str, options: &Options) -> anyhow::Result<String> {
    let server = Server::start(&url).await?;
    let seeded = seed(&server).await?;
    let year = london_today(crate::clock::Clock::system().now()).year()
        - i32::from(london_today(crate::clock::Clock::system().now()).month() < 4);
    let mut out = format!(
        "\n{}: read paths at concurrency 32 over HTTP/1.1 on 127.0.0.1 \
         ({STAFF} staff, 200 sessions, {} bookings)\n{:<44}{}   c1 ms\n",
        label,
        seeded.booked.len(),
        "scenario",
        Figures::HEADER
    );
    let (mut rows, mut delivered) = (0, 0);
    for &level in &options.levels {
        top_up(&server.conn, &seeded, &mut rows, &mut delivered, level).await?;
        let _ = writeln!(out, "cascade attendance rows: {rows}");
        let scenarios: [(&str, usize, PathOf); 4] = [
            (
                "sessions: programme+locality+free, 50",
                options.requests,
                Box::new({
                    let (p, l) = (seeded.programme, seeded.localities.clone());
                    move |i| {
                        format!(
                            "/sessions?programme_id={p}&locality_id={}&has_free_places=true&limit=50",
                            l[i % l.len()]
                        )
                    }
                }),
            ),
            (
                "a person's bookings",
                options.requests,
                Box::new({
                    let b = seeded.booked.clone();
                    move |i| format!("/people/{}/bookings", b[(i * 7919) % b.len()])
                }),
            ),
            (
                "reach report (programme year)",
                options.requests / 10,
                Box::new({
                    let p = seeded.programme;
                    move |_| format!("/reports/reach?programme_id={p}")
                }),
            ),
            (
                "partner report (programme year)",
                options.requests / 10,
                Box::new({
                    let p = seeded.programme;
                    move |_| format!("/reports/partners?programme_id={p}&year={year}")
                }),
            ),
        ];
        for (name, requests, path) in scenarios {
            // One request alone first: its latency, and a check that the path answers.
            let mut alone = Vec::new();
            for i in 0..5 {
                let t = Instant::now();
                server.get(&path(i)).await?;
                alone.push(t.elapsed());
            }
            alone.sort();
            let (client, base, key) = (
                server.client.clone(),
                server.base.clone(),
                server.key.clone(),
            );
            let f = load(requests, 32, move |i| {
                client.get(format!("{base}{}", path(i))).bearer_auth(&key)
            })
            .await;
            let _ = writeln!(out, "  {name:<42}{} {:>7.2}", f.row(), ms(alone[2]));
        }
    }
    let _ = writeln!(
        out,
        "peak RSS of the server process: {:.1} MiB",
        server.peak_rss_mib()
    );
    server.conn.close_by_ref().await.ok();
    Ok(out)
}

async fn seed(server: &Server) -> anyhow::Result<Seeded> {
    let mut orgs = Vec::new();
    for (name, sector) in [
        ("Wiltshire Council", "council"),
        ("BSW Integrated Care Board", "health"),
        ("Wiltshire Parent Carer Council", "voluntary"),
    ] {
        orgs.push(id(&server
            .post("/organisations", &json!({ "name": name, "sector": sector }))
            .await?)?);
    }
    let mut localities = Vec::new();
    for name in [
        "Devizes",
        "Salisbury",
        "Chippenham",
        "Trowbridge",
        "Marlborough",
        "Melksham",
        "Warminster",
        "Calne",
        "Corsham",
        "Amesbury",
    ] {
        localities.push(id(&server
            .post("/localities", &json!({ "name": name }))
            .await?)?);
    }
    let mut groups = Vec::new();
    for name in [
        "Early years",
        "Health visiting",
        "Schools",
        "Police",
        "Social care",
    ] {
        groups.push(id(&server
            .post("/staff-groups", &json!({ "name": name }))
            .await?)?);
    }
    let programme = id(&server
        .post(
            "/programmes",
            &json!({ "code": "ftt", "name": "Five to Thrive" }),
        )
        .await?)?;
    let course = id(&server.post("/courses", &json!({
        "programme_id": programme, "code": "ftt-champion", "title": "Champion training", "kind": "champion",
        "duration_minutes": 360, "cpd_hours": 6, "default_capacity": 20,
    })).await?)?;
    let cascade_course = id(&server.post("/courses", &json!({
        "programme_id": programme, "code": "ftt-cascade", "title": "Five to Thrive cascade session",
        "kind": "cascade", "duration_minutes": 90, "cpd_hours": 1.5, "default_capacity": 30,
    })).await?)?;
    let mut sessions = Vec::new();
    for i in 0..200 {
        let date =
            (crate::clock::Clock::system().now() + Days::days(14 + (i % 90) as i64)).date_naive();
        sessions.push(id(&server.post("/sessions", &json!({
            "course_id": course, "sittings": [{ "date": date, "start": "09:30", "end": "16:00" }],
            "venue": { "name": "Corn Exchange", "locality_id": localities[i % localities.len()] },
            "capacity": 20,
        })).await?)?);
    }
    for (n, org) in orgs.iter().enumerate() {
        let rows: Vec<Value> = (0..STAFF / orgs.len() + usize::from(n == 0) * (STAFF % orgs.len()))
            .map(|i| {
                json!({
                    "external_id": format!("R-{i}"), "name": format!("Siân Ó Briain {n}-{i}"),
                    "email": format!("reads{n}.{i}@example.org"),
                    "staff_group_id": groups[i % groups.len()],
                    "locality_id": localities[i % localities.len()],
                })
            })
            .collect();
        for chunk in rows.chunks(3_000) {
            server
                .post(
                    &format!("/organisations/{org}/people/sync"),
                    &json!({ "people": chunk }),
                )
                .await?;
        }
    }
    let people = server.ids("/people").await?;
    // Half of every session's places booked: 2,000 bookings through the API.
    let mut booked = Vec::new();
    for (i, session) in sessions.iter().enumerate() {
        for j in 0..10 {
            let person = people[TRAINERS + i * 10 + j];
            server
                .post(
                    &format!("/sessions/{session}/bookings"),
                    &json!({ "person_id": person }),
                )
                .await?;
            booked.push(person);
        }
    }
    Ok(Seeded {
        programme,
        course: cascade_course,
        council: orgs[0],
        localities,
        people,
        booked,
    })
}

/// Adds cascade sessions (20 named attendees each, a headcount row on every tenth) until the
/// attendance tables hold `target` rows; `rows` and `delivered` (cascade sessions) count what
/// is there.
async fn top_up(
    conn: &DatabaseConnection,
    seeded: &Seeded,
    rows: &mut usize,
    delivered: &mut usize,
    target: usize,
) -> anyhow::Result<()> {
    let today = london_today(crate::clock::Clock::system().now());
    let year_start =
        NaiveDate::from_ymd_opt(today.year() - i32::from(today.month() < 4), 4, 1).unwrap_or(today);
    let span = (today - year_start).num_days().max(1);
    let now = crate::clock::Clock::system().now();
    while *rows < target {
        let batch = ((target - *rows) / PER_SESSION).clamp(1, 1000);
        let mut sessions = Vec::with_capacity(batch);
        let mut attendees = Vec::with_capacity(batch * PER_SESSION);
        let mut headcounts = Vec::new();
        for _ in 0..batch {
            let index = *delivered;
            let id = Uuid::now_v7();
            sessions.push(cascade_sessions::ActiveModel {
                id: Set(id),
                course_id: Set(seeded.course),
                programme_id: Set(seeded.programme),
                lead_trainer_id: Set(seeded.people[index % TRAINERS]),
                co_trainer_id: Set(None),
                delivered_on: Set(year_start + Days::days(index as i64 % span)),
                start_time: Set("13:30".into()),
                duration_minutes: Set(90),
                locality_id: Set(Some(seeded.localities[index % seeded.localities.len()])),
                mode: Set(DeliveryMode::InPerson),
                notes: Set(None),
                recorded_by_key_id: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            });
            for j in 0..PER_SESSION {
                let person = seeded.people[(index * PER_SESSION + j) % seeded.people.len()];
                attendees.push(cascade_attendees::ActiveModel {
                    cascade_session_id: Set(id),
                    person_id: Set(person),
                });
            }
            *rows += PER_SESSION;
            if index.is_multiple_of(10) {
                headcounts.push(cascade_headcounts::ActiveModel {
                    id: Set(Uuid::now_v7()),
                    cascade_session_id: Set(id),
                    organisation_id: Set(seeded.council),
                    staff_group_id: Set(None),
                    count: Set(15),
                });
                *rows += 1;
            }
            *delivered += 1;
        }
        cascade_sessions::Entity::insert_many(sessions)
            .exec(conn)
            .await?;
        for chunk in attendees.chunks(5000) {
            cascade_attendees::Entity::insert_many(chunk.to_vec())
                .exec(conn)
                .await?;
        }
        if !headcounts.is_empty() {
            cascade_headcounts::Entity::insert_many(headcounts)
                .exec(conn)
                .await?;
        }
    }
    Ok(())
}
