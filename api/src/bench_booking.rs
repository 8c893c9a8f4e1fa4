//! `cascade bench booking`: booking throughput over real HTTP on 127.0.0.1 against a fresh
//! database, beside the database's own limit for the same transaction issued directly (no HTTP,
//! no ORM). Prints numbers; asserts nothing but correctness (no session overbooked, reserved
//! places only to their sector).

use std::{
    fmt::Write as _,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    app,
    config::Config,
    db,
    domain::api_keys::{self, KeyRole, NewApiKey},
    state::AppState,
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
}

/// One scenario's figures.
struct Figures {
    per_second: f64,
    p50: Duration,
    p95: Duration,
    p99: Duration,
    errors: usize,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// The peak resident memory of this process (server and load generator share it), in MiB.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Runs every scenario on SQLite and, when given, PostgreSQL; returns the report.
pub async fn run(options: Options) -> anyhow::Result<String> {
    let mut report = String::new();
    let dir = std::env::temp_dir().join(format!("cascade-bench-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let sqlite = format!("sqlite://{}?mode=rwc", dir.join("bench.db").display());
    report.push_str(&backend(&sqlite, "SQLite", &options).await?);
    std::fs::remove_dir_all(&dir).ok();
    if let Some(server) = &options.postgres_url {
        let name = format!("cascade_bench_{}", Uuid::new_v4().simple());
        let admin = db::connect(server).await?;
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await?;
        let url = match server.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => bail!(
                "the PostgreSQL URL must name a database, e.g. postgres://postgres@127.0.0.1:5432/postgres"
            ),
        };
        let result = backend(&url, "PostgreSQL", &options).await;
        admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await
            .ok();
        report.push_str(&result?);
    }
    let _ = writeln!(
        report,
        "peak RSS of the process (server + load generator): {:.1} MiB",
        peak_rss_mib()
    );
    Ok(report)
}

struct Seeded {
    hot: Uuid,
    spread: Vec<Uuid>,
    people: Vec<Uuid>,
}

async fn backend(url: &str, label: &str, options: &Options) -> anyhow::Result<String> {
    let conn = db::connect(url).await?;
    db::migrate(&conn).await?;
    let key = api_keys::create(
        &conn,
        NewApiKey {
            name: "bench".into(),
            role: KeyRole::Admin,
            organisation_id: None,
            person_id: None,
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("creating a key: {e:?}"))?
    .secret;
    let mut config = Config::new(url, "http://127.0.0.1");
    config.key_requests_per_minute = 0;
    let state = AppState::new(conn.clone(), config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    drop(listener);
    let server = poem::Server::new(poem::listener::TcpListener::bind(addr.to_string()));
    let serving = tokio::spawn(async move { server.run(app(state)).await });
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let base = format!("http://{addr}/api/v1");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let people_needed = options.requests * 4;
    let seeded = seed(&client, &base, &key, options.sessions, people_needed).await?;

    let mut out = format!(
        "\n{label}: {} booking requests per scenario over HTTP/1.1 on 127.0.0.1\n\
         {:<34} {:>10} {:>9} {:>9} {:>9} {:>7}\n",
        options.requests, "scenario", "bookings/s", "p50 ms", "p95 ms", "p99 ms", "errors"
    );
    let mut people = seeded.people.chunks(options.requests);
    let mut ours = Vec::new();
    for concurrency in [8, 32] {
        for (shape, sessions) in [
            ("one hot session", vec![seeded.hot]),
            ("spread over sessions", seeded.spread.clone()),
        ] {
            let batch = people.next().context("people")?.to_vec();
            let f = load(&client, &base, &key, &sessions, &batch, concurrency).await;
            let _ = writeln!(
                out,
                "{:<34} {:>10.0} {:>9.2} {:>9.2} {:>9.2} {:>7}",
                format!("{shape}, concurrency {concurrency}"),
                f.per_second,
                f.p50.as_secs_f64() * 1000.0,
                f.p95.as_secs_f64() * 1000.0,
                f.p99.as_secs_f64() * 1000.0,
                f.errors
            );
            ours.push((shape, concurrency, f.per_second));
        }
    }
    verify(&conn).await?;
    out.push_str(
        "checked: no session overbooked; reserved places held only by the voluntary sector\n",
    );

    let _ = writeln!(
        out,
        "the database's own limit (same transaction, no HTTP, no ORM), concurrency 32:"
    );
    for (shape, sessions) in [
        ("one hot session", vec![seeded.hot]),
        ("spread over sessions", seeded.spread.clone()),
    ] {
        let limit = db_limit(&conn, &sessions, options.requests, 32).await?;
        let cascade = ours
            .iter()
            .find(|(s, c, _)| *s == shape && *c == 32)
            .map_or(0.0, |o| o.2);
        let _ = writeln!(
            out,
            "{:<34} {:>10.0} /s   Cascade at 32: {:>6.0} /s = {:>5.1}% of the limit",
            shape,
            limit,
            cascade,
            cascade / limit * 100.0
        );
    }
    serving.abort();
    conn.close().await.ok();
    Ok(out)
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    body: &Value,
) -> anyhow::Result<Value> {
    let resp = client
        .post(url)
        .bearer_auth(key)
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await?;
    let status = resp.status();
    let text = String::from_utf8_lossy(&resp.bytes().await?).into_owned();
    if !status.is_success() {
        bail!("{url} answered {status}: {text}");
    }
    Ok(serde_json::from_str(&text)?)
}

fn id(v: &Value) -> anyhow::Result<Uuid> {
    v["id"].as_str().context("no id")?.parse().context("bad id")
}

/// A council and a voluntary partner, a champion course with 10% reserved for the voluntary
/// sector, one hot session (capacity 500), `sessions` sessions of 20, and `people` staff (one
/// in five voluntary), all through the API.
async fn seed(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    sessions: usize,
    people: usize,
) -> anyhow::Result<Seeded> {
    let council = id(&post(
        client,
        &format!("{base}/organisations"),
        key,
        &json!({ "name": "Wiltshire Council", "sector": "council" }),
    )
    .await?)?;
    let charity = id(&post(
        client,
        &format!("{base}/organisations"),
        key,
        &json!({ "name": "Wiltshire Parent Carer Council", "sector": "voluntary" }),
    )
    .await?)?;
    let programme = id(&post(
        client,
        &format!("{base}/programmes"),
        key,
        &json!({ "code": "ftt", "name": "Five to Thrive" }),
    )
    .await?)?;
    let course = id(&post(client, &format!("{base}/courses"), key, &json!({
        "programme_id": programme, "code": "ftt-champion", "title": "Champion training", "kind": "champion",
        "duration_minutes": 360, "cpd_hours": 6, "default_capacity": 20,
        "reserved_places": { "sector": "voluntary", "share_bp": 1000 },
    })).await?)?;
    let session = |day: usize, capacity: usize| {
        let date =
            (chrono::Utc::now() + chrono::Duration::days(30 + (day % 300) as i64)).date_naive();
        json!({ "course_id": course, "sittings": [{ "date": date, "start": "09:30", "end": "16:00" }],
                "venue": { "name": "Corn Exchange, Devizes" }, "capacity": capacity })
    };
    let hot = id(&post(client, &format!("{base}/sessions"), key, &session(0, 500)).await?)?;
    let mut spread = Vec::with_capacity(sessions);
    for day in 0..sessions {
        spread.push(id(&post(
            client,
            &format!("{base}/sessions"),
            key,
            &session(day, 20),
        )
        .await?)?);
    }
    let mut ids = Vec::with_capacity(people);
    for (org, share) in [(council, people - people / 5), (charity, people / 5)] {
        let rows: Vec<Value> = (0..share)
            .map(|i| json!({ "external_id": format!("B-{i}"), "name": format!("Zoë Bench {i}"), "email": format!("bench{i}.{org}@example.org") }))
            .collect();
        for chunk in rows.chunks(10_000) {
            post(
                client,
                &format!("{base}/organisations/{org}/people/sync"),
                key,
                &json!({ "people": chunk }),
            )
            .await?;
        }
    }
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}/people?limit=200");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let bytes = client
            .get(&url)
            .bearer_auth(key)
            .send()
            .await?
            .bytes()
            .await?;
        let page: Value = serde_json::from_slice(&bytes)?;
        for p in page["items"].as_array().into_iter().flatten() {
            ids.push(id(p)?);
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    // Interleave so every batch has both partners' staff.
    ids.sort_by_key(|u| u.as_u128().wrapping_mul(0x9E37_79B9_7F4A_7C15));
    Ok(Seeded {
        hot,
        spread,
        people: ids,
    })
}

async fn load(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    sessions: &[Uuid],
    people: &[Uuid],
    concurrency: usize,
) -> Figures {
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, base, key) = (client.clone(), base.to_owned(), key.to_owned());
        let (sessions, people) = (sessions.to_vec(), people.to_vec());
        let (next, errors) = (next.clone(), errors.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(person) = people.get(i) else { break };
                let session = sessions[i % sessions.len()];
                let t = Instant::now();
                let ok = client
                    .post(format!("{base}/sessions/{session}/bookings"))
                    .bearer_auth(&key)
                    .header("Content-Type", "application/json")
                    .body(json!({ "person_id": person }).to_string())
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                latencies.push(t.elapsed());
                if !ok {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap_or_default());
    }
    let elapsed = start.elapsed();
    all.sort();
    Figures {
        per_second: all.len() as f64 / elapsed.as_secs_f64(),
        p50: percentile(&all, 0.50),
        p95: percentile(&all, 0.95),
        p99: percentile(&all, 0.99),
        errors: errors.load(Ordering::Relaxed),
    }
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
        let (conn, sessions, next) = (conn.clone(), sessions.to_vec(), next.clone());
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
                let txn = db::begin_write(&conn).await?;
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
