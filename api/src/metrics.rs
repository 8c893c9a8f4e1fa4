//! Prometheus metrics, served at `GET /metrics` in the text exposition format: requests and their
//! latency by route and status, bookings by outcome, webhook deliveries by result, and the
//! database pool. Each [`AppState`](crate::state::AppState) has its own registry, so tests that
//! build several apps in one process count apart.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};
use sea_orm::{DatabaseConnection, DbBackend};

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    bookings: IntCounterVec,
    webhook_deliveries: IntCounterVec,
    mail: IntCounterVec,
    pool: IntGaugeVec,
}

/// Latency buckets in seconds: 1 ms to 10 s.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "cascade_http_requests_total",
                "HTTP requests answered, by route (the OpenAPI operation id) and status",
            ),
            &["route", "status"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "cascade_http_request_duration_seconds",
                "Time to answer an HTTP request, by route and status",
            )
            .buckets(BUCKETS.to_vec()),
            &["route", "status"],
        )
        .expect("valid metric");
        let bookings = IntCounterVec::new(
            Opts::new(
                "cascade_bookings_total",
                "Booking requests by outcome: confirmed, waitlisted, refused (4xx) or failed (5xx)",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        let webhook_deliveries = IntCounterVec::new(
            Opts::new(
                "cascade_webhook_deliveries_total",
                "Webhook delivery attempts by result: delivered, retrying or failed (given up)",
            ),
            &["result"],
        )
        .expect("valid metric");
        let mail = IntCounterVec::new(
            Opts::new(
                "cascade_mail_messages_total",
                "Email send attempts by result: sent, skipped (no longer true, or opted out) or \
                 failed (retried with backoff)",
            ),
            &["result"],
        )
        .expect("valid metric");
        let pool = IntGaugeVec::new(
            Opts::new(
                "cascade_db_pool_connections",
                "Database pool connections by state: open, idle, in_use, max",
            ),
            &["state"],
        )
        .expect("valid metric");
        for metric in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(bookings.clone()),
            Box::new(webhook_deliveries.clone()),
            Box::new(mail.clone()),
            Box::new(pool.clone()),
        ] {
            registry.register(metric).expect("metric registered once");
        }
        Self {
            registry,
            requests,
            latency,
            bookings,
            webhook_deliveries,
            mail,
            pool,
        }
    }

    pub fn observe_request(&self, route: &str, status: u16, seconds: f64) {
        let status = status.to_string();
        self.requests.with_label_values(&[route, &status]).inc();
        self.latency
            .with_label_values(&[route, &status])
            .observe(seconds);
    }

    pub fn booking(&self, outcome: &str) {
        self.bookings.with_label_values(&[outcome]).inc();
    }

    pub fn webhook_delivery(&self, result: &str, count: u64) {
        if count > 0 {
            self.webhook_deliveries
                .with_label_values(&[result])
                .inc_by(count);
        }
    }

    pub fn mail(&self, result: &str, count: u64) {
        if count > 0 {
            self.mail.with_label_values(&[result]).inc_by(count);
        }
    }

    /// Everything, in the Prometheus text format, with the pool read as it is now.
    pub fn render(&self, db: &DatabaseConnection) -> String {
        let (open, idle, max) = match db.get_database_backend() {
            DbBackend::Sqlite => {
                let pool = db.get_sqlite_connection_pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
            _ => {
                let pool = db.get_postgres_connection_pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
        };
        let idle = u32::try_from(idle).unwrap_or(u32::MAX);
        for (state, value) in [
            ("open", open),
            ("idle", idle),
            ("in_use", open.saturating_sub(idle)),
            ("max", max),
        ] {
            self.pool.with_label_values(&[state]).set(i64::from(value));
        }
        let mut out = Vec::new();
        // Encoding to a Vec cannot fail for well-formed metrics.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
