//! `cascade bench booking`: booking throughput over real HTTP on 127.0.0.1 against a fresh
//! database, beside the database's own limit for the same transaction issued directly (no HTTP,
//! no ORM). Prints numbers; asserts nothing but correctness (no session overbooked, reserved
//! places only to their sector).

use std::{
    fmt::Write as _,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Instant,
};

use anyhow::{Context, bail};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    harness::{Figures, Server, id, load, ms, on_each_backend, with_server_cpu},
    output::{self, Record, Target},
};

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// A PostgreSQL server URL (its `postgres` database); a fresh database is made on it.
    pub postgres_url: Option<String>,
    /// Sessions in the spread scenario.
    pub sessions: usize,
    /// Booking requests per scenario.
    pub requests: usize,
    /// Replica counts for the scale-out scenario on PostgreSQL (empty: none).
    pub replicas: Vec<usize>,
    /// Where the CSV and SVG files go.
    pub out: std::path::PathBuf,
}

/// What the runs measured, for the targets and the files.
#[derive(Default)]
struct Collected {
    records: Vec<Record>,
    /// Per backend and shape: the database's own limit at concurrency 32.
    limits: Vec<(&'static str, &'static str, f64)>,
}

/// Runs every scenario on SQLite and, when given, PostgreSQL; returns the report, each target
/// beside its goal, and writes `booking.csv`, `booking-throughput.svg` and `booking-p99.svg`.
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

/// Today's rates at concurrency 32 before this work (README, 2026-11-23): SQLite doubles them.
const SQLITE_BEFORE: [(&str, f64); 2] =
    [("one hot session", 496.0), ("spread over sessions", 654.0)];

fn targets(c: &Collected) -> Vec<Target> {
    let mut out = Vec::new();
    for &(backend, shape, limit) in &c.limits {
        let Some(r) = c
            .records
            .iter()
            .find(|r| r.backend == backend && r.scenario == format!("{shape}, concurrency 32"))
        else {
            continue;
        };
        if backend == "SQLite" {
            let before = SQLITE_BEFORE
                .iter()
                .find(|b| b.0 == shape)
                .map_or(f64::MAX, |b| b.1);
            out.push(Target::new(
                format!("{backend}: {shape}, concurrency 32"),
                format!("{:.0} req/s", r.per_second),
                &format!("≥ 2 × {before:.0} = {:.0} req/s", 2.0 * before),
                r.per_second >= 2.0 * before,
            ));
        } else {
            out.push(Target::new(
                format!("{backend}: {shape}, concurrency 32, share of the limit"),
                format!("{:.1}%", r.per_second / limit * 100.0),
                "≥ 50% of the database's limit",
                r.per_second >= limit / 2.0,
            ));
        }
        if backend == "SQLite" || shape == "spread over sessions" {
            out.push(Target::new(
                format!("{backend}: {shape}, concurrency 32, p99"),
                format!("{:.1} ms", r.p99_ms),
                "≤ 50 ms",
                r.p99_ms <= 50.0,
            ));
        }
    }
    out
}

fn files(c: &Collected) -> Vec<(String, String)> {
    let all: Vec<&Record> = c.records.iter().collect();
    let short = |r: &Record| {
        format!(
            "{} {}",
            if r.backend == "SQLite" {
                "SQLite"
            } else {
                "PG"
            },
            r.scenario
                .replace("one hot session", "hot")
                .replace("spread over sessions", "spread")
                .replace(", concurrency ", " c")
                .replace(" replicas", "r")
                .replace(" replica", "r")
        )
    };
    let goal = |r: &Record| -> Option<f64> {
        if !r.scenario.ends_with("concurrency 32") {
            return None;
        }
        let shape = r.scenario.split(',').next().unwrap_or_default();
        if r.backend == "SQLite" {
            SQLITE_BEFORE
                .iter()
                .find(|b| b.0 == shape)
                .map(|b| 2.0 * b.1)
        } else {
            c.limits
                .iter()
                .find(|l| l.0 == r.backend && l.1 == shape)
                .map(|l| l.2 / 2.0)
        }
    };
    vec![
        ("booking.csv".to_owned(), output::csv(&c.records)),
        (
            "booking-throughput.svg".to_owned(),
            output::bars(
                "booking-throughput",
                "Bookings per second by scenario (marker: the goal)",
                &all,
                short,
                |r| r.per_second,
                goal,
            ),
        ),
        (
            "booking-p99.svg".to_owned(),
            output::bars(
                "booking-p99",
                "p99 latency in ms by scenario (marker: 50 ms)",
                &all,
                short,
                |r| r.p99_ms,
                |r| r.scenario.ends_with("concurrency 32").then_some(50.0),
            ),
        ),
    ]
}

struct Seeded {
    hot: Uuid,
    spread: Vec<Uuid>,
    people: Vec<Uuid>,
}

async fn backend(
    url: String,
    label: &'static str,
    options: &Options,
    collected: &Mutex<Collected>,
) -> anyhow::Result<String> {
    let server = Server::start(&url).await?;
    let scale_out = if label == "PostgreSQL" {
        options.replicas.clone()
    } else {
        Vec::new()
    };
    let seeded = seed(
        &server,
        options.sessions * (1 + scale_out.len()),
        options.requests * (4 + scale_out.len()) + 300,
    )
    .await?;

    let mut out = format!(
        "\n{}: {} booking requests per scenario over HTTP/1.1 on 127.0.0.1\n{}{:<34}{}\n",
        label,
        options.requests,
        super::harness::sqlite_build(&server.conn).await,
        "scenario",
        Figures::HEADER
    );
    let mut people = seeded.people.chunks(options.requests);
    let mut ours = Vec::new();
    let mut mail_lag = Vec::new();
    for concurrency in [8, 32] {
        for (shape, sessions) in [
            ("one hot session", vec![seeded.hot]),
            ("spread over sessions", seeded.spread.clone()),
        ] {
            server.settle_outbox().await?;
            let batch = people.next().context("people")?.to_vec();
            let (client, base, key) = (
                server.client.clone(),
                server.base.clone(),
                server.key.clone(),
            );
            let load = load(batch.len(), concurrency, move |i| {
                client
                    .post(format!(
                        "{base}/sessions/{}/bookings",
                        sessions[i % sessions.len()]
                    ))
                    .bearer_auth(&key)
                    .header("Content-Type", "application/json")
                    .body(json!({ "person_id": batch[i] }).to_string())
            });
            let f = with_server_cpu(&[server.pid()], load).await;
            let scenario = format!("{shape}, concurrency {concurrency}");
            let _ = writeln!(out, "{scenario:<34}{}", f.row());
            // How far the confirmations lag: a rate that leaves them behind is not one the
            // service keeps up for long.
            let unsent = server.unsent_mail(true).await?;
            let caught_up = Instant::now();
            server.wait_for_mail(true).await?;
            let later = caught_up.elapsed().as_secs_f64();
            let window = f.requests as f64 / f.per_second.max(f64::MIN_POSITIVE);
            mail_lag.push(format!(
                "  {scenario:<34}{unsent:>6} of {} unsent, all sent {later:.1} s later: {:.0} \
                 bookings/s with their confirmations sent",
                f.requests,
                f.requests as f64 / (window + later)
            ));
            record(collected, label, scenario, &f);
            ours.push((shape, concurrency, f.per_second));
        }
    }
    let _ = writeln!(
        out,
        "confirmations still to send when each run ended (the mail worker sends them as \
         bookings come in):\n{}",
        mail_lag.join("\n")
    );
    // Scale-out: the same total concurrency spread round-robin over N replicas on one database,
    // each step on sessions of its own.
    let mut fresh = seeded.spread.chunks(options.sessions).skip(1);
    for n in &scale_out {
        let mut replicas = Vec::new();
        for _ in 1..*n {
            replicas.push(server.replica(&url).await?);
        }
        let bases: Vec<String> = std::iter::once(server.base.clone())
            .chain(replicas.iter().map(|r| r.base.clone()))
            .collect();
        server.settle_outbox().await?;
        let batch = people.next().context("people")?.to_vec();
        let sessions = fresh.next().context("sessions")?.to_vec();
        let (client, key) = (server.client.clone(), server.key.clone());
        let pids: Vec<u32> = std::iter::once(server.pid())
            .chain(replicas.iter().map(|r| r.pid()))
            .collect();
        let load = load(batch.len(), 32, move |i| {
            client
                .post(format!(
                    "{}/sessions/{}/bookings",
                    bases[i % bases.len()],
                    sessions[i % sessions.len()]
                ))
                .bearer_auth(&key)
                .header("Content-Type", "application/json")
                .body(json!({ "person_id": batch[i] }).to_string())
        });
        let f = with_server_cpu(&pids, load).await;
        let scenario = format!(
            "spread, concurrency 32, {n} replica{}",
            if *n == 1 { "" } else { "s" }
        );
        let _ = writeln!(out, "{scenario:<34}{}", f.row());
        record(collected, label, scenario, &f);
        drop(replicas);
    }
    let rss = server.peak_rss_mib();
    verify(&server.conn).await?;
    // The in-process app's access log stays out of the report.
    out.push_str(
        &tracing::instrument::WithSubscriber::with_subscriber(
            statements(&url, &server, &seeded),
            tracing::subscriber::NoSubscriber::default(),
        )
        .await?,
    );
    out.push_str(
        "checked: no session overbooked; reserved places held only by the voluntary sector\n",
    );
    let _ = writeln!(out, "peak RSS of the server process: {rss:.1} MiB");

    let _ = writeln!(
        out,
        "the database's own limit (same transaction, no HTTP, no ORM), concurrency 32:"
    );
    for (shape, sessions) in [
        ("one hot session", vec![seeded.hot]),
        ("spread over sessions", seeded.spread.clone()),
    ] {
        server.settle_outbox().await?;
        let limit = db_limit(&server.conn, &sessions, options.requests, 32).await?;
        let cascade = ours
            .iter()
            .find(|(s, c, _)| *s == shape && *c == 32)
            .map_or(0.0, |o| o.2);
        if let Ok(mut c) = collected.lock() {
            c.limits.push((label, shape, limit));
        }
        let _ = writeln!(
            out,
            "{:<34} {:>10.0} /s   Cascade at 32: {:>6.0} /s = {:>5.1}% of the limit",
            shape,
            limit,
            cascade,
            cascade / limit * 100.0
        );
    }
    server.conn.close_by_ref().await.ok();
    Ok(out)
}

fn record(collected: &Mutex<Collected>, backend: &'static str, scenario: String, f: &Figures) {
    if let Ok(mut c) = collected.lock() {
        c.records.push(Record {
            backend,
            rows: 0,
            scenario,
            per_second: f.per_second,
            p50_ms: ms(f.p50),
            p95_ms: ms(f.p95),
            p99_ms: ms(f.p99),
            errors: f.errors,
            alone_ms: None,
            server_cpu_ms: f.server_cpu.map(ms),
            server_switches: f.server_switches,
        });
    }
}

/// What one booking costs, in process on a connection that counts its statements: the
/// statements by kind and table, and the median time of 100 bookings made one at a time with
/// and without an Idempotency-Key (the idempotency middleware's cost).
async fn statements(url: &str, server: &Server, seeded: &Seeded) -> anyhow::Result<String> {
    use poem::{Endpoint, http::Method};
    let seen: Arc<std::sync::Mutex<Vec<(String, std::time::Duration)>>> = Arc::default();
    let mut conn = crate::db::connect(url).await?;
    conn.set_metric_callback({
        let seen = seen.clone();
        move |info| {
            if let Ok(mut seen) = seen.lock() {
                seen.push((info.statement.sql.clone(), info.elapsed));
            }
        }
    });
    let app = crate::app(crate::state::AppState::new(
        conn,
        crate::config::Config::new(url, "http://127.0.0.1"),
    ));
    // Sessions with room: the scale-out's were not all used; take the last ones.
    let sessions: Vec<Uuid> = seeded.spread.iter().rev().take(100).copied().collect();
    let people: Vec<Uuid> = seeded.people.iter().rev().take(210).copied().collect();
    let book = |i: usize, idempotent: bool| {
        let mut req = poem::Request::builder()
            .method(Method::POST)
            .uri(
                format!("/api/v1/sessions/{}/bookings", sessions[i % sessions.len()])
                    .parse()
                    .unwrap_or_default(),
            )
            .header("Authorization", format!("Bearer {}", server.key))
            .content_type("application/json");
        if idempotent {
            req = req.header("Idempotency-Key", Uuid::new_v4().to_string());
        }
        req.body(json!({ "person_id": people[i] }).to_string())
    };
    // One booking, its statements counted.
    app.call(book(200, false)).await.ok();
    seen.lock().map(|mut s| s.clear()).ok();
    let response = app.call(book(201, false)).await;
    if !response.as_ref().is_ok_and(|r| r.status().is_success()) {
        bail!("the counted booking was refused");
    }
    let one: Vec<(String, std::time::Duration)> =
        seen.lock().map(|s| s.clone()).unwrap_or_default();
    let mut by_kind: std::collections::BTreeMap<String, (usize, f64)> = Default::default();
    // A call may carry several statements (`WriteTxn::later`): each is counted, sharing the
    // call's time.
    let parts: Vec<(&str, f64)> = one
        .iter()
        .flat_map(|(sql, elapsed)| {
            let split = crate::db::statements_of(sql);
            let share = elapsed.as_secs_f64() * 1000.0 / split.len().max(1) as f64;
            split.into_iter().map(move |s| (s, share))
        })
        .collect();
    for (sql, ms) in &parts {
        let words: Vec<&str> = sql.split_whitespace().collect();
        let verb = words.first().copied().unwrap_or("?").to_uppercase();
        // The statement's own table: the first FROM, INTO or UPDATE outside parentheses (not
        // a sub-query's).
        let mut depth = 0i32;
        let table = words
            .iter()
            .position(|w| {
                let top = depth == 0;
                depth += w.matches('(').count() as i32 - w.matches(')').count() as i32;
                top && matches!(w.to_uppercase().as_str(), "FROM" | "INTO" | "UPDATE")
            })
            .and_then(|i| {
                if verb == "UPDATE" {
                    words.get(1)
                } else {
                    words.get(i + 1)
                }
            })
            .copied()
            .unwrap_or("")
            .trim_matches('"')
            .to_owned();
        let e = by_kind.entry(format!("{verb} {table}")).or_default();
        e.0 += 1;
        e.1 += ms;
    }
    let mut out = format!(
        "statements per booking (in process, one at a time): {} in {} calls to the database \
         ({:.2} ms in the database)\n",
        parts.len(),
        one.len(),
        one.iter().map(|s| s.1.as_secs_f64() * 1000.0).sum::<f64>()
    );
    for (kind, (n, ms)) in &by_kind {
        let _ = writeln!(out, "  {n:>2} × {kind:<40} {ms:>6.2} ms");
    }
    let timed = |idempotent: bool, from: usize| {
        let app = &app;
        let book = &book;
        async move {
            let mut times = Vec::new();
            for i in from..from + 100 {
                let t = Instant::now();
                app.call(book(i, idempotent)).await.ok();
                times.push(t.elapsed());
            }
            times.sort();
            times[times.len() / 2]
        }
    };
    let plain = timed(false, 0).await;
    let with_key = timed(true, 100).await;
    let _ = writeln!(
        out,
        "one booking in process, median of 100: {:.2} ms; with an Idempotency-Key {:.2} ms \
         (the idempotency middleware: {:+.2} ms)",
        ms(plain),
        ms(with_key),
        ms(with_key) - ms(plain)
    );
    Ok(out)
}

/// A council and a voluntary partner, a champion course with 10% reserved for the voluntary
/// sector, one hot session (capacity 500), `sessions` sessions of 20, and `people` staff (one
/// in five voluntary), all through the API.
async fn seed(server: &Server, sessions: usize, people: usize) -> anyhow::Result<Seeded> {
    let council = id(&server
        .post(
            "/organisations",
            &json!({ "name": "Wiltshire Council", "sector": "council" }),
        )
        .await?)?;
    let charity = id(&server
        .post(
            "/organisations",
            &json!({ "name": "Wiltshire Parent Carer Council", "sector": "voluntary" }),
        )
        .await?)?;
    let programme = id(&server
        .post(
            "/programmes",
            &json!({ "code": "ftt", "name": "Five to Thrive" }),
        )
        .await?)?;
    let course = id(&server.post("/courses", &json!({
        "programme_id": programme, "code": "ftt-champion", "title": "Champion training", "kind": "champion",
        "duration_minutes": 360, "cpd_hours": 6, "default_capacity": 20,
        "reserved_places": { "sector": "voluntary", "share_bp": 1000 },
    })).await?)?;
    let session = |day: usize, capacity: usize| {
        let date = (crate::clock::Clock::system().now()
            + chrono::Duration::days(30 + (day % 300) as i64))
        .date_naive();
        json!({ "course_id": course, "sittings": [{ "date": date, "start": "09:30", "end": "16:00" }],
                "venue": { "name": "Corn Exchange, Devizes" }, "capacity": capacity })
    };
    let hot = id(&server.post("/sessions", &session(0, 500)).await?)?;
    let mut spread = Vec::with_capacity(sessions);
    for day in 0..sessions {
        spread.push(id(&server.post("/sessions", &session(day, 20)).await?)?);
    }
    for (org, share) in [(council, people - people / 5), (charity, people / 5)] {
        let rows: Vec<Value> = (0..share)
            .map(|i| json!({ "external_id": format!("B-{i}"), "name": format!("Zoë Bench {i}"), "email": format!("bench{i}.{org}@example.org") }))
            .collect();
        for chunk in rows.chunks(10_000) {
            server
                .post(
                    &format!("/organisations/{org}/people/sync"),
                    &json!({ "people": chunk }),
                )
                .await?;
        }
    }
    let mut ids = server.ids("/people").await?;
    // Interleave so every batch has both partners' staff.
    ids.sort_by_key(|u| u.as_u128().wrapping_mul(0x9E37_79B9_7F4A_7C15));
    Ok(Seeded {
        hot,
        spread,
        people: ids,
    })
}

/// Fails when any session holds more confirmed places than its capacity (or than its counter
/// says), or a reserved place is held by someone booked for a non-voluntary organisation.
async fn verify(conn: &DatabaseConnection) -> anyhow::Result<()> {
    let backend = conn.get_database_backend();
    let overbooked = conn
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT COUNT(*) AS n FROM sessions s WHERE s.confirmed_count > s.capacity OR s.confirmed_count <> \
             (SELECT COUNT(*) FROM bookings b WHERE b.session_id = s.id AND b.status = 'confirmed')",
        ))
        .await?
        .map(|r| r.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or(0);
    let misplaced = conn
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT COUNT(*) AS n FROM bookings b JOIN organisations o ON o.id = b.organisation_id \
             WHERE b.place = 'reserved' AND o.sector <> 'voluntary'",
        ))
        .await?
        .map(|r| r.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or(0);
    if overbooked > 0 || misplaced > 0 {
        bail!("{overbooked} sessions overbooked, {misplaced} reserved places to the wrong sector");
    }
    Ok(())
}

/// The bare booking transaction, straight SQL: lock the session row, count its confirmed places,
/// insert; `requests` of them at `concurrency`. Writes to a scratch table, dropped afterwards.
async fn db_limit(
    conn: &DatabaseConnection,
    sessions: &[Uuid],
    requests: usize,
    concurrency: usize,
) -> anyhow::Result<f64> {
    let backend = conn.get_database_backend();
    let table = format!("bench_places_{}", Uuid::new_v4().simple());
    conn.execute_unprepared(&format!(
        "CREATE TABLE {table} (session_id uuid NOT NULL, person_id uuid NOT NULL)"
    ))
    .await?;
    conn.execute_unprepared(&format!(
        "CREATE INDEX {table}_session ON {table} (session_id)"
    ))
    .await?;
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (sessions, next) = (sessions.to_vec(), next.clone());
        // The same write turn (on SQLite) as the service's own writes.
        let ctx = crate::ctx::Ctx::system(conn, &crate::clock::Clock::system());
        let (lock, count, insert) = if backend == DbBackend::Postgres {
            (
                "SELECT capacity FROM sessions WHERE id = $1 FOR UPDATE".to_owned(),
                format!("SELECT COUNT(*) FROM {table} WHERE session_id = $1"),
                format!("INSERT INTO {table} (session_id, person_id) VALUES ($1, $2)"),
            )
        } else {
            (
                "SELECT capacity FROM sessions WHERE id = ?".to_owned(),
                format!("SELECT COUNT(*) FROM {table} WHERE session_id = ?"),
                format!("INSERT INTO {table} (session_id, person_id) VALUES (?, ?)"),
            )
        };
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests {
                    break;
                }
                let session = sessions[i % sessions.len()];
                let txn = ctx.begin().await?;
                txn.query_one_raw(Statement::from_sql_and_values(
                    backend,
                    lock.as_str(),
                    [session.into()],
                ))
                .await?;
                txn.query_one_raw(Statement::from_sql_and_values(
                    backend,
                    count.as_str(),
                    [session.into()],
                ))
                .await?;
                txn.execute_raw(Statement::from_sql_and_values(
                    backend,
                    insert.as_str(),
                    [session.into(), Uuid::new_v4().into()],
                ))
                .await?;
                txn.commit().await?;
            }
            Ok::<(), sea_orm::DbErr>(())
        }));
    }
    for w in workers {
        w.await??;
    }
    let rate = requests as f64 / start.elapsed().as_secs_f64();
    conn.execute_unprepared(&format!("DROP TABLE {table}"))
        .await?;
    Ok(rate)
}
