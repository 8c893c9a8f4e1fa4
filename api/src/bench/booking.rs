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
    time::Instant,
};

use anyhow::{Context, bail};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use serde_json::{Value, json};
use uuid::Uuid;

use super::harness::{Figures, Server, id, load, on_each_backend};

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

/// Runs every scenario on SQLite and, when given, PostgreSQL; returns the report.
pub async fn run(options: Options) -> anyhow::Result<String> {
    on_each_backend(options.postgres_url.as_deref(), |url, label| {
        backend(url, label, &options)
    })
    .await
}

struct Seeded {
    hot: Uuid,
    spread: Vec<Uuid>,
    people: Vec<Uuid>,
}

async fn backend(url: String, label: &'static str, options: &Options) -> anyhow::Result<String> {
    let server = Server::start(&url).await?;
    let seeded = seed(&server, options.sessions, options.requests * 4).await?;

    let mut out = format!(
        "\n{}: {} booking requests per scenario over HTTP/1.1 on 127.0.0.1\n{:<34}{}\n",
        label,
        options.requests,
        "scenario",
        Figures::HEADER
    );
    let mut people = seeded.people.chunks(options.requests);
    let mut ours = Vec::new();
    for concurrency in [8, 32] {
        for (shape, sessions) in [
            ("one hot session", vec![seeded.hot]),
            ("spread over sessions", seeded.spread.clone()),
        ] {
            let batch = people.next().context("people")?.to_vec();
            let (client, base, key) = (
                server.client.clone(),
                server.base.clone(),
                server.key.clone(),
            );
            let f = load(batch.len(), concurrency, move |i| {
                client
                    .post(format!(
                        "{base}/sessions/{}/bookings",
                        sessions[i % sessions.len()]
                    ))
                    .bearer_auth(&key)
                    .header("Content-Type", "application/json")
                    .body(json!({ "person_id": batch[i] }).to_string())
            })
            .await;
            let _ = writeln!(
                out,
                "{:<34}{}",
                format!("{shape}, concurrency {concurrency}"),
                f.row()
            );
            ours.push((shape, concurrency, f.per_second));
        }
    }
    let rss = server.peak_rss_mib();
    verify(&server.conn).await?;
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
        let limit = db_limit(&server.conn, &sessions, options.requests, 32).await?;
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
    server.conn.close_by_ref().await.ok();
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
