//! The shared test harness: [`TestApp::spawn`] builds Cascade in process on a fresh, migrated
//! database (the production migrations). SQLite by default, in a temporary file configured as in
//! production; PostgreSQL when `TEST_DATABASE_URL` is set, in a uniquely named database that is
//! dropped afterwards.

use cascade::{
    app,
    clock::Clock,
    config::Config,
    db,
    domain::{
        api_keys::{self, KeyRole, NewApiKey},
        sessions::london_today,
        trainers::steps::financial_year,
    },
    state::AppState,
};
use poem::{EndpointExt, Response, test::TestClient};
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use uuid::Uuid;

pub use poem::http::StatusCode;

pub type Client = TestClient<poem::endpoint::BoxEndpoint<'static, Response>>;

enum Store {
    SqliteFile(std::path::PathBuf),
    Postgres { admin_url: String, name: String },
}

pub struct TestApp {
    pub client: Client,
    /// The application's state, for what only the server's own loops do (webhook runs).
    pub state: AppState,
    pub db: DatabaseConnection,
    /// An admin key, for arranging what a test needs.
    pub admin: String,
    /// The app's clock: it stands still until a test moves it.
    pub clock: Clock,
    /// The database URL, for a second instance of the app on the same database.
    pub url: String,
    store: Store,
}

/// A JSON response: status, content type and parsed body.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub content_type: String,
    pub headers: poem::http::HeaderMap,
    pub body: Value,
    pub text: String,
    pub bytes: Vec<u8>,
}

impl Reply {
    async fn read(resp: poem::test::TestResponse) -> Self {
        let status = resp.0.status();
        let headers = resp.0.headers().clone();
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let bytes = resp.0.into_body().into_vec().await.expect("read body");
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self {
            status,
            content_type,
            headers,
            body,
            text,
            bytes,
        }
    }

    /// Asserts the status, printing the body when it differs.
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text
        );
        self
    }

    /// Asserts an RFC 9457 problem with this status, and returns its body.
    #[track_caller]
    pub fn problem(self, status: u16) -> Value {
        let reply = self.expect(status);
        assert_eq!(
            reply.content_type, "application/problem+json",
            "body: {}",
            reply.text
        );
        for field in ["type", "title", "status", "detail"] {
            assert!(
                reply.body.get(field).is_some(),
                "problem lacks `{field}`: {}",
                reply.text
            );
        }
        assert_eq!(reply.body["status"], status);
        reply.body
    }

    /// The fields named in a problem's `errors` list.
    pub fn error_fields(body: &Value) -> Vec<String> {
        body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| e["field"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Like [`TestApp::spawn`], with the configuration adjusted first.
    pub async fn spawn_with(configure: impl FnOnce(&mut Config)) -> Self {
        Self::spawn_at(test_date(), configure).await
    }

    /// For tests whose data name calendar dates (2027's clock changes, a session on
    /// 10 February 2027): their clock starts on [`DATED`], whatever today is, so those dates stay
    /// in the future.
    pub async fn spawn_dated() -> Self {
        let day = DATED.parse().expect("DATED is a date");
        Self::spawn_at(day, |_| {}).await
    }

    async fn spawn_at(day: chrono::NaiveDate, configure: impl FnOnce(&mut Config)) -> Self {
        let (url, store) = match std::env::var("TEST_DATABASE_URL") {
            Ok(admin_url) if admin_url.starts_with("postgres") => {
                let name = format!("cascade_test_{}", Uuid::new_v4().simple());
                let admin = db::connect(&admin_url)
                    .await
                    .expect("connect to TEST_DATABASE_URL");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                let base = admin_url
                    .rsplit_once('/')
                    .map_or(admin_url.as_str(), |(b, _)| b);
                (
                    format!("{base}/{name}"),
                    Store::Postgres { admin_url, name },
                )
            }
            _ => {
                let path = std::env::temp_dir().join(format!("cascade-test-{}.db", Uuid::new_v4()));
                (
                    format!("sqlite://{}?mode=rwc", path.display()),
                    Store::SqliteFile(path),
                )
            }
        };
        let db = db::connect(&url).await.expect("connect to test database");
        cascade::domain::migrate(&db)
            .await
            .expect("migrate test database");
        // Today at noon UTC, whatever the hour the suite runs at: rules turn on London dates and
        // times of day (a session starting at 09:30, a day's end), so a test that moves the clock
        // by whole days must land on the same side of them at 00:01 as at 15:00.
        // `CASCADE_TEST_DATE=YYYY-MM-DD` runs the suite on another day (a clock change, the end
        // of a programme year) to reproduce a failure that only shows on that date.
        let clock = Clock::manual(noon(day));
        let admin = create_key(
            &db,
            &clock,
            NewApiKey {
                name: "test admin".into(),
                role: KeyRole::Admin,
                organisation_id: None,
                person_id: None,
            },
        )
        .await;
        let mut config = Config::new(url.clone(), "http://cascade.test");
        // The suite's webhook receivers listen on http://127.0.0.1, which a real deployment
        // would refuse; tests of that refusal configure their own.
        config.webhook_allow_http = true;
        config.webhook_allow_hosts = vec!["127.0.0.1".to_owned()];
        // Each test's mail folder is its own.
        config.mail_dir = std::env::temp_dir().join(format!("cascade-mail-{}", Uuid::new_v4()));
        configure(&mut config);
        let state = AppState::new(db.clone(), config).with_clock(clock.clone());
        let client = TestClient::new(app(state.clone()).boxed());
        Self {
            client,
            state,
            db,
            admin,
            clock,
            url,
            store,
        }
    }

    /// Moves the clock to noon on the next 1 April if fewer than `days` remain of the programme
    /// year (April to March), so a test's sessions and its year's report fall in one programme
    /// year on any date.
    pub fn leave_room_in_programme_year(&self, days: i64) {
        let now = self.clock.now();
        let today = london_today(now);
        let next_april = chrono::NaiveDate::from_ymd_opt(financial_year(today) + 1, 4, 1)
            .expect("1 April exists");
        if today + chrono::Duration::days(days) >= next_april {
            self.clock.advance(noon(next_april) - now);
        }
    }

    /// Creates a key of `role`, bound to an organisation or person where the role needs one.
    pub async fn key(
        &self,
        role: KeyRole,
        organisation_id: Option<Uuid>,
        person_id: Option<Uuid>,
    ) -> String {
        create_key(
            &self.db,
            &self.clock,
            NewApiKey {
                name: format!("test {role:?}"),
                role,
                organisation_id,
                person_id,
            },
        )
        .await
    }

    pub async fn request(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        self.request_with(method, path, key, &[], body).await
    }

    /// [`Self::request`] with extra headers.
    pub async fn request_with(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Reply {
        let mut req = match method {
            "GET" => self.client.get(path),
            "POST" => self.client.post(path),
            "PATCH" => self.client.patch(path),
            "PUT" => self.client.put(path),
            "DELETE" => self.client.delete(path),
            other => panic!("unsupported method {other}"),
        };
        if let Some(key) = key {
            req = req.header("Authorization", format!("Bearer {key}"));
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if let Some(body) = body {
            req = req.body_json(&body);
        }
        // Boxed: the app's future is large and a test thread's stack is 2 MiB.
        Reply::read(Box::pin(req.send()).await).await
    }

    pub async fn get(&self, path: &str, key: &str) -> Reply {
        self.request("GET", path, Some(key), None).await
    }

    /// POSTs with an `Idempotency-Key` of its own, as a careful integrator would: so the whole
    /// suite runs every POST through the path whose answer commits with its change.
    pub async fn post(&self, path: &str, key: &str, body: Value) -> Reply {
        let idempotency_key = format!("test-{}", Uuid::now_v7());
        self.request_with(
            "POST",
            path,
            Some(key),
            &[("Idempotency-Key", &idempotency_key)],
            Some(body),
        )
        .await
    }

    pub async fn patch(&self, path: &str, key: &str, body: Value) -> Reply {
        self.request("PATCH", path, Some(key), Some(body)).await
    }

    pub async fn put(&self, path: &str, key: &str, body: Value) -> Reply {
        self.request("PUT", path, Some(key), Some(body)).await
    }

    /// Sends raw bytes with a content type, for malformed-input tests.
    pub async fn raw(&self, method: &str, path: &str, content_type: &str, body: Vec<u8>) -> Reply {
        self.raw_as(&self.admin, method, path, content_type, body)
            .await
    }

    /// [`Self::raw`] with the given key.
    pub async fn raw_as(
        &self,
        key: &str,
        method: &str,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Reply {
        let req = match method {
            "POST" => self.client.post(path),
            "PATCH" => self.client.patch(path),
            "PUT" => self.client.put(path),
            other => panic!("unsupported method {other}"),
        };
        let req = req
            .header("Authorization", format!("Bearer {key}"))
            .content_type(content_type)
            .body(body);
        // Boxed: the app's future is large and a test thread's stack is 2 MiB.
        Reply::read(Box::pin(req.send()).await).await
    }

    /// Rows in a table, to prove that refused input wrote nothing.
    pub async fn count<E: EntityTrait>(&self, _entity: E) -> u64
    where
        E::Model: Send + Sync,
    {
        E::find().count(&self.db).await.expect("count rows")
    }

    // --- arranging records through the API -------------------------------------------------

    pub async fn organisation(&self, name: &str, sector: &str) -> Uuid {
        let body = json!({ "name": name, "sector": sector });
        id_of(
            &self
                .post("/api/v1/organisations", &self.admin, body)
                .await
                .expect(201)
                .body,
        )
    }

    pub async fn person(
        &self,
        name: &str,
        email: &str,
        organisation_id: Uuid,
        external_id: &str,
    ) -> Uuid {
        let body = json!({
            "name": name,
            "email": email,
            "memberships": [{ "organisation_id": organisation_id, "external_id": external_id }],
        });
        id_of(
            &self
                .post("/api/v1/people", &self.admin, body)
                .await
                .expect(201)
                .body,
        )
    }

    /// `n` people of one organisation, named `{prefix}0`, `{prefix}1`, … (emails and external
    /// ids follow the names).
    pub async fn people(&self, organisation_id: Uuid, prefix: &str, n: usize) -> Vec<Uuid> {
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let name = format!("{prefix}{i}");
            out.push(
                self.person(
                    &name,
                    &format!("{name}@example.org"),
                    organisation_id,
                    &name.to_uppercase(),
                )
                .await,
            );
        }
        out
    }

    pub async fn programme(&self, code: &str) -> Uuid {
        let body = json!({ "code": code, "name": format!("Programme {code}") });
        id_of(
            &self
                .post("/api/v1/programmes", &self.admin, body)
                .await
                .expect(201)
                .body,
        )
    }

    pub async fn course(&self, programme_id: Uuid, code: &str) -> Uuid {
        let body = json!({
            "programme_id": programme_id,
            "code": code,
            "title": format!("Course {code}"),
            "kind": "champion",
            "duration_minutes": 360,
            "cpd_hours": 6,
            "default_capacity": 20,
        });
        id_of(
            &self
                .post("/api/v1/courses", &self.admin, body)
                .await
                .expect(201)
                .body,
        )
    }

    pub async fn reference(&self, list: &str, name: &str) -> Uuid {
        id_of(
            &self
                .post(
                    &format!("/api/v1/{list}"),
                    &self.admin,
                    json!({ "name": name }),
                )
                .await
                .expect(201)
                .body,
        )
    }
}

impl TestApp {
    /// Serves a new instance of the app (its own connection pool, the same database and clock)
    /// on a real socket on 127.0.0.1. Returns its base URL. On PostgreSQL it is a replica in
    /// all but the process: its own connections, so only the database keeps the two apart. On
    /// SQLite it shares this process's write turn (`db::begin_write`); separate processes on one
    /// SQLite file are exercised by `cascade bench`, not by the suite.
    pub async fn serve_replica(&self) -> String {
        self.serve_configured(|_| {}).await
    }

    /// [`Self::serve_replica`] with its configuration changed first, behind the listener
    /// `cascade serve` uses (header deadline and all).
    pub async fn serve_configured(&self, configure: impl FnOnce(&mut Config)) -> String {
        let db = db::connect(&self.url).await.expect("connect replica");
        let mut config = Config::new(self.url.clone(), "http://cascade.test");
        configure(&mut config);
        let header_timeout = config.header_read_timeout;
        let state = AppState::new(db, config).with_clock(self.clock.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let acceptor = cascade::listener::from_tokio(listener, header_timeout).expect("listen");
        let server = poem::Server::new_with_acceptor(acceptor);
        tokio::spawn(async move { server.run(app(state)).await });
        wait_listening(addr).await;
        format!("{addr}")
    }

    /// Schedules a session of `course` with one sitting `days` days from the test clock's today,
    /// 09:30–16:00 London time.
    pub async fn session(&self, course: Uuid, days: i64, capacity: i32) -> Value {
        let date = (self.clock.now() + chrono::Duration::days(days))
            .with_timezone(&chrono_tz::Europe::London)
            .date_naive();
        let body = json!({
            "course_id": course,
            "sittings": [{ "date": date, "start": "09:30", "end": "16:00" }],
            "venue": { "name": "Corn Exchange, Devizes" },
            "capacity": capacity,
        });
        self.post("/api/v1/sessions", &self.admin, body)
            .await
            .expect(201)
            .body
    }

    /// Books `person` on `session` as `key`, returning the reply.
    pub async fn book(&self, session: Uuid, person: Uuid, key: &str) -> Reply {
        self.post(
            &format!("/api/v1/sessions/{session}/bookings"),
            key,
            json!({ "person_id": person }),
        )
        .await
    }
}

/// Waits (up to a second) until something accepts connections at `addr`.
pub async fn wait_listening(addr: std::net::SocketAddr) {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Sends one HTTP/1.1 request over a real socket and returns the status and JSON body.
pub async fn http(addr: &str, method: &str, path: &str, key: &str, body: &Value) -> (u16, Value) {
    http_with(addr, method, path, key, &[], body).await
}

/// [`http`] with extra headers.
pub async fn http_with(
    addr: &str,
    method: &str,
    path: &str,
    key: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let payload = body.to_string();
    let extra: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
        payload.len()
    );
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("receive");
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// The `id` of a JSON resource.
#[track_caller]
pub fn id_of(body: &Value) -> Uuid {
    body["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no id in {body}"))
}

/// Every item of a list, following `next_cursor` from page to page.
pub async fn collect_all(app: &TestApp, path: &str, key: &str, limit: u32) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = match &cursor {
            Some(c) => format!("{path}{sep}limit={limit}&cursor={c}"),
            None => format!("{path}{sep}limit={limit}"),
        };
        let page = app.get(&url, key).await.expect(200).body;
        let batch = page["items"].as_array().expect("items").clone();
        assert!(batch.len() <= limit as usize);
        items.extend(batch);
        match page.get("next_cursor").and_then(Value::as_str) {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    items
}

impl Drop for TestApp {
    fn drop(&mut self) {
        match &self.store {
            Store::SqliteFile(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Store::Postgres { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs inside the test's runtime; a thread with its own runtime can block.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .ok()?;
                    rt.block_on(async move {
                        let admin = cascade::db::connect(&admin_url).await.ok()?;
                        admin
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .await
                            .ok()?;
                        admin.close().await.ok()
                    })
                })
                .join();
            }
        }
    }
}

/// The text of a PDF, extracted by poppler's `pdftotext` (installed by `.ci/run`).
pub fn pdf_text(pdf: &[u8]) -> String {
    pdf_tool("pdftotext", pdf, &["-"])
}

/// The number of pages of a PDF, from poppler's `pdfinfo`.
pub fn pdf_pages(pdf: &[u8]) -> usize {
    pdf_tool("pdfinfo", pdf, &[])
        .lines()
        .find_map(|l| l.strip_prefix("Pages:").and_then(|n| n.trim().parse().ok()))
        .unwrap_or(0)
}

fn pdf_tool(tool: &str, pdf: &[u8], args: &[&str]) -> String {
    assert!(pdf.starts_with(b"%PDF-"), "not a PDF");
    let path = std::env::temp_dir().join(format!("cascade-test-{}.pdf", Uuid::new_v4()));
    std::fs::write(&path, pdf).expect("write PDF");
    let out = std::process::Command::new(tool)
        .arg(&path)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("{tool} is needed to check PDFs (apt-get install poppler-utils): {e}")
        });
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "{tool} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Keeps a calendar for `.ci/run` to check with an independent parser (Python's `icalendar`),
/// when `CASCADE_ICS_DUMP` names a folder.
pub fn keep_ics(name: &str, body: &str) {
    if let Ok(dir) = std::env::var("CASCADE_ICS_DUMP") {
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(
            std::path::Path::new(&dir).join(format!("{name}-{}.ics", Uuid::new_v4())),
            body,
        );
    }
}

/// The day [`TestApp::spawn_dated`] tests run on.
pub const DATED: &str = "2026-11-20";

/// Noon UTC on `day`: where every test clock starts or lands.
fn noon(day: chrono::NaiveDate) -> chrono::DateTime<chrono::Utc> {
    day.and_hms_opt(12, 0, 0).expect("noon exists").and_utc()
}

/// The day the suite runs on: `CASCADE_TEST_DATE` if set, otherwise today (UTC).
fn test_date() -> chrono::NaiveDate {
    match std::env::var("CASCADE_TEST_DATE") {
        Ok(day) => day
            .parse()
            .unwrap_or_else(|e| panic!("CASCADE_TEST_DATE={day:?} is not YYYY-MM-DD: {e}")),
        Err(_) => chrono::Utc::now().date_naive(),
    }
}

/// The path of a calendar feed, from the answer that created it (its `url`).
pub fn feed_path(feed: &Value) -> String {
    feed["url"]
        .as_str()
        .unwrap_or("")
        .trim_start_matches("http://cascade.test")
        .to_owned()
}

/// The kind of a problem answer: the last segment of its `type` (`already-booked`).
pub fn kind(problem: &Value) -> &str {
    problem["type"]
        .as_str()
        .and_then(|t| t.rsplit('/').next())
        .unwrap_or("")
}

/// Creates a key outside any request, as scheduled work would (audited as `system`, on the test
/// clock), and returns its secret.
async fn create_key(db: &DatabaseConnection, clock: &Clock, input: NewApiKey) -> String {
    let ctx = cascade::ctx::Ctx::system(db, clock);
    let txn = ctx.begin().await.expect("begin");
    let created = api_keys::create(&txn, input, ctx.now())
        .await
        .expect("create key");
    txn.commit().await.expect("commit key");
    created.secret
}

/// An email the service wrote to its mail folder, parsed.
#[derive(Debug, Clone)]
pub struct Mail {
    /// What it says, from its file name (e.g. `booking_confirmed`).
    pub kind: String,
    pub to_address: String,
    pub to_name: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The iMIP part's `method=` parameter and body.
    pub calendar: Option<(String, String)>,
    /// File name, content type and bytes of each attachment.
    pub attachments: Vec<(String, String, Vec<u8>)>,
    /// The raw message.
    pub raw: String,
}

impl Mail {
    pub fn parse(kind: &str, raw: &[u8]) -> Self {
        use mail_parser::{MessageParser, MimeHeaders};
        let msg = MessageParser::default().parse(raw).expect("a MIME message");
        let to = msg.to().and_then(|a| a.first()).expect("a To address");
        let mut calendar = None;
        let mut attachments = Vec::new();
        for part in msg.parts.iter() {
            let Some(ct) = part.content_type() else {
                continue;
            };
            let full = format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or_default());
            if part.attachment_name().is_some() {
                attachments.push((
                    part.attachment_name().unwrap_or_default().to_owned(),
                    full,
                    part.contents().to_vec(),
                ));
            } else if full == "text/calendar" {
                let method = ct.attribute("method").unwrap_or_default().to_owned();
                calendar = Some((
                    method,
                    String::from_utf8_lossy(part.contents()).into_owned(),
                ));
            }
        }
        Self {
            kind: kind.to_owned(),
            to_address: to.address().unwrap_or_default().to_owned(),
            to_name: to.name().unwrap_or_default().to_owned(),
            subject: msg.subject().unwrap_or_default().to_owned(),
            text: msg.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
            html: msg.body_html(0).map(|t| t.into_owned()).unwrap_or_default(),
            calendar,
            attachments,
            raw: String::from_utf8_lossy(raw).into_owned(),
        }
    }

    /// A property of the calendar part's first event, e.g. `SEQUENCE`.
    pub fn calendar_property(&self, name: &str) -> Option<String> {
        let (_, body) = self.calendar.as_ref()?;
        let unfolded = body.replace("\r\n ", "").replace("\n ", "");
        unfolded.lines().find_map(|l| {
            let l = l.trim_end_matches('\r');
            let (key, value) = l.split_once(':')?;
            (key.split(';').next() == Some(name)).then(|| value.to_owned())
        })
    }
}

impl TestApp {
    /// Runs the mail worker once, as a replica would.
    pub async fn send_mail(&self) -> cascade::domain::mail::send::Run {
        cascade::domain::mail::send::run_worker(&self.state)
            .await
            .expect("the mail worker runs")
    }

    /// Every message in the mail folder, in the order they were queued.
    pub fn mailbox(&self) -> Vec<Mail> {
        let Ok(dir) = std::fs::read_dir(&self.state.config.mail_dir) else {
            return Vec::new();
        };
        let mut files: Vec<_> = dir
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| {
                let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
                // <created>-<kind>-<uuid>: the kind sits between the first dash and the uuid.
                let rest = stem.split_once('-').map_or("", |(_, r)| r);
                let kind = &rest[..rest.len().saturating_sub(37)];
                Mail::parse(kind, &std::fs::read(p).expect("read a message"))
            })
            .collect()
    }

    /// The messages of one kind sent to one address.
    pub fn mail_to(&self, address: &str, kind: &str) -> Vec<Mail> {
        self.mailbox()
            .into_iter()
            .filter(|m| m.to_address == address && m.kind == kind)
            .collect()
    }
}

/// A browser for the pages: it keeps the cookies the service sets, and the last form token.
pub struct Browser<'a> {
    pub app: &'a TestApp,
    pub cookies: std::collections::BTreeMap<String, String>,
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            cookies: Default::default(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, reply: &Reply) {
        for value in reply.headers.get_all("set-cookie") {
            let Ok(text) = value.to_str() else { continue };
            let pair = text.split(';').next().unwrap_or_default();
            if let Some((k, v)) = pair.split_once('=') {
                if v.is_empty() {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_owned(), v.to_owned());
                }
            }
        }
    }

    pub async fn get(&mut self, path: &str) -> Reply {
        let cookie = self.cookie_header();
        let reply = self
            .app
            .request_with("GET", path, None, &[("Cookie", &cookie)], None)
            .await;
        self.keep(&reply);
        reply
    }

    /// Posts a form (`application/x-www-form-urlencoded`).
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}={}", k, url_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let reply = Reply::read(
            Box::pin(
                self.app
                    .client
                    .post(path)
                    .header("Cookie", self.cookie_header())
                    .content_type("application/x-www-form-urlencoded")
                    .body(body)
                    .send(),
            )
            .await,
        )
        .await;
        self.keep(&reply);
        reply
    }

    /// Asks for a sign-in link for `email` and signs in with the link the service emailed.
    pub async fn sign_in(&mut self, email: &str) {
        let form = self.get("/sign-in").await.expect(200);
        let token = form_token(&form.text);
        self.post("/sign-in", &[("email", email), ("csrf", &token)])
            .await
            .expect(200);
        self.app.send_mail().await;
        let link = self.app.sign_in_link(email);
        let page = self.get(&link).await.expect(200);
        let token = form_token(&page.text);
        let reply = self.post(&link, &[("csrf", &token)]).await.expect(303);
        assert_eq!(
            reply.headers.get("location").map(|v| v.to_str().ok()),
            Some(Some("/my"))
        );
    }
}

/// The hidden `csrf` field of a page's (first) form.
pub fn form_token(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a csrf field");
    let rest = &html[at + 19..];
    rest[..rest.find('"').expect("end of value")].to_owned()
}

fn url_encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl TestApp {
    /// The path of the newest sign-in link emailed to `email`.
    pub fn sign_in_link(&self, email: &str) -> String {
        let mail = self.mail_to(email, "sign_in_link");
        let last = mail.last().expect("a sign-in link was emailed");
        let at = last.text.find("/sign-in/").expect("a link in the text");
        last.text[at..]
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned()
    }
}
