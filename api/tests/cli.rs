//! The `cascade` command line, run as an operator would.

use std::process::{Command, Output};

struct Cli {
    database: std::path::PathBuf,
}

impl Cli {
    fn new() -> Self {
        let database =
            std::env::temp_dir().join(format!("cascade-cli-{}.db", uuid::Uuid::new_v4()));
        Self { database }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_cascade"))
            .args(args)
            .env(
                "CASCADE_DATABASE_URL",
                format!("sqlite://{}?mode=rwc", self.database.display()),
            )
            .env("CASCADE_LOG", "warn")
            .output()
            .expect("run cascade")
    }

    fn stdout(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "cascade {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }
}

impl Drop for Cli {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.database.display()));
        }
    }
}

#[test]
fn keys_are_created_with_the_secret_alone_on_the_last_line_then_listed_and_revoked() {
    let cli = Cli::new();
    let out = cli.stdout(&[
        "keys",
        "create",
        "--role",
        "coordinator",
        "--name",
        "Board reports",
    ]);
    let secret = out.lines().last().expect("a last line");
    assert!(
        secret.starts_with("cas_") && !secret.contains(' '),
        "last line: {secret}"
    );

    let listed = cli.stdout(&["keys", "list"]);
    let row = listed
        .lines()
        .find(|l| l.contains("Board reports"))
        .expect("key listed");
    assert!(
        row.contains("coordinator") && row.contains("live"),
        "row: {row}"
    );
    assert!(!listed.contains(secret), "list never shows secrets");

    let id = row.split_whitespace().next().expect("id column");
    cli.stdout(&["keys", "revoke", id]);
    let listed = cli.stdout(&["keys", "list"]);
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with(id) && l.contains("revoked"))
    );
}

#[test]
fn a_key_with_the_wrong_binding_is_refused_with_a_reason() {
    let cli = Cli::new();
    let out = cli.run(&["keys", "create", "--role", "partner", "--name", "HR"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("organisation_id"));
}

#[test]
fn demo_data_loads_once_and_prints_its_key_once() {
    let cli = Cli::new();
    let first = cli.stdout(&["demo"]);
    let lines: Vec<&str> = first.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("Demo partnership loaded. Coordinator API key"))
        .expect("the key's heading");
    assert!(
        lines.get(at + 1).is_some_and(|l| l.starts_with("cas_")),
        "first load: {first}"
    );
    let links = |out: &str| {
        out.lines()
            .filter(|l| l.contains("http://127.0.0.1:8080/sign-in/"))
            .count()
    };
    assert_eq!(
        links(&first),
        2,
        "sign-in links for staff and a coordinator: {first}"
    );
    let second = cli.stdout(&["demo"]);
    assert!(
        !second.lines().any(|l| l.starts_with("cas_")),
        "a second load prints no key: {second}"
    );
    assert_eq!(links(&second), 2, "fresh sign-in links each time: {second}");
}

#[test]
fn the_openapi_command_prints_the_committed_document() {
    let cli = Cli::new();
    let printed = cli.stdout(&["openapi"]);
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../openapi/openapi.json"
    ))
    .expect("committed document");
    assert!(
        printed == committed,
        "run `cargo run -q -p cascade -- openapi > openapi/openapi.json`"
    );
}

/// The booking benchmark runs end to end and its correctness checks hold (its numbers are not
/// judged here: speed is read from its output, never asserted).
#[test]
fn the_booking_benchmark_runs_and_checks_for_overbooking() {
    let cli = Cli::new();
    let out = cli.stdout(&["bench", "booking", "--sessions", "5", "--requests", "40"]);
    assert!(out.contains("checked: no session overbooked"), "{out}");
    assert!(out.contains("of the limit"), "{out}");
}

#[test]
fn backup_copies_a_live_sqlite_database_that_opens_with_its_data() {
    let cli = Cli::new();
    cli.stdout(&["demo"]);
    let listed = cli.stdout(&["keys", "list"]);
    let copy = std::env::temp_dir().join(format!("cascade-backup-{}.db", uuid::Uuid::new_v4()));
    let out = cli.stdout(&["backup", copy.to_str().expect("utf-8 path")]);
    assert!(out.contains("Backed up to"), "{out}");

    // The copy is a database of its own: it opens, migrates (nothing to do) and holds the keys.
    let restored = Cli {
        database: copy.clone(),
    };
    assert_eq!(restored.stdout(&["keys", "list"]), listed);
    let again = cli.run(&["backup", copy.to_str().expect("utf-8 path")]);
    assert!(
        !again.status.success(),
        "an existing file is never overwritten"
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}

/// A database of its own for one test: a SQLite file, or a fresh PostgreSQL database when
/// `TEST_DATABASE_URL` names a PostgreSQL server (dropped by [`Store::drop_database`]).
struct Store {
    url: String,
    admin: Option<(String, String)>,
}

impl Store {
    async fn new() -> Self {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(admin) if admin.starts_with("postgres") => {
                let name = format!("cascade_kill_{}", uuid::Uuid::new_v4().simple());
                let conn = cascade::db::connect(&admin).await.expect("connect");
                sea_orm::ConnectionTrait::execute_unprepared(
                    &conn,
                    &format!("CREATE DATABASE {name}"),
                )
                .await
                .expect("create database");
                let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
                Self {
                    url: format!("{base}/{name}"),
                    admin: Some((admin.clone(), name)),
                }
            }
            _ => {
                let path =
                    std::env::temp_dir().join(format!("cascade-kill-{}.db", uuid::Uuid::new_v4()));
                Self {
                    url: format!("sqlite://{}?mode=rwc", path.display()),
                    admin: None,
                }
            }
        }
    }

    async fn drop_database(&self) {
        if let Some((admin, name)) = &self.admin {
            let conn = cascade::db::connect(admin).await.expect("connect");
            let _ = sea_orm::ConnectionTrait::execute_unprepared(
                &conn,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            )
            .await;
        }
    }
}

/// Creates an admin key in the database at `url` with the command line; returns its secret.
fn admin_key(url: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_cascade"))
        .args(["keys", "create", "--role", "admin", "--name", "test admin"])
        .env("CASCADE_DATABASE_URL", url)
        .env("CASCADE_LOG", "warn")
        .output()
        .expect("create key");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Starts `cascade serve` on `port` and waits until it answers.
async fn start_server(url: &str, port: u16) -> std::process::Child {
    start_server_logging(url, port, "warn", std::process::Stdio::null()).await
}

/// [`start_server`] logging at `level` to `log`.
async fn start_server_logging(
    url: &str,
    port: u16,
    level: &str,
    log: std::process::Stdio,
) -> std::process::Child {
    start_server_with(url, port, level, log, &[]).await
}

/// [`start_server_logging`] with extra environment variables.
async fn start_server_with(
    url: &str,
    port: u16,
    level: &str,
    log: std::process::Stdio,
    env: &[(&str, &str)],
) -> std::process::Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cascade"))
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .envs(env.iter().copied())
        .env("CASCADE_DATABASE_URL", url)
        .env(
            "CASCADE_MAIL_DIR",
            std::env::temp_dir().join(format!("cascade-cli-mail-{port}")),
        )
        .env("CASCADE_RATE_LIMIT_PER_MINUTE", "0")
        .env("CASCADE_REQUEST_TIMEOUT", "2")
        .env("CASCADE_LOG", level)
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start cascade serve");
    let client = reqwest::Client::new();
    for _ in 0..300 {
        let ready = client
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            return child;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    child.kill().ok();
    child.wait().ok();
    panic!("cascade serve did not become ready on port {port}");
}

struct Api {
    client: reqwest::Client,
    base: String,
    key: String,
}

impl Api {
    fn new(port: u16, key: String) -> Self {
        Self {
            client: reqwest::Client::new(),
            base: format!("http://127.0.0.1:{port}/api/v1"),
            key,
        }
    }

    /// A council and an online session 30 days ahead with room for `capacity`; their ids.
    async fn council_and_session(&self, capacity: u32) -> (String, String) {
        let org = self
            .create(
                "/organisations",
                serde_json::json!({ "name": "Wiltshire Council", "sector": "council" }),
            )
            .await;
        let programme = self
            .create(
                "/programmes",
                serde_json::json!({ "code": "five-to-thrive", "name": "Five to Thrive" }),
            )
            .await;
        let course = self
            .create(
                "/courses",
                serde_json::json!({
                    "programme_id": programme, "code": "ftt-briefing", "title": "Briefing",
                    "kind": "briefing", "duration_minutes": 60, "cpd_hours": 1,
                    "default_capacity": capacity,
                }),
            )
            .await;
        let date = (chrono::Utc::now() + chrono::Duration::days(30)).date_naive();
        let session = self
            .create(
                "/sessions",
                serde_json::json!({
                    "course_id": course, "capacity": capacity,
                    "online_url": "https://meet.example/ftt",
                    "sittings": [{ "date": date, "start": "09:30", "end": "10:30" }],
                }),
            )
            .await;
        (org, session)
    }

    /// Creates something and returns its id.
    async fn create(&self, path: &str, body: serde_json::Value) -> String {
        self.post(path, body).await["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn post(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.expect("json");
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }

    async fn get(&self, path: &str) -> serde_json::Value {
        self.client
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json")
    }

    /// Books `person` with an Idempotency-Key of its own: `Ok(booking id)` on a 2xx, `Err` when
    /// no answer came (the server died) or the answer was not a 2xx.
    async fn book(&self, session: &str, person: &str) -> Result<String, String> {
        let resp = self
            .client
            .post(format!("{}/sessions/{session}/bookings", self.base))
            .bearer_auth(&self.key)
            .header("Idempotency-Key", format!("kill-{person}"))
            .json(&serde_json::json!({ "person_id": person }))
            .send()
            .await
            .map_err(|e| format!("no answer: {e}"))?;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.map_err(|e| format!("no body: {e}"))?;
        if status.is_success() {
            Ok(body["id"].as_str().unwrap_or_default().to_owned())
        } else {
            Err(format!("{status}: {body}"))
        }
    }
}

/// Kills the server with SIGKILL in the middle of a stream of bookings, restarts it, and checks
/// that every booking that was acknowledged (2xx) is there and that none is duplicated — also
/// after the requests that got no answer are retried with their Idempotency-Keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_killed_mid_stream_loses_no_acknowledged_booking_and_duplicates_none() {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    let store = Store::new().await;
    let key = admin_key(&store.url);
    let port = free_port();
    let mut server = start_server(&store.url, port).await;
    let api = Arc::new(Api::new(port, key));

    // A session with room for everyone, and 400 staff to book onto it.
    let (org, session) = api.council_and_session(500).await;
    let staff: Vec<serde_json::Value> = (0..400)
        .map(|i| {
            serde_json::json!({
                "external_id": format!("K-{i}"), "name": format!("Staff Member {i}"),
                "email": format!("staff{i}@council.example"),
            })
        })
        .collect();
    api.post(
        &format!("/organisations/{org}/people/sync"),
        serde_json::json!({ "people": staff }),
    )
    .await;
    let mut people = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = api
            .get(&format!("/people?organisation_id={org}&limit=200{cursor}"))
            .await;
        for p in page["items"].as_array().into_iter().flatten() {
            people.push(p["id"].as_str().unwrap_or_default().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(people.len(), 400);

    // Eight clients book in parallel; the server is killed once 150 bookings are acknowledged.
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for chunk in people.chunks(50) {
        let (api, session, acknowledged) = (api.clone(), session.clone(), acknowledged.clone());
        let chunk = chunk.to_vec();
        workers.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut unanswered = Vec::new();
            for person in chunk {
                match api.book(&session, &person).await {
                    Ok(booking) => {
                        acknowledged.fetch_add(1, Ordering::SeqCst);
                        acked.push((person, booking));
                    }
                    Err(err) => {
                        assert!(err.starts_with("no answer"), "refused: {err}");
                        unanswered.push(person);
                        break;
                    }
                }
            }
            (acked, unanswered)
        }));
    }
    while acknowledged.load(Ordering::SeqCst) < 150 {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    server.kill().expect("SIGKILL the server");
    server.wait().expect("reap the server");
    let mut acked = Vec::new();
    let mut unanswered = Vec::new();
    for w in workers {
        let (a, u) = w.await.expect("worker");
        acked.extend(a);
        unanswered.extend(u);
    }

    // Restart on the same database: every acknowledged booking is there, each person once.
    let port = free_port();
    let mut server = start_server(&store.url, port).await;
    let db = cascade::db::connect(&store.url).await.expect("connect");
    let session_id: uuid::Uuid = session.parse().expect("uuid");
    let rows = {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        entities::bookings::Entity::find()
            .filter(entities::bookings::Column::SessionId.eq(session_id))
            .all(&db)
            .await
            .expect("bookings")
    };
    let found: std::collections::HashSet<String> = rows.iter().map(|b| b.id.to_string()).collect();
    let missing: Vec<_> = acked.iter().filter(|(_, b)| !found.contains(b)).collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    let mut per_person = std::collections::HashMap::new();
    for b in &rows {
        *per_person.entry(b.person_id).or_insert(0) += 1;
    }
    assert!(
        per_person.values().all(|n| *n == 1),
        "a person booked twice"
    );
    let committed_unanswered = rows.len() - acked.len();

    // The requests that got no answer are retried with the same keys: each ends booked once.
    let api = Api::new(port, api.key.clone());
    for person in &unanswered {
        let mut outcome = api.book(&session, person).await;
        for _ in 0..60 {
            match &outcome {
                // Still claimed by the request that died: wait until the claim is stale.
                Err(e) if e.contains("idempotency-key-in-progress") => {
                    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                    outcome = api.book(&session, person).await;
                }
                _ => break,
            }
        }
        // A booking that committed before the kill committed its answer with it: the retry
        // gets that answer, never `already-booked`.
        if let Err(e) = outcome {
            panic!("retry of {person} failed: {e}");
        }
    }
    let after_retry = {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        entities::bookings::Entity::find()
            .filter(entities::bookings::Column::SessionId.eq(session_id))
            .all(&db)
            .await
            .expect("bookings")
    };
    let mut per_person = std::collections::HashMap::new();
    for b in &after_retry {
        *per_person.entry(b.person_id).or_insert(0) += 1;
    }
    assert!(per_person.values().all(|n| *n == 1), "a retry booked twice");
    assert_eq!(after_retry.len(), acked.len() + unanswered.len());
    let counter = {
        use sea_orm::EntityTrait;
        entities::sessions::Entity::find_by_id(session_id)
            .one(&db)
            .await
            .expect("session")
            .map(|s| s.confirmed_count)
    };
    assert_eq!(
        counter,
        Some(after_retry.len() as i32),
        "counter matches rows"
    );
    println!(
        "kill test ({}): {} bookings acknowledged before SIGKILL, {} found after restart; \
         {} requests unanswered ({} of them had committed), retried: {} bookings, 0 duplicates",
        if store.admin.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        acked.len(),
        acked.iter().filter(|(_, b)| found.contains(b)).count(),
        unanswered.len(),
        committed_unanswered,
        after_retry.len(),
    );
    server.kill().ok();
    server.wait().ok();
    db.close().await.ok();
    store.drop_database().await;
}

/// A request whose change committed but whose answer never left (the server was SIGKILLed in
/// between) gets that answer on retry with the same Idempotency-Key — the same 201 and id — and
/// the change exists once: for a booking and for a person alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_a_kill_between_commit_and_answer_gets_the_original_answer() {
    let store = Store::new().await;
    let key = admin_key(&store.url);
    let port = free_port();
    let pause = [("CASCADE_FAULT_PAUSE_AFTER_COMMIT", "pause-here")];
    let mut server = start_server_with(
        &store.url,
        port,
        "warn",
        std::process::Stdio::null(),
        &pause,
    )
    .await;
    let api = Api::new(port, key.clone());
    let (org, session) = api.council_and_session(20).await;
    let person = api
        .create(
            "/people",
            serde_json::json!({ "name": "Zoë", "email": "zoe@council.example",
                                "memberships": [{ "organisation_id": org }] }),
        )
        .await;
    let requests = [
        (
            format!("/sessions/{session}/bookings"),
            serde_json::json!({ "person_id": person }),
            "pause-here-booking",
        ),
        (
            "/people".to_owned(),
            serde_json::json!({ "name": "Olena", "email": "olena@council.example",
                                "memberships": [{ "organisation_id": org }] }),
            "pause-here-person",
        ),
    ];
    let send = |client: reqwest::Client, path: String, body: serde_json::Value, idem: String| {
        let key = key.clone();
        async move {
            client
                .post(format!("http://127.0.0.1:{port}/api/v1{path}"))
                .bearer_auth(key)
                .header("Idempotency-Key", idem)
                .timeout(std::time::Duration::from_secs(2))
                .json(&body)
                .send()
                .await
        }
    };
    for (path, body, idem) in &requests {
        let first = send(
            reqwest::Client::new(),
            path.clone(),
            body.clone(),
            (*idem).to_owned(),
        )
        .await;
        assert!(first.is_err(), "the first attempt must get no answer");
    }
    // Both changes committed before the kill.
    let db = cascade::db::connect(&store.url).await.expect("connect");
    let booked = {
        use sea_orm::EntityTrait;
        entities::bookings::Entity::find()
            .all(&db)
            .await
            .expect("bookings")
    };
    assert_eq!(booked.len(), 1, "the booking committed");
    server.kill().expect("SIGKILL the server");
    server.wait().ok();

    let mut server = start_server(&store.url, port).await;
    let client = reqwest::Client::new();
    let mut answers = Vec::new();
    for (path, body, idem) in &requests {
        let retry = send(
            client.clone(),
            path.clone(),
            body.clone(),
            (*idem).to_owned(),
        )
        .await
        .expect("the retry is answered");
        assert_eq!(retry.status().as_u16(), 201, "{path}");
        let location = retry
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body: serde_json::Value = retry.json().await.expect("json");
        answers.push((body["id"].as_str().unwrap_or_default().to_owned(), location));
    }
    assert_eq!(
        answers[0].0,
        booked[0].id.to_string(),
        "the original booking id"
    );
    let (bookings, olenas) = {
        use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
        (
            entities::bookings::Entity::find()
                .count(&db)
                .await
                .expect("count"),
            entities::people::Entity::find()
                .filter(entities::people::Column::EmailKey.eq("olena@council.example"))
                .all(&db)
                .await
                .expect("people"),
        )
    };
    assert_eq!(bookings, 1, "booked once");
    assert_eq!(olenas.len(), 1, "created once");
    assert_eq!(answers[1].0, olenas[0].id.to_string());
    assert_eq!(
        answers[1].1.as_deref(),
        Some(format!("/api/v1/people/{}", olenas[0].id).as_str())
    );
    server.kill().ok();
    server.wait().ok();
    db.close().await.ok();
    store.drop_database().await;
}

/// The info-level log of a running server holds no key, no feed token and no personal data,
/// however they reach it (headers, paths, query strings, bodies).
#[tokio::test]
async fn info_logs_hold_no_keys_tokens_or_personal_data() {
    let store = Store::new().await;
    let cli = Cli::new();
    let key = admin_key(&store.url);
    let log_path = cli.database.with_extension("log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let port = free_port();
    let mut server = start_server_logging(&store.url, port, "info", log.into()).await;
    let api = Api::new(port, key);
    let org = api
        .create(
            "/organisations",
            serde_json::json!({ "name": "Wiltshire Police", "sector": "police" }),
        )
        .await;
    let person = api
        .create(
            "/people",
            serde_json::json!({
                "name": "Zoë Ashworth-Łukasiewicz", "email": "zoe.secret@police.example",
                "memberships": [{ "organisation_id": org, "external_id": "WP-SECRET-42" }],
            }),
        )
        .await;
    let feed = api
        .post(
            "/calendar-feeds",
            serde_json::json!({ "person_id": person }),
        )
        .await["url"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let token = feed.rsplit('/').nth(1).unwrap_or_default().to_owned();
    api.get("/people?email=zoe.secret@police.example").await;
    let _ = api
        .client
        .get(format!(
            "http://127.0.0.1:{port}/api/v1/feeds/{token}/calendar.ics"
        ))
        .send()
        .await;
    let _ = api
        .client
        .get(format!("{}/courses", api.base))
        .bearer_auth("cas_a-wrong-key-that-must-not-be-logged")
        .send()
        .await;
    server.kill().ok();
    server.wait().ok();
    let logged = std::fs::read_to_string(&log_path).expect("read log");
    let _ = std::fs::remove_file(&log_path);
    store.drop_database().await;
    assert!(
        logged.contains("create_person"),
        "the access log names operations:\n{logged}"
    );
    for secret in [
        api.key.as_str(),
        &api.key[4..20],
        token.as_str(),
        "cas_a-wrong-key",
        "Zoë",
        "zoe.secret",
        "WP-SECRET-42",
        "remote_addr",
        "client",
    ] {
        assert!(!logged.contains(secret), "{secret:?} was logged:\n{logged}");
    }
}
