//! Typed configuration, filled from command-line flags with environment-variable fallbacks.

/// What the server needs to run; built by `main` from flags and environment variables.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the database lives: `sqlite://file.db?mode=rwc`, `sqlite::memory:` or `postgres://…`.
    pub database_url: String,
    /// The address clients reach this service at, used in certificate links and calendar feeds.
    pub public_url: String,
}

impl Config {
    pub fn new(database_url: impl Into<String>, public_url: impl Into<String>) -> Self {
        Self {
            database_url: database_url.into(),
            public_url: public_url.into().trim_end_matches('/').to_owned(),
        }
    }
}

/// The default database: a SQLite file in the working directory, created on first start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://cascade.db?mode=rwc";
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
pub const DEFAULT_PUBLIC_URL: &str = "http://127.0.0.1:8080";
