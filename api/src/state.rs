//! Shared state every handler reaches through `Data<&AppState>`.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::{clock::Clock, config::Config, ratelimit::RateLimiter};

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    pub clock: Clock,
    /// Limits public certificate verification per client address.
    pub verify_limiter: Arc<RateLimiter>,
    /// Limits requests per API key.
    pub key_limiter: Arc<RateLimiter>,
}

impl AppState {
    pub fn new(db: DatabaseConnection, config: Config) -> Self {
        let verify_limiter = Arc::new(RateLimiter::per_minute(config.verify_per_minute));
        let key_limiter = Arc::new(RateLimiter::per_minute(config.key_requests_per_minute));
        Self {
            db,
            config: Arc::new(config),
            clock: Clock::system(),
            verify_limiter,
            key_limiter,
        }
    }

    /// The same state with another clock (tests move time with a manual clock).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }
}
