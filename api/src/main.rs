//! The `cascade` binary: parses the command line and hands over to the library.

use crate::db::FirstRow as _;
use cascade::ctx::Ctx;
use std::time::Duration;

use anyhow::Context;
use cascade::{
    app,
    auth::role_name,
    config::{Config, DEFAULT_BIND, DEFAULT_DATABASE_URL, DEFAULT_PUBLIC_URL},
    db, demo,
    domain::{
        api_keys::{self, KeyFilter, KeyRole, NewApiKey},
        sessions::waitlist::settle_due_releases,
        sign_in::{self, GrantedRole, RoleGrantInput},
    },
    pagination::PageRequest,
    state::AppState,
};
use clap::{Parser, Subcommand, ValueEnum};
use poem::Server;
use sea_orm::DatabaseConnection;
use tracing_subscriber::EnvFilter;
use uuid::Uuid;

/// mimalloc instead of glibc's allocator: a request allocates and frees many small values
/// (rows, JSON), and glibc spent a quarter of the server's time on them (see README, Performance).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "cascade",
    version,
    about = "Workforce training and champions cascade service"
)]
struct Cli {
    /// Database URL: a SQLite file (`sqlite://cascade.db?mode=rwc`) or PostgreSQL
    /// (`postgres://user@host/db`).
    #[arg(long, env = "CASCADE_DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true)]
    database_url: String,
    /// Write logs as JSON lines (for log collectors) instead of text.
    #[arg(long, env = "CASCADE_LOG_JSON", global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
#[expect(
    clippy::large_enum_variant,
    reason = "parsed once at start-up; boxing the server's flags buys nothing"
)]
enum Command {
    /// Start the HTTP server (applies pending migrations first).
    Serve {
        /// Address to listen on.
        #[arg(long, env = "CASCADE_BIND", default_value = DEFAULT_BIND)]
        bind: String,
        /// The address clients reach this service at (used in certificate links and feeds).
        #[arg(long, env = "CASCADE_PUBLIC_URL", default_value = DEFAULT_PUBLIC_URL)]
        public_url: String,
        /// Load the demo partnership first (idempotent).
        #[arg(long, env = "CASCADE_DEMO")]
        demo: bool,
        /// The issuing partnership named on certificates.
        #[arg(long, env = "CASCADE_ISSUER", default_value = cascade::config::DEFAULT_ISSUER)]
        issuer: String,
        /// The organiser named in calendar invitations.
        #[arg(long, env = "CASCADE_ORGANIZER_NAME", default_value = cascade::config::DEFAULT_ORGANIZER_NAME)]
        organizer_name: String,
        /// The organiser's email address in calendar invitations.
        #[arg(long, env = "CASCADE_ORGANIZER_EMAIL", default_value = cascade::config::DEFAULT_ORGANIZER_EMAIL)]
        organizer_email: String,
        /// Public certificate verifications allowed per client address per minute.
        #[arg(long, env = "CASCADE_VERIFY_PER_MINUTE", default_value_t = cascade::config::DEFAULT_VERIFY_PER_MINUTE)]
        verify_per_minute: u32,
        /// Requests allowed per API key per minute (0: no limit).
        #[arg(long, env = "CASCADE_RATE_LIMIT_PER_MINUTE", default_value_t = cascade::config::DEFAULT_KEY_REQUESTS_PER_MINUTE)]
        rate_limit_per_minute: u32,
        /// Requests to endpoints that need no key (calendar feeds), per client address per minute.
        #[arg(long, env = "CASCADE_PUBLIC_PER_MINUTE", default_value_t = cascade::config::DEFAULT_PUBLIC_PER_MINUTE)]
        public_per_minute: u32,
        /// Failed authentications per client address per minute before it is refused (429).
        #[arg(long, env = "CASCADE_AUTH_FAILURES_PER_MINUTE", default_value_t = cascade::config::DEFAULT_AUTH_FAILURES_PER_MINUTE)]
        auth_failures_per_minute: u32,
        /// Seconds a request may run before it is answered 503 and its transaction rolled back.
        #[arg(long, env = "CASCADE_REQUEST_TIMEOUT", default_value_t = cascade::config::DEFAULT_REQUEST_TIMEOUT_SECS)]
        request_timeout: u64,
        /// Browser origins allowed to call the API, comma-separated (CORS is off without them).
        #[arg(long, env = "CASCADE_CORS_ORIGINS", value_delimiter = ',')]
        cors_origins: Vec<String>,
        /// Seconds a client may take to send a request's headers before the connection is closed.
        #[arg(long, env = "CASCADE_HEADER_READ_TIMEOUT", default_value_t = cascade::config::DEFAULT_HEADER_READ_TIMEOUT_SECS)]
        header_read_timeout: u64,
        /// MiB of request bodies held in memory at once, over all requests (then 503 `busy`).
        #[arg(long, env = "CASCADE_MAX_BODY_MEMORY", default_value_t = cascade::config::DEFAULT_MAX_BODY_MEMORY_MIB)]
        max_body_memory: usize,
        /// Reverse proxies (CIDRs, comma-separated) whose X-Forwarded-For names the client.
        #[arg(long, env = "CASCADE_TRUSTED_PROXIES", value_delimiter = ',')]
        trusted_proxies: Vec<ipnet::IpNet>,
        /// Let webhooks use http:// (https:// only without it).
        #[arg(long, env = "CASCADE_WEBHOOK_ALLOW_HTTP")]
        webhook_allow_http: bool,
        /// Internal hosts webhooks may reach: host names, addresses or CIDRs, comma-separated.
        #[arg(long, env = "CASCADE_WEBHOOK_ALLOW_HOSTS", value_delimiter = ',')]
        webhook_allow_hosts: Vec<String>,
        /// Send email through this SMTP server: `smtp://host:25` (plain), `smtp://host:587?tls=required`
        /// (STARTTLS), `smtps://host:465` (TLS); credentials as `smtps://user:password@host`.
        /// Without it messages are written as .eml files to --mail-dir.
        #[arg(long, env = "CASCADE_SMTP_URL")]
        smtp_url: Option<String>,
        /// The folder .eml files go to while no SMTP server is set [default: `mail/` beside the
        /// SQLite file].
        #[arg(long, env = "CASCADE_MAIL_DIR")]
        mail_dir: Option<std::path::PathBuf>,
        /// The From address of email [default: the organiser's name and address].
        #[arg(long, env = "CASCADE_MAIL_FROM")]
        mail_from: Option<String>,
        /// Days before a session that its reminder goes.
        #[arg(long, env = "CASCADE_REMINDER_DAYS", default_value_t = cascade::config::DEFAULT_REMINDER_DAYS)]
        reminder_days: i64,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document.
    Openapi,
    /// Load the demo partnership (idempotent) and print a coordinator key the first time.
    Demo,
    /// Copy a SQLite database, consistently, while it is in use (PostgreSQL: use `pg_dump`).
    Backup {
        /// The file to write; it must not exist yet.
        file: std::path::PathBuf,
    },
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Grant the role a person signs in to the pages with (or withdraw it with `none`).
    GrantRole {
        /// The person, by id or work email.
        person: String,
        #[arg(value_enum)]
        role: GrantArg,
    },
    /// Print a sign-in link for a person (by id or work email), valid 15 minutes, without
    /// emailing it: for a first admin, or when email is down.
    SignInLink {
        person: String,
        /// The address people reach the pages at.
        #[arg(long, env = "CASCADE_PUBLIC_URL", default_value = DEFAULT_PUBLIC_URL)]
        public_url: String,
    },
    /// Benchmarks that print numbers (run them from a release build).
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Certificate PDFs (one, and a 50-page session PDF) and a 500-event calendar feed.
    Render,
    /// Booking throughput and latency over HTTP on a fresh SQLite file (and PostgreSQL when
    /// given), beside the database's own limit for the same transaction.
    Booking {
        /// A PostgreSQL server to run on too, e.g. postgres://postgres@127.0.0.1:5432/postgres;
        /// a fresh database is created on it and dropped afterwards.
        #[arg(long)]
        postgres_url: Option<String>,
        /// Sessions in the spread scenario.
        #[arg(long, default_value_t = 1000)]
        sessions: usize,
        /// Booking requests per scenario.
        #[arg(long, default_value_t = 2000)]
        requests: usize,
        /// Replica counts for the scale-out scenario on PostgreSQL, comma-separated (0: none).
        #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
        replicas: Vec<usize>,
        /// Where to write the figures as CSV and the charts as SVG.
        #[arg(long, default_value = "target/bench")]
        out: std::path::PathBuf,
    },
    /// Read paths at concurrency 32 (a filtered session list, a person's bookings, the reach
    /// and partner reports) as cascade attendance grows, on SQLite (and PostgreSQL when given).
    Reads {
        /// A PostgreSQL server to run on too; a fresh database is created and dropped.
        #[arg(long)]
        postgres_url: Option<String>,
        /// Cascade attendance rows at each step, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "10000,100000,1000000")]
        levels: Vec<usize>,
        /// Requests per list scenario (reports get a tenth as many).
        #[arg(long, default_value_t = 2000)]
        requests: usize,
        /// Where to write the figures as CSV and the charts as SVG.
        #[arg(long, default_value = "target/bench")]
        out: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key; its secret is printed alone on the last line of standard output.
    Create {
        #[arg(long, value_enum)]
        role: RoleArg,
        /// The organisation a partner key acts for.
        #[arg(long)]
        organisation: Option<Uuid>,
        /// The person a trainer or learner key acts as.
        #[arg(long)]
        person: Option<Uuid>,
        /// A label saying who holds the key.
        #[arg(long)]
        name: String,
    },
    /// List keys (never their secrets).
    List,
    /// Revoke a key by id.
    Revoke { id: Uuid },
}

#[derive(Clone, Copy, ValueEnum)]
enum GrantArg {
    None,
    Coordinator,
    Admin,
    PartnerLead,
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Admin,
    Coordinator,
    Partner,
    Trainer,
    Learner,
}

impl From<RoleArg> for KeyRole {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Admin => KeyRole::Admin,
            RoleArg::Coordinator => KeyRole::Coordinator,
            RoleArg::Partner => KeyRole::Partner,
            RoleArg::Trainer => KeyRole::Trainer,
            RoleArg::Learner => KeyRole::Learner,
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing(cli.log_json);
    match cli.command {
        Command::Openapi => print!("{}", cascade::openapi_json()),
        Command::Bench {
            command: BenchCommand::Render,
        } => print!("{}", cascade::bench::render_report()),
        Command::Bench {
            command:
                BenchCommand::Booking {
                    postgres_url,
                    sessions,
                    requests,
                    replicas,
                    out,
                },
        } => print!(
            "{}",
            cascade::bench::booking::run(cascade::bench::booking::Options {
                postgres_url,
                sessions,
                requests,
                replicas: replicas.into_iter().filter(|n| *n > 0).collect(),
                out,
            })
            .await?
        ),
        Command::Bench {
            command:
                BenchCommand::Reads {
                    postgres_url,
                    levels,
                    requests,
                    out,
                },
        } => print!(
            "{}",
            cascade::bench::reads::run(cascade::bench::reads::Options {
                postgres_url,
                levels,
                requests,
                out,
            })
            .await?
        ),
        Command::Migrate => {
            open(&cli.database_url).await?;
            eprintln!("migrations applied");
        }
        Command::Demo => {
            let db = open(&cli.database_url).await?;
            let config = Config::new(cli.database_url.clone(), DEFAULT_PUBLIC_URL);
            load_demo(&db, &config).await?;
        }
        Command::Serve {
            bind,
            public_url,
            demo,
            issuer,
            organizer_name,
            organizer_email,
            verify_per_minute,
            rate_limit_per_minute,
            public_per_minute,
            auth_failures_per_minute,
            request_timeout,
            cors_origins,
            header_read_timeout,
            max_body_memory,
            trusted_proxies,
            webhook_allow_http,
            webhook_allow_hosts,
            smtp_url,
            mail_dir,
            mail_from,
            reminder_days,
        } => {
            let db = open(&cli.database_url).await?;
            let defaults = Config::new(cli.database_url, public_url);
            let config = Config {
                smtp_url: smtp_url.filter(|u| !u.trim().is_empty()),
                mail_dir: mail_dir.unwrap_or_else(|| defaults.mail_dir.clone()),
                mail_from: mail_from
                    .unwrap_or_else(|| format!("{organizer_name} <{organizer_email}>")),
                reminder_days: reminder_days.max(0),
                issuer,
                organizer_name,
                organizer_email,
                verify_per_minute,
                key_requests_per_minute: rate_limit_per_minute,
                public_per_minute,
                auth_failures_per_minute,
                request_timeout: Duration::from_secs(request_timeout.max(1)),
                cors_origins: cors_origins
                    .into_iter()
                    .map(|o| o.trim().to_owned())
                    .filter(|o| !o.is_empty())
                    .collect(),
                header_read_timeout: Duration::from_secs(header_read_timeout.max(1)),
                max_body_memory: max_body_memory.max(1) * 1024 * 1024,
                trusted_proxies,
                webhook_allow_http,
                webhook_allow_hosts: webhook_allow_hosts
                    .into_iter()
                    .map(|h| h.trim().to_owned())
                    .filter(|h| !h.is_empty())
                    .collect(),
                ..defaults
            };
            if demo {
                load_demo(&db, &config).await?;
            }
            serve(db, config, &bind).await?;
        }
        Command::Backup { file } => {
            let db = db::connect(&cli.database_url).await?;
            db::backup(&db, &file).await?;
            println!("Backed up to {}", file.display());
        }
        Command::Keys { command } => {
            let db = open(&cli.database_url).await?;
            keys(&db, command).await?;
        }
        Command::GrantRole { person, role } => {
            let db = open(&cli.database_url).await?;
            let ctx = Ctx::cli(&db);
            let id = find_person(&db, &person).await?;
            let role = match role {
                GrantArg::None => GrantedRole::None,
                GrantArg::Coordinator => GrantedRole::Coordinator,
                GrantArg::Admin => GrantedRole::Admin,
                GrantArg::PartnerLead => GrantedRole::PartnerLead,
            };
            let grant = sign_in::grant(&ctx, id, RoleGrantInput { role })
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.to_problem().detail))?;
            println!(
                "{} now signs in with the role {:?}.",
                grant.person_id, grant.role
            );
        }
        Command::SignInLink { person, public_url } => {
            let db = open(&cli.database_url).await?;
            let id = find_person(&db, &person).await?;
            let token = sign_in::issue_link(&Ctx::cli(&db), id)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.to_problem().detail))?;
            println!("{}/sign-in/{token}", public_url.trim_end_matches('/'));
        }
    }
    Ok(())
}

fn init_tracing(json: bool) {
    let filter = EnvFilter::try_from_env("CASCADE_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    // Colour codes only for a person at a terminal; never in files, pipes or log collectors.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn open(url: &str) -> anyhow::Result<DatabaseConnection> {
    let db = db::connect(url)
        .await
        .with_context(|| format!("connecting to {}", redact(url)))?;
    cascade::domain::migrate(&db)
        .await
        .context("applying migrations")?;
    Ok(db)
}

/// Hides a password in a database URL before it is printed.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &creds[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Loads the demo partnership and its year in progress (both idempotent), then prints sign-in
/// links for a demo member of staff and a demo coordinator.
async fn load_demo(db: &DatabaseConnection, config: &Config) -> anyhow::Result<()> {
    match demo::load(db)
        .await
        .map_err(|e| anyhow::anyhow!("loading demo data: {e:?}"))?
    {
        Some(secret) => {
            println!("Demo partnership loaded. Coordinator API key (shown once, store it now):");
            println!("{secret}");
        }
        None => eprintln!(
            "Demo partnership already loaded; its coordinator key was shown on the first load \
             (create another with `cascade keys create --role coordinator --name …`)."
        ),
    }
    let state = AppState::new(db.clone(), config.clone());
    if demo::year::load(&state)
        .await
        .map_err(|e| anyhow::anyhow!("loading the demo year: {e:?}"))?
    {
        println!(
            "A programme year in progress loaded: sessions, champions, trainers, cascades, funding."
        );
    }
    let links = demo::year::sign_in_links(&state, config)
        .await
        .map_err(|e| anyhow::anyhow!("making demo sign-in links: {e:?}"))?;
    println!("Sign in (each link works once, within 15 minutes):");
    for (who, link) in links {
        println!("  as a {who}: {link}");
    }
    Ok(())
}

async fn serve(db: DatabaseConnection, config: Config, bind: &str) -> anyhow::Result<()> {
    if let Ok(Some(false)) = db::sqlite_memstatus_off(&db).await {
        tracing::warn!(
            "this build's SQLite counts its memory under one mutex all connections share; \
             build with LIBSQLITE3_FLAGS={} for a busy server (see the README)",
            db::SQLITE_MEMSTATUS_FLAGS
        );
    }
    let state = AppState::new(db, config);
    tokio::spawn(housekeeping(state.clone()));
    tokio::spawn(webhook_worker(state.clone()));
    tokio::spawn(mail_worker(state.clone()));
    tracing::info!(%bind, "cascade listening");
    let header_timeout = state.config.header_read_timeout;
    // Keep-alive connections that say nothing are closed; never before a request could finish.
    let idle =
        (state.config.request_timeout + Duration::from_secs(10)).max(Duration::from_secs(60));
    let listener = cascade::listener::bind(bind, header_timeout)
        .await
        .with_context(|| format!("listening on {bind}"))?;
    Server::new_with_acceptor(listener)
        .idle_timeout(idle)
        .run_with_graceful_shutdown(app(state), shutdown_signal(), Some(Duration::from_secs(20)))
        .await
        .context("serving HTTP")
}

/// Work that comes due with time rather than with a request: offering released reserved places
/// to waitlists, and purging old idempotency records. Safe on every replica at once.
async fn housekeeping(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        // Scheduled work acts as `system`: its audit records say so.
        let ctx = Ctx::system(&state.db, &state.clock);
        if let Err(err) = settle_due_releases(&ctx).await {
            tracing::warn!(error = ?err, "settling reserved-place releases failed");
        }
        if let Err(err) = cascade::idempotency::purge(&state).await {
            tracing::warn!(error = %err, "purging idempotency keys failed");
        }
        if let Err(err) = cascade::domain::mail::timed::queue_due(&ctx, &state.config).await {
            tracing::warn!(error = ?err, "queueing reminders and notices failed");
        }
    }
}

/// Sends email as it comes due, every few seconds. Safe on every replica at once: each message
/// is leased to one replica while it is sent.
async fn mail_worker(state: AppState) {
    if let Err(why) = cascade::domain::mail::send::Transport::from_config(&state.config) {
        tracing::error!(reason = %why, "email cannot be sent");
    }
    let mut tick = tokio::time::interval(Duration::from_secs(3));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(err) = cascade::domain::mail::send::run_worker(&state).await {
            tracing::warn!(error = ?err, "sending email failed");
        }
    }
}

/// Sends webhook deliveries as they come due, every few seconds. Safe on every replica at once:
/// each subscription is leased to one replica while it sends.
async fn webhook_worker(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(3));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(err) = cascade::domain::webhooks::run_worker(&state).await {
            tracing::warn!(error = ?err, "delivering webhooks failed");
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

/// A person named on the command line by id or work email.
async fn find_person(db: &DatabaseConnection, raw: &str) -> anyhow::Result<Uuid> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    if let Ok(id) = raw.parse::<Uuid>() {
        return Ok(id);
    }
    entities::people::Entity::find()
        .filter(entities::people::Column::EmailKey.eq(raw.trim().to_lowercase()))
        .first(db)
        .await?
        .map(|p| p.id)
        .ok_or_else(|| anyhow::anyhow!("nobody has the email {raw}"))
}

async fn keys(db: &DatabaseConnection, command: KeysCommand) -> anyhow::Result<()> {
    let fail = |e: cascade::error::ApiError| {
        anyhow::anyhow!(
            "{}",
            e.to_problem().errors.map_or_else(
                || e.to_problem().detail,
                |errors| errors
                    .iter()
                    .map(|f| format!("{}: {}", f.field, f.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        )
    };
    match command {
        KeysCommand::Create {
            role,
            organisation,
            person,
            name,
        } => {
            let input = NewApiKey {
                name,
                role: role.into(),
                organisation_id: organisation,
                person_id: person,
            };
            let ctx = Ctx::cli(db);
            let txn = ctx.begin().await?;
            let created = api_keys::create(&txn, input, ctx.now())
                .await
                .map_err(fail)?;
            txn.commit().await?;
            println!(
                "Created {} key {} ({}…). The secret follows; it is not shown again:",
                role_name(created.key.role.into()),
                created.key.id,
                created.key.prefix
            );
            println!("{}", created.secret);
        }
        KeysCommand::List => {
            let mut cursor = None;
            println!(
                "{:<36}  {:<11}  {:<14}  {:<7}  name",
                "id", "role", "prefix", "state"
            );
            loop {
                let page = PageRequest::parse(Some(200), cursor.as_deref()).map_err(fail)?;
                let (keys, next) = api_keys::list(db, KeyFilter::default(), page)
                    .await
                    .map_err(fail)?;
                for k in keys {
                    let state = if k.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "live"
                    };
                    println!(
                        "{:<36}  {:<11}  {:<14}  {:<7}  {}",
                        k.id,
                        role_name(k.role.into()),
                        k.prefix,
                        state,
                        k.name
                    );
                }
                match next {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
        }
        KeysCommand::Revoke { id } => {
            let ctx = Ctx::cli(db);
            let txn = ctx.begin().await?;
            let key = api_keys::revoke(&txn, id, ctx.now()).await.map_err(fail)?;
            txn.commit().await?;
            println!("Revoked key {} ({})", key.id, key.name);
        }
    }
    Ok(())
}
