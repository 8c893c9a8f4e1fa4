//! `cascade bench reads`: the read paths at concurrency 32 — a filtered session list, a person's
//! bookings, the reach report and the partner report — as the cascade attendance tables grow
//! through 10,000, 100,000 and 1,000,000 rows, so the growth curve shows.
//!
//! Reference data, sessions, staff and bookings are made through the API; the cascade
//! attendance rows are written in bulk straight to the database (through the API they would
//! take hours), in the shape the API writes them: 20 named attendees per cascade session,
//! delivered over the programme year so far, led by 50 trainers, plus a headcount row on every
//! tenth session.

use std::{fmt::Write as _, sync::Mutex, time::Instant};

use chrono::{Datelike, Duration as Days, NaiveDate};
use entities::{
    cascade_attendees, cascade_headcounts, cascade_sessions, completions,
    enums::{CompletionSource, DeliveryMode},
    trainer_steps,
};
use sea_orm::{DatabaseConnection, EntityTrait, Set};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    harness::{Figures, Server, id, load, ms, on_each_backend, with_server_cpu},
    output::{self, Record, Series, Target},
};
use crate::domain::{reach::rollup, sessions::london_today};

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// A PostgreSQL server URL (its `postgres` database); a fresh database is made on it.
    pub postgres_url: Option<String>,
    /// Cascade attendance rows at each step of the curve.
    pub levels: Vec<usize>,
    /// Requests per list scenario (reports get a tenth as many).
    pub requests: usize,
    /// Where the CSV and SVG files go.
    pub out: std::path::PathBuf,
}

/// What one backend's run measured, for the targets and the files.
#[derive(Default)]
struct Collected {
    records: Vec<Record>,
    /// Per backend: the idle server's RSS and the highest under 32 concurrent reach reports.
    memory: Vec<(&'static str, f64, f64)>,
}

/// Runs every step on SQLite and, when given, PostgreSQL; returns the report, with each target
/// beside its goal, and writes `reads.csv`, `reads-reports.svg` and `reads-throughput.svg`.
pub async fn run(options: Options) -> anyhow::Result<String> {
    let collected = Mutex::new(Collected::default());
    let mut out = on_each_backend(options.postgres_url.as_deref(), |url, label| {
        backend(url, label, &options, &collected)
    })
    .await?;
    let collected = collected.into_inner().unwrap_or_else(|e| e.into_inner());
    out.push_str(&output::targets(&targets(&collected)));
    out.push_str(&output::save(&options.out, &files(&collected))?);
    Ok(out)
}

const REACH: &str = "reach report (programme year)";
const CHAMPIONS: &str = "champions, a page of 50";
const TRAINER_LIST: &str = "trainers, a page of 50";
const PARTNERS: &str = "partner report (programme year)";
const SESSIONS: &str = "sessions: programme+locality+free, 50";

/// Each target's figure beside its goal.
fn targets(c: &Collected) -> Vec<Target> {
    let mut out = Vec::new();
    let backends: Vec<&'static str> = c.memory.iter().map(|m| m.0).collect();
    for backend in backends {
        let of = |scenario: &str| -> Vec<&Record> {
            c.records
                .iter()
                .filter(|r| r.backend == backend && r.scenario == scenario)
                .collect()
        };
        for scenario in [REACH, CHAMPIONS, TRAINER_LIST] {
            let runs = of(scenario);
            let (Some(first), Some(last)) = (runs.first(), runs.last()) else {
                continue;
            };
            let alone = |r: &Record| r.alone_ms.unwrap_or(f64::MAX);
            let worst = runs.iter().map(|r| alone(r)).fold(0.0, f64::max);
            out.push(Target::new(
                format!(
                    "{backend}: {scenario}, alone, {} → {} rows",
                    first.rows, last.rows
                ),
                format!("{:.1} → {:.1} ms", alone(first), alone(last)),
                "≤ 50 ms at every size, within 5 ms of the first",
                worst <= 50.0 && alone(last) <= alone(first) + 5.0,
            ));
        }
        let goal = if backend == "SQLite" {
            5_000.0
        } else {
            2_500.0
        };
        let sessions = of(SESSIONS);
        let slowest = sessions
            .iter()
            .map(|r| r.per_second)
            .fold(f64::MAX, f64::min);
        if !sessions.is_empty() {
            out.push(Target::new(
                format!("{backend}: session list page at concurrency 32 (slowest size)"),
                format!("{slowest:.0} req/s"),
                if backend == "SQLite" {
                    "≥ 5,000 req/s"
                } else {
                    "≥ 2,500 req/s"
                },
                slowest >= goal,
            ));
        }
        if let Some((_, idle, busy)) = c.memory.iter().find(|m| m.0 == backend) {
            out.push(Target::new(
                format!("{backend}: server RSS, 32 concurrent reach reports vs idle"),
                format!("+{:.1} MiB", busy - idle),
                "≤ idle + 64 MiB",
                busy - idle <= 64.0,
            ));
        }
    }
    out
}

/// The CSV and the two charts.
fn files(c: &Collected) -> Vec<(String, String)> {
    let mut series = Vec::new();
    for backend in c.memory.iter().map(|m| m.0) {
        for scenario in [REACH, PARTNERS, CHAMPIONS, TRAINER_LIST] {
            let points: Vec<(f64, f64)> = c
                .records
                .iter()
                .filter(|r| r.backend == backend && r.scenario == scenario)
                .filter_map(|r| Some((r.rows as f64, r.alone_ms?)))
                .collect();
            if !points.is_empty() {
                series.push(Series {
                    name: format!(
                        "{backend}: {}",
                        scenario.split([',', '(']).next().unwrap_or(scenario).trim()
                    ),
                    points,
                });
            }
        }
    }
    let largest = c.records.iter().map(|r| r.rows).max().unwrap_or(0);
    let at_largest: Vec<&Record> = c.records.iter().filter(|r| r.rows == largest).collect();
    let short = |r: &Record| {
        format!(
            "{} {}",
            if r.backend == "SQLite" {
                "SQLite"
            } else {
                "PG"
            },
            r.scenario
                .split([',', '(', ':'])
                .next()
                .unwrap_or_default()
                .trim()
        )
    };
    vec![
        ("reads.csv".to_owned(), output::csv(&c.records)),
        (
            "reads-reports.svg".to_owned(),
            output::latency_by_rows(
                "One request alone (median of 5) against cascade attendance rows",
                &series,
                50.0,
            ),
        ),
        (
            "reads-throughput.svg".to_owned(),
            output::bars(
                "reads-throughput",
                &format!(
                    "Requests per second at concurrency 32, {largest} cascade attendance rows"
                ),
                &at_largest,
                short,
                |r| r.per_second,
                |r| {
                    (r.scenario == SESSIONS).then_some(if r.backend == "SQLite" {
                        5_000.0
                    } else {
                        2_500.0
                    })
                },
            ),
        ),
    ]
}

struct Seeded {
    programme: Uuid,
    champion_course: Uuid,
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
const CHAMPIONS_SEEDED: usize = 5_000;

async fn backend(
    url: String,
    label: &'static str,
    options: &Options,
    collected: &Mutex<Collected>,
) -> anyhow::Result<String> {
    let server = Server::start(&url).await?;
    let seeded = seed(&server).await?;
    seed_lists(&server.conn, &seeded).await?;
    server.settle_outbox().await?;
    let year = london_today(crate::clock::Clock::system().now()).year()
        - i32::from(london_today(crate::clock::Clock::system().now()).month() < 4);
    let mut out = format!(
        "\n{}: read paths at concurrency 32 over HTTP/1.1 on 127.0.0.1 \
         ({STAFF} staff, 200 sessions, {} bookings)\n{}{:<44}{}   c1 ms\n",
        label,
        seeded.booked.len(),
        super::harness::sqlite_build(&server.conn).await,
        "scenario",
        Figures::HEADER
    );
    let (mut rows, mut delivered) = (0, 0);
    let (mut idle, mut reports_rss) = (0.0, 0.0);
    for &level in &options.levels {
        top_up(&server.conn, &seeded, &mut rows, &mut delivered, level).await?;
        let _ = writeln!(out, "cascade attendance rows: {rows}");
        let scenarios: [(&str, usize, PathOf); 6] = [
            (
                SESSIONS,
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
                REACH,
                options.requests / 10,
                Box::new({
                    let p = seeded.programme;
                    move |_| format!("/reports/reach?programme_id={p}")
                }),
            ),
            (
                CHAMPIONS,
                options.requests / 10,
                Box::new({
                    let p = seeded.programme;
                    let statuses = [
                        "",
                        "&status=active",
                        "&status=refresh_due",
                        "&status=lapsed",
                    ];
                    move |i| {
                        format!(
                            "/champions?programme_id={p}&limit=50{}",
                            statuses[i % statuses.len()]
                        )
                    }
                }),
            ),
            (
                TRAINER_LIST,
                options.requests / 10,
                Box::new({
                    let p = seeded.programme;
                    move |_| format!("/trainers?programme_id={p}&limit=50")
                }),
            ),
            (
                PARTNERS,
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
            if name == REACH && level == options.levels[options.levels.len() - 1] {
                idle = server.rss_mib();
            }
            let (f, busy) = server
                .sampling_rss(with_server_cpu(
                    &[server.pid()],
                    load(requests, 32, move |i| {
                        client.get(format!("{base}{}", path(i))).bearer_auth(&key)
                    }),
                ))
                .await;
            if name == REACH {
                reports_rss = busy;
            }
            let _ = writeln!(out, "  {name:<42}{} {:>7.2}", f.row(), ms(alone[2]));
            if let Ok(mut c) = collected.lock() {
                c.records.push(Record {
                    backend: label,
                    rows,
                    scenario: name.to_owned(),
                    per_second: f.per_second,
                    p50_ms: ms(f.p50),
                    p95_ms: ms(f.p95),
                    p99_ms: ms(f.p99),
                    errors: f.errors,
                    alone_ms: Some(ms(alone[2])),
                    server_cpu_ms: f.server_cpu.map(ms),
                    server_switches: f.server_switches,
                });
            }
        }
    }
    let _ = writeln!(
        out,
        "peak RSS of the server process: {:.1} MiB; at the last size {idle:.1} MiB idle, \
         {reports_rss:.1} MiB at most under 32 concurrent reach reports",
        server.peak_rss_mib()
    );
    if let Ok(mut c) = collected.lock() {
        c.memory.push((label, idle, reports_rss));
    }
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
        "duration_minutes": 360, "cpd_hours": 6, "default_capacity": 20, "certificate_validity_months": 36,
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
        champion_course: course,
        course: cascade_course,
        council: orgs[0],
        localities,
        people,
        booked,
    })
}

/// Champions and trainers, written in bulk in the shape the API writes them: 5,000 imported
/// champion completions over the last three and a half years (a 36-month refresh, so every
/// status shows), and 200 people in the trainer pipeline, the 50 lead trainers accredited.
async fn seed_lists(conn: &DatabaseConnection, seeded: &Seeded) -> anyhow::Result<()> {
    let now = crate::clock::Clock::system().now();
    let today = london_today(now);
    let champions = &seeded.people[..CHAMPIONS_SEEDED.min(seeded.people.len())];
    let mut placed = std::collections::HashMap::new();
    for chunk in champions.chunks(10_000) {
        placed.extend(rollup::placed(conn, chunk).await?);
    }
    let rows: Vec<completions::ActiveModel> = champions
        .iter()
        .enumerate()
        .map(|(i, person)| completions::ActiveModel {
            id: Set(Uuid::now_v7()),
            person_id: Set(*person),
            course_id: Set(seeded.champion_course),
            completed_on: Set(today - Days::days((i * 7 % 1_270) as i64)),
            source: Set(CompletionSource::Imported),
            source_id: Set(None),
            recorded_by_key_id: Set(None),
            organisation_id: Set(placed.get(person).and_then(|p| p.0)),
            created_at: Set(now),
        })
        .collect();
    for chunk in rows.chunks(2_000) {
        completions::Entity::insert_many(chunk.to_vec())
            .exec(conn)
            .await?;
    }
    let pipeline = crate::domain::trainers::pipeline::default_pipeline();
    let mut steps = Vec::new();
    for (i, person) in seeded.people[..200].iter().enumerate() {
        let reached = if i < TRAINERS {
            pipeline.len()
        } else {
            1 + i % 4
        };
        for (n, step) in pipeline.iter().take(reached).enumerate() {
            let on = today - Days::days(400 - 10 * n as i64);
            steps.push(trainer_steps::ActiveModel {
                id: Set(Uuid::now_v7()),
                person_id: Set(*person),
                programme_id: Set(seeded.programme),
                code: Set(step.code.clone()),
                effective_on: Set(on),
                evidence: Set(Some("bench".into())),
                evidence_url: Set(None),
                signed_off_by_person_id: Set(None),
                recorded_by_key_id: Set(None),
                automatic: Set(false),
                override_reason: Set(None),
                licence_expires_on: Set(step.licence_months.map(|_| today + Days::days(200))),
                recorded_at: Set(now),
            });
        }
    }
    trainer_steps::Entity::insert_many(steps).exec(conn).await?;
    Ok(())
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
    // Attendance rows keep the attendee's organisation and staff group, as the API writes them.
    let mut placed = std::collections::HashMap::new();
    for chunk in seeded.people.chunks(10_000) {
        placed.extend(rollup::placed(conn, chunk).await?);
    }
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
                let (organisation, group) = placed.get(&person).copied().unwrap_or_default();
                attendees.push(cascade_attendees::ActiveModel {
                    cascade_session_id: Set(id),
                    person_id: Set(person),
                    organisation_id: Set(organisation),
                    staff_group_id: Set(group),
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
        let ids: Vec<Uuid> = sessions
            .iter()
            .filter_map(|s| s.id.try_as_ref().copied())
            .collect();
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
        // The rollup the API keeps in each cascade session's transaction, kept here per batch.
        rollup::apply(conn, &ids, 1)
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    }
    Ok(())
}
