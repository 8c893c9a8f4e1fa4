//! What the HTTP benchmarks share: a fresh database, Cascade started from this very binary as a
//! child process (so its memory is measured apart from the load generator's), a bounded load at
//! a fixed concurrency, and latency percentiles.

use std::{
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::Value;
use uuid::Uuid;

use crate::{
    db,
    domain::api_keys::{self, KeyRole, NewApiKey},
};

/// A database made for one run: a SQLite file in a temporary folder, or a database created on
/// a PostgreSQL server. Removed by [`Scratch::remove`].
struct Scratch {
    url: String,
    label: &'static str,
    cleanup: Cleanup,
}

enum Cleanup {
    Folder(std::path::PathBuf),
    Database { server: String, name: String },
}

impl Scratch {
    pub fn sqlite() -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("cascade-bench-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)?;
        Ok(Self {
            url: format!("sqlite://{}?mode=rwc", dir.join("bench.db").display()),
            label: "SQLite",
            cleanup: Cleanup::Folder(dir),
        })
    }

    pub async fn postgres(server: &str) -> anyhow::Result<Self> {
        let name = format!("cascade_bench_{}", Uuid::new_v4().simple());
        let Some((base, _)) = server.rsplit_once('/') else {
            bail!(
                "the PostgreSQL URL must name a database, e.g. postgres://postgres@127.0.0.1:5432/postgres"
            );
        };
        let admin = db::connect(server).await?;
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await?;
        admin.close().await.ok();
        Ok(Self {
            url: format!("{base}/{name}"),
            label: "PostgreSQL",
            cleanup: Cleanup::Database {
                server: server.to_owned(),
                name,
            },
        })
    }

    pub async fn remove(self) {
        match self.cleanup {
            Cleanup::Folder(dir) => {
                std::fs::remove_dir_all(dir).ok();
            }
            Cleanup::Database { server, name } => {
                if let Ok(admin) = db::connect(&server).await {
                    admin
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await
                        .ok();
                }
            }
        }
    }
}

/// Runs `backend(url, label)` on a fresh SQLite file and, when given a server, a fresh
/// PostgreSQL database, removing each afterwards; returns the reports one after the other.
pub async fn on_each_backend<F, Fut>(postgres: Option<&str>, backend: F) -> anyhow::Result<String>
where
    F: Fn(String, &'static str) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<String>>,
{
    let mut report = String::new();
    let mut scratches = vec![Scratch::sqlite()?];
    if let Some(server) = postgres {
        scratches.push(Scratch::postgres(server).await?);
    }
    for scratch in scratches {
        let result = backend(scratch.url.clone(), scratch.label).await;
        // CASCADE_BENCH_KEEP=1 keeps the database for a look at its query plans afterwards.
        if std::env::var_os("CASCADE_BENCH_KEEP").is_some() {
            eprintln!("kept: {}", scratch.url);
        } else {
            scratch.remove().await;
        }
        report.push_str(&result?);
    }
    Ok(report)
}

/// A line saying how this binary's SQLite was built, for a bench's header ("" on PostgreSQL).
pub async fn sqlite_build(conn: &DatabaseConnection) -> String {
    match crate::db::sqlite_memstatus_off(conn).await {
        Ok(Some(true)) => format!(
            "(SQLite built with {})\n",
            crate::db::SQLITE_MEMSTATUS_FLAGS
        ),
        Ok(Some(false)) => format!(
            "(SQLite built with its memory statistics on: build with LIBSQLITE3_FLAGS={} \
             for the figures of the README)\n",
            crate::db::SQLITE_MEMSTATUS_FLAGS
        ),
        Ok(None) | Err(_) => String::new(),
    }
}

/// Cascade serving a scratch database from a child process, with an admin key.
pub struct Server {
    child: Child,
    pub base: String,
    pub key: String,
    pub client: reqwest::Client,
    /// The benchmark's own connection, for seeding in bulk and checking afterwards.
    pub conn: DatabaseConnection,
}

impl Server {
    /// Migrates the database, makes an admin key, and starts `cascade serve` on a free port of
    /// 127.0.0.1 with no per-key rate limit.
    pub async fn start(url: &str) -> anyhow::Result<Self> {
        let conn = db::connect(url).await?;
        crate::domain::migrate(&conn).await?;
        let ctx = crate::ctx::Ctx::cli(&conn);
        let txn = ctx.begin().await?;
        let key = api_keys::create(
            &txn,
            NewApiKey {
                name: "bench".into(),
                role: KeyRole::Admin,
                organisation_id: None,
                person_id: None,
            },
            ctx.now(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("creating a key: {e:?}"))?
        .secret;
        txn.commit().await?;
        let (child, addr) = spawn_serve(url).await?;
        Ok(Self {
            child,
            base: format!("http://{addr}/api/v1"),
            key,
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(64)
                .build()?,
            conn,
        })
    }

    /// Another `cascade serve` on the same database, on its own port: a replica.
    pub async fn replica(&self, url: &str) -> anyhow::Result<Replica> {
        let (child, addr) = spawn_serve(url).await?;
        Ok(Replica {
            child,
            base: format!("http://{addr}/api/v1"),
        })
    }

    pub fn peak_rss_mib(&self) -> f64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
            .map_or(0.0, |kb| kb / 1024.0)
    }

    /// The server process's resident memory now (VmRSS), in MiB.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn rss_mib(&self) -> f64 {
        rss_of(self.child.id())
    }

    /// Runs `work` while sampling the server's resident memory every 5 ms; returns the work's
    /// result and the highest sample.
    pub async fn sampling_rss<T>(&self, work: impl std::future::Future<Output = T>) -> (T, f64) {
        let pid = self.child.id();
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sampler = tokio::spawn({
            let done = done.clone();
            async move {
                let mut peak = 0.0f64;
                while !done.load(Ordering::Relaxed) {
                    peak = peak.max(rss_of(pid));
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                peak.max(rss_of(pid))
            }
        });
        let result = work.await;
        done.store(true, Ordering::Relaxed);
        (result, sampler.await.unwrap_or(0.0))
    }

    /// Waits until the server's mail worker has sent every message it can send now (each
    /// booking queues a confirmation), so one scenario's email is not sent while the next is
    /// measured. Messages leased by a replica that has been stopped wait for their lease to run
    /// out (five minutes) and are not waited for.
    pub async fn settle_outbox(&self) -> anyhow::Result<()> {
        self.wait_for_mail(false).await
    }

    /// Waits until no due message is left unsent: with `leased`, including those a worker is
    /// sending now (see [`Server::unsent_mail`]).
    pub async fn wait_for_mail(&self, leased: bool) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            let pending = self.unsent_mail(leased).await?;
            if pending == 0 {
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(120) {
                bail!("{pending} messages still unsent after two minutes");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Messages due and not sent yet: with `leased`, those a worker has taken and is sending
    /// too; without, only those no worker holds (see [`Server::settle_outbox`]).
    pub async fn unsent_mail(&self, leased: bool) -> anyhow::Result<u64> {
        use entities::messages;
        use sea_orm::{ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter};
        let now = crate::clock::Clock::system().now();
        let mut due = messages::Entity::find()
            .filter(messages::Column::Status.eq("pending"))
            .filter(messages::Column::NextAttemptAt.lte(now));
        if !leased {
            due = due.filter(
                Condition::any()
                    .add(messages::Column::LeaseUntil.is_null())
                    .add(messages::Column::LeaseUntil.lte(now)),
            );
        }
        Ok(due.count(&self.conn).await?)
    }

    pub fn stop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }

    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let resp = self
            .client
            .post(&url)
            .bearer_auth(&self.key)
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

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let resp = self.client.get(&url).bearer_auth(&self.key).send().await?;
        let status = resp.status();
        let bytes = resp.bytes().await?;
        if !status.is_success() {
            bail!(
                "{url} answered {status}: {}",
                String::from_utf8_lossy(&bytes)
            );
        }
        Ok(serde_json::from_slice(&bytes)?)
    }

    /// Every id in a paginated list.
    pub async fn ids(&self, path: &str) -> anyhow::Result<Vec<Uuid>> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        let sep = if path.contains('?') { '&' } else { '?' };
        loop {
            let mut url = format!("{path}{sep}limit=200");
            if let Some(c) = &cursor {
                url.push_str(&format!("&cursor={c}"));
            }
            let page = self.get(&url).await?;
            for item in page["items"].as_array().into_iter().flatten() {
                out.push(id(item)?);
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return Ok(out),
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts `cascade serve` from this binary on a free port of 127.0.0.1 and waits until it
/// listens.
async fn spawn_serve(url: &str) -> anyhow::Result<(Child, std::net::SocketAddr)> {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let mut child = Command::new(std::env::current_exe()?)
        .args(["serve", "--bind", &addr.to_string()])
        .args(["--database-url", url, "--rate-limit-per-minute", "0"])
        .args(["--public-url", &format!("http://{addr}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting cascade serve")?;
    for _ in 0..500 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok((child, addr));
        }
        if let Some(status) = child.try_wait()? {
            bail!("cascade serve exited before listening: {status}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().ok();
    child.wait().ok();
    bail!("cascade serve did not start listening on {addr}")
}

/// A replica started by [`Server::replica`]; stopped when dropped.
pub struct Replica {
    child: Child,
    pub base: String,
}

impl Replica {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

fn rss_of(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

pub fn id(v: &Value) -> anyhow::Result<Uuid> {
    v["id"].as_str().context("no id")?.parse().context("bad id")
}

/// One scenario's figures.
pub struct Figures {
    pub requests: usize,
    pub per_second: f64,
    pub p50: Duration,
    pub p95: Duration,
    pub p99: Duration,
    pub errors: usize,
    /// CPU time the Cascade server processes spent per request (user and system), set by
    /// [`with_server_cpu`]: steadier than throughput on a machine whose speed drifts.
    pub server_cpu: Option<Duration>,
    /// Thread switches of the server processes per request (voluntary and not, every thread),
    /// set by [`with_server_cpu`]: each hand-off between the HTTP tasks and a database
    /// connection's thread shows here, whatever the machine's speed.
    pub server_switches: Option<f64>,
}

impl Figures {
    pub const HEADER: &str = "     req/s    p50 ms    p95 ms    p99 ms  errors  cpu ms  cs/req";

    pub fn row(&self) -> String {
        format!(
            "{:>10.0} {:>9.2} {:>9.2} {:>9.2} {:>7} {:>7} {:>7}",
            self.per_second,
            ms(self.p50),
            ms(self.p95),
            ms(self.p99),
            self.errors,
            self.server_cpu
                .map_or_else(|| "-".to_owned(), |d| format!("{:.2}", ms(d))),
            self.server_switches
                .map_or_else(|| "-".to_owned(), |n| format!("{n:.1}"))
        )
    }
}

/// CPU time a process has used so far (user and system, from `/proc/<pid>/stat`).
fn cpu_of(pid: u32) -> Duration {
    // Fields 14 and 15 (after the command name in parentheses), in USER_HZ = 100 ticks/s.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .map_or(Duration::ZERO, |ticks| Duration::from_millis(ticks * 10))
}

/// Thread switches of a process so far: `voluntary_ctxt_switches` and
/// `nonvoluntary_ctxt_switches` of each of its threads (`/proc/<pid>/task/*/status`; a thread
/// that has ended is no longer counted, which the long-lived runtime and connection threads
/// are not).
fn switches_of(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("status")).ok())
        .map(|status| {
            status
                .lines()
                .filter_map(|l| l.split_once(':'))
                .filter(|(name, _)| name.ends_with("ctxt_switches"))
                .filter_map(|(_, n)| n.trim().parse::<u64>().ok())
                .sum::<u64>()
        })
        .sum()
}

/// Runs a load and adds to its figures the CPU time and thread switches the server processes
/// `pids` spent on it per request.
pub async fn with_server_cpu(
    pids: &[u32],
    load: impl std::future::Future<Output = Figures>,
) -> Figures {
    let used = || pids.iter().map(|&p| cpu_of(p)).sum::<Duration>();
    let switched = || pids.iter().map(|&p| switches_of(p)).sum::<u64>();
    let (before, switches_before) = (used(), switched());
    let mut f = load.await;
    let requests = u32::try_from(f.requests).unwrap_or(u32::MAX).max(1);
    f.server_cpu = Some(used().saturating_sub(before) / requests);
    f.server_switches =
        Some(switched().saturating_sub(switches_before) as f64 / f64::from(requests));
    f
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Sends `requests` requests, `concurrency` at a time; `request(i)` builds the i-th. A request
/// counts as an error unless it is answered 2xx.
pub async fn load<F>(requests: usize, concurrency: usize, request: F) -> Figures
where
    F: Fn(usize) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    let request = Arc::new(request);
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (request, next, errors) = (request.clone(), next.clone(), errors.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests {
                    break;
                }
                let t = Instant::now();
                let ok = match request(i).send().await {
                    Ok(resp) => {
                        let success = resp.status().is_success();
                        success && resp.bytes().await.is_ok()
                    }
                    Err(_) => false,
                };
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
        requests: all.len(),
        server_cpu: None,
        server_switches: None,
        per_second: all.len() as f64 / elapsed.as_secs_f64(),
        p50: percentile(&all, 0.50),
        p95: percentile(&all, 0.95),
        p99: percentile(&all, 0.99),
        errors: errors.load(Ordering::Relaxed),
    }
}
