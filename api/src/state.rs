//! Shared state every handler reaches through `Data<&AppState>`.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::{clock::Clock, config::Config, metrics::Metrics, ratelimit::RateLimiter};

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    pub clock: Clock,
    /// Limits public certificate verification per client address.
    pub verify_limiter: Arc<RateLimiter>,
    /// Limits sign-in link requests per client address (`addr:…`) and per email (`email:…`).
    pub sign_in_per_address: Arc<RateLimiter>,
    pub sign_in_per_email: Arc<RateLimiter>,
    /// Limits requests per API key.
    pub key_limiter: Arc<RateLimiter>,
    /// Limits the endpoints that need no key (calendar feeds) per client address.
    pub public_limiter: Arc<RateLimiter>,
    /// Counts failed authentications per client address; an address over the limit is refused.
    pub auth_failures: Arc<RateLimiter>,
    /// Request bodies held in memory at once, in KiB (see `guard::limit_body`).
    pub body_budget: Arc<tokio::sync::Semaphore>,
    pub metrics: Arc<Metrics>,
    /// Permits for a request's reads to keep their connection across its handler (see
    /// [`crate::db::Reader`]).
    pub kept_reads: Arc<tokio::sync::Semaphore>,
}

impl AppState {
    pub fn new(db: DatabaseConnection, config: Config) -> Self {
        let verify_limiter = Arc::new(RateLimiter::per_minute(config.verify_per_minute));
        let key_limiter = Arc::new(RateLimiter::per_minute(config.key_requests_per_minute));
        let public_limiter = Arc::new(RateLimiter::per_minute(config.public_per_minute));
        let auth_failures = Arc::new(RateLimiter::per_minute(config.auth_failures_per_minute));
        let body_budget = Arc::new(tokio::sync::Semaphore::new(
            (config.max_body_memory / 1024).max(1),
        ));
        let kept_reads = Arc::new(tokio::sync::Semaphore::new(crate::db::Reader::share_limit(
            &db,
        )));
        Self {
            kept_reads,
            sign_in_per_address: Arc::new(RateLimiter::per_minute(
                crate::config::SIGN_IN_PER_ADDRESS_PER_MINUTE,
            )),
            sign_in_per_email: Arc::new(RateLimiter::per_minute(
                crate::config::SIGN_IN_PER_EMAIL_PER_MINUTE,
            )),
            db,
            config: Arc::new(config),
            clock: Clock::system(),
            verify_limiter,
            key_limiter,
            public_limiter,
            auth_failures,
            body_budget,
            metrics: Arc::new(Metrics::new()),
        }
    }

    /// The same state with another clock (tests move time with a manual clock).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }
}
