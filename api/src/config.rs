//! Typed configuration, filled from command-line flags with environment-variable fallbacks.

/// What the server needs to run; built by `main` from flags and environment variables.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the database lives: `sqlite://file.db?mode=rwc`, `sqlite::memory:` or `postgres://…`.
    pub database_url: String,
    /// The address clients reach this service at, used in certificate links and calendar feeds.
    pub public_url: String,
    /// The issuing partnership named on certificates.
    pub issuer: String,
    /// The organiser named in calendar invitations.
    pub organizer_name: String,
    pub organizer_email: String,
    /// Public certificate verifications allowed per client address per minute.
    pub verify_per_minute: u32,
    /// Requests allowed per API key per minute (0: no limit).
    pub key_requests_per_minute: u32,
    /// Requests to endpoints that need no key (calendar feeds), per client address per minute.
    pub public_per_minute: u32,
    /// Failed authentications allowed per client address per minute before that address is
    /// refused with 429 until the minute is out.
    pub auth_failures_per_minute: u32,
    /// How long a request may run before it is answered 503 (and its transaction rolled back).
    pub request_timeout: std::time::Duration,
    /// Browser origins allowed to call the API (CORS); empty: CORS is off.
    pub cors_origins: Vec<String>,
    /// How long a client may take to send a request's header block.
    pub header_read_timeout: std::time::Duration,
    /// Request bodies held in memory at once, over all requests, in bytes; past it a request
    /// with a body is answered 503 `busy`.
    pub max_body_memory: usize,
    /// Reverse proxies whose `X-Forwarded-For` names the real client address (per-address
    /// limits then count that address); everyone else's header is ignored.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Webhooks may use `http://` (otherwise `https://` only).
    pub webhook_allow_http: bool,
    /// Internal hosts webhooks may reach despite the address rules: host names, addresses or
    /// CIDR ranges.
    pub webhook_allow_hosts: Vec<String>,
    /// Where email goes: `smtp://host:port` (STARTTLS when offered; `?tls=required` insists),
    /// `smtps://host:465`, with `user:password@` for credentials. None: `.eml` files in
    /// `mail_dir`.
    pub smtp_url: Option<String>,
    /// The folder messages are written to while no SMTP server is configured.
    pub mail_dir: std::path::PathBuf,
    /// The From address of email, e.g. `FACT workforce training <training@example.org>`.
    pub mail_from: String,
    /// Days before a session's first sitting that its reminder goes.
    pub reminder_days: i64,
}

impl Config {
    pub fn new(database_url: impl Into<String>, public_url: impl Into<String>) -> Self {
        let database_url = database_url.into();
        Self {
            mail_dir: default_mail_dir(&database_url),
            database_url,
            public_url: public_url.into().trim_end_matches('/').to_owned(),
            issuer: DEFAULT_ISSUER.to_owned(),
            organizer_name: DEFAULT_ORGANIZER_NAME.to_owned(),
            organizer_email: DEFAULT_ORGANIZER_EMAIL.to_owned(),
            verify_per_minute: DEFAULT_VERIFY_PER_MINUTE,
            key_requests_per_minute: DEFAULT_KEY_REQUESTS_PER_MINUTE,
            public_per_minute: DEFAULT_PUBLIC_PER_MINUTE,
            auth_failures_per_minute: DEFAULT_AUTH_FAILURES_PER_MINUTE,
            request_timeout: std::time::Duration::from_secs(DEFAULT_REQUEST_TIMEOUT_SECS),
            cors_origins: Vec::new(),
            header_read_timeout: std::time::Duration::from_secs(DEFAULT_HEADER_READ_TIMEOUT_SECS),
            max_body_memory: DEFAULT_MAX_BODY_MEMORY_MIB * 1024 * 1024,
            trusted_proxies: Vec::new(),
            webhook_allow_http: false,
            webhook_allow_hosts: Vec::new(),
            smtp_url: None,
            mail_from: format!("{DEFAULT_ORGANIZER_NAME} <{DEFAULT_ORGANIZER_EMAIL}>"),
            reminder_days: DEFAULT_REMINDER_DAYS,
        }
    }
}

/// `mail/` beside a SQLite file; `mail/` in the working directory otherwise.
pub fn default_mail_dir(database_url: &str) -> std::path::PathBuf {
    let file = database_url
        .strip_prefix("sqlite://")
        .map(|rest| rest.split('?').next().unwrap_or(rest))
        .filter(|f| !f.is_empty() && !f.starts_with(':'));
    match file.and_then(|f| std::path::Path::new(f).parent()) {
        Some(dir) => dir.join("mail"),
        None => std::path::PathBuf::from("mail"),
    }
}

/// The default database: a SQLite file in the working directory, created on first start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://cascade.db?mode=rwc";
/// Sign-in links one client address may ask for per minute (an office behind one address).
pub const SIGN_IN_PER_ADDRESS_PER_MINUTE: u32 = 20;
/// Sign-in links one email address may be sent per minute.
pub const SIGN_IN_PER_EMAIL_PER_MINUTE: u32 = 3;
/// Days before a session that its reminder goes.
pub const DEFAULT_REMINDER_DAYS: i64 = 2;
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
pub const DEFAULT_PUBLIC_URL: &str = "http://127.0.0.1:8080";
pub const DEFAULT_ISSUER: &str = "Wiltshire Families and Children's Transformation partnership";
pub const DEFAULT_ORGANIZER_NAME: &str = "FACT workforce training";
pub const DEFAULT_ORGANIZER_EMAIL: &str = "training@cascade.invalid";
pub const DEFAULT_VERIFY_PER_MINUTE: u32 = 30;
pub const DEFAULT_KEY_REQUESTS_PER_MINUTE: u32 = 1200;
pub const DEFAULT_PUBLIC_PER_MINUTE: u32 = 120;
pub const DEFAULT_AUTH_FAILURES_PER_MINUTE: u32 = 20;
pub const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 30;
pub const DEFAULT_HEADER_READ_TIMEOUT_SECS: u64 = 10;
pub const DEFAULT_MAX_BODY_MEMORY_MIB: usize = 64;
