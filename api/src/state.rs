//! Shared state every handler reaches through `Data<&AppState>`.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::{clock::Clock, config::Config};

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    pub clock: Clock,
}

impl AppState {
    pub fn new(db: DatabaseConnection, config: Config) -> Self {
        Self {
            db,
            config: Arc::new(config),
            clock: Clock::system(),
        }
    }

    /// The same state with another clock (tests move time with a manual clock).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }
}
