//! What `/metrics` reports, in the Prometheus text format. One registry per
//! running server (not a process-wide global), so servers in one test binary
//! never count each other's requests.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::domain::{Outcome, Status, Surface};
use crate::store::{PoolUsage, SessionStore, StoreError};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    /// The matched route template (`/api/sessions/{id}`), never the raw path:
    /// a label per session id would grow without bound.
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClosureLabels {
    outcome: &'static str,
    surface: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    pool: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WebhookAttemptLabels {
    /// `delivered`, `retry` or `failed`.
    result: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new([
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ])
}

/// The counters and gauges of one server.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily<LatencyLabels>,
    closures: Family<ClosureLabels, Counter>,
    sessions: Family<StatusLabels, Gauge>,
    pool_size: Family<PoolLabels, Gauge>,
    pool_idle: Family<PoolLabels, Gauge>,
    auto_close_runs: Counter,
    auto_close_last_run: Gauge,
    sqlite_wal: Gauge,
    sqlite_wal_limit: Gauge,
    sqlite_checkpoint_lag: Gauge,
    webhook_attempts: Family<WebhookAttemptLabels, Counter>,
    streams: StreamMetrics,
}

/// The live streams of `GET /api/stream`.
#[derive(Default)]
struct StreamMetrics {
    open: Gauge,
    opened: Counter,
    dropped: Counter,
    refused: Counter,
    listening: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("casebook");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            requests.clone(),
        );
        let latency: HistogramFamily<LatencyLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template",
            latency.clone(),
        );
        let closures = Family::<ClosureLabels, Counter>::default();
        registry.register(
            "session_closures",
            "Sessions closed by this process, by outcome and by the surface they were closed through",
            closures.clone(),
        );
        // Every combination from the start, so a rate over a new series works
        // from its first scrape; the values come from the enums themselves.
        for outcome in Outcome::ALL {
            for surface in Surface::ALL {
                let _ = closures.get_or_create(&ClosureLabels {
                    outcome: outcome.as_str(),
                    surface: surface.as_str(),
                });
            }
        }
        let sessions = Family::<StatusLabels, Gauge>::default();
        registry.register(
            "sessions",
            "Sessions in the database by status, counted when scraped",
            sessions.clone(),
        );
        let pool_size = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "db_pool_connections",
            "Open database connections, by pool",
            pool_size.clone(),
        );
        let pool_idle = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "db_pool_idle_connections",
            "Idle database connections, by pool",
            pool_idle.clone(),
        );
        let auto_close_runs = Counter::default();
        registry.register(
            "auto_close_runs",
            "Runs of the stale-session policy in which this process held the lease",
            auto_close_runs.clone(),
        );
        let auto_close_last_run = Gauge::default();
        registry.register(
            "auto_close_last_run_timestamp_seconds",
            "When this process last ran the stale-session policy (Unix time; 0: never)",
            auto_close_last_run.clone(),
        );
        let sqlite_wal = Gauge::default();
        registry.register(
            "sqlite_wal_bytes",
            "Size of the SQLite write-ahead log file, read when scraped (SQLite only)",
            sqlite_wal.clone(),
        );
        let sqlite_wal_limit = Gauge::default();
        registry.register(
            "sqlite_wal_limit_bytes",
            "The size the SQLite write-ahead log is kept at or below (SQLite only)",
            sqlite_wal_limit.clone(),
        );
        let sqlite_checkpoint_lag = Gauge::default();
        registry.register(
            "sqlite_checkpoint_lag_bytes",
            "Write-ahead log not yet copied into the database file at the last checkpoint (SQLite only)",
            sqlite_checkpoint_lag.clone(),
        );
        let webhook_attempts = Family::<WebhookAttemptLabels, Counter>::default();
        registry.register(
            "webhook_attempts",
            "Webhook delivery attempts this process made, by result (delivered, retry, failed)",
            webhook_attempts.clone(),
        );
        let streams = StreamMetrics::default();
        registry.register(
            "streams_open",
            "Live streams open now",
            streams.open.clone(),
        );
        registry.register(
            "streams_opened",
            "Live streams opened since the process started",
            streams.opened.clone(),
        );
        registry.register(
            "streams_dropped",
            "Live streams ended because their client fell too far behind (it reconnects)",
            streams.dropped.clone(),
        );
        registry.register(
            "streams_refused",
            "Live streams refused because --max-streams were open",
            streams.refused.clone(),
        );
        registry.register(
            "change_listener_connected",
            "1 while changes made by other processes reach this one (always on SQLite), else 0",
            streams.listening.clone(),
        );
        Self {
            streams,
            registry,
            requests,
            latency,
            closures,
            sessions,
            pool_size,
            pool_idle,
            auto_close_runs,
            auto_close_last_run,
            sqlite_wal,
            sqlite_wal_limit,
            sqlite_checkpoint_lag,
            webhook_attempts,
        }
    }

    pub fn shared() -> Arc<Self> {
        Arc::new(Self::new())
    }

    pub fn observe_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&LatencyLabels {
                method: method.to_owned(),
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    pub fn count_closure(&self, outcome: Outcome, surface: Surface) {
        self.closures
            .get_or_create(&ClosureLabels {
                outcome: outcome.as_str(),
                surface: surface.as_str(),
            })
            .inc();
    }

    pub fn count_auto_close_run(&self, at: DateTime<Utc>) {
        self.auto_close_runs.inc();
        self.auto_close_last_run.set(at.timestamp());
    }

    /// One webhook delivery attempt: `delivered`, `retry` or `failed`.
    pub fn count_webhook_attempt(&self, result: &'static str) {
        self.webhook_attempts
            .get_or_create(&WebhookAttemptLabels { result })
            .inc();
    }

    pub fn stream_opened(&self) {
        self.streams.open.inc();
        self.streams.opened.inc();
    }

    pub fn stream_closed(&self) {
        self.streams.open.dec();
    }

    pub fn stream_dropped(&self) {
        self.streams.dropped.inc();
    }

    pub fn stream_refused(&self) {
        self.streams.refused.inc();
    }

    pub fn set_change_listener(&self, connected: bool) {
        self.streams.listening.set(i64::from(connected));
    }

    /// The text exposition, with the values read at scrape time (sessions by
    /// status, pool usage) brought up to date first.
    pub async fn render(&self, store: &dyn SessionStore) -> Result<String, StoreError> {
        let counts = store.count_by_status().await?;
        for status in Status::ALL {
            let count = counts
                .iter()
                .find(|(s, _)| *s == status)
                .map_or(0, |(_, n)| *n);
            self.sessions
                .get_or_create(&StatusLabels {
                    status: status.as_str(),
                })
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
        for PoolUsage { pool, size, idle } in store.pool_usage() {
            let labels = PoolLabels { pool };
            self.pool_size.get_or_create(&labels).set(i64::from(size));
            self.pool_idle.get_or_create(&labels).set(idle as i64);
        }
        if let Some(wal) = store.wal_usage() {
            let gauge = |bytes: u64| i64::try_from(bytes).unwrap_or(i64::MAX);
            self.sqlite_wal.set(gauge(wal.bytes));
            self.sqlite_wal_limit.set(gauge(wal.limit_bytes));
            self.sqlite_checkpoint_lag.set(gauge(wal.lag_bytes));
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        Ok(text)
    }
}
