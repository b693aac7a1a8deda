//! Sends the outbox's pending deliveries. One process at a time holds the
//! `webhooks` lease and sends (several processes may share a database);
//! each batch is also claimed row by row, so even two senders never take
//! the same delivery at once. A delivery that fails is retried with
//! exponential backoff until its retry period ends, then marked failed.
//! Requests run here, never in a request handler: a slow or dead receiver
//! costs a worker slot, not a close.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::TimeDelta;
use futures_util::future::join_all;
use reqwest::header::{CONTENT_TYPE, HeaderValue, USER_AGENT};
use uuid::Uuid;

use super::sign;
use crate::domain::{AttemptAnswer, DueDelivery, Event, Session};
use crate::metrics::Metrics;
use crate::service::Clock;
use crate::store::{AttemptResult, EXCERPT_CHARS, SessionStore, StoreError, WebhookStore};

const LEASE: &str = "webhooks";
/// Backoff never waits longer than this between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// Delivered and failed deliveries are kept this long for the listings.
const KEEP_FOR: Duration = Duration::from_secs(30 * 86_400);
/// The most of a receiver's answer read; the rest is never downloaded.
const READ_AT_MOST: usize = 4096;

/// Builds a delivery's body from its event and the session right after it.
/// Given by the HTTP layer, whose JSON shapes the payload reuses.
pub type RenderPayload = fn(&Event, &Session) -> String;

/// How deliveries are sent.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// One attempt (connect, send, answer) at most.
    pub timeout: Duration,
    /// The wait before the first retry; it doubles after each failure.
    pub retry_base: Duration,
    /// How long after the change a failing delivery is still retried.
    pub retry_for: Duration,
    /// Deliveries sent at once.
    pub concurrency: usize,
    /// How often to look for due deliveries.
    pub poll_interval: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            timeout: Duration::from_secs(10),
            retry_base: Duration::from_secs(30),
            retry_for: Duration::from_secs(24 * 3600),
            concurrency: 8,
            poll_interval: Duration::from_secs(1),
        }
    }
}

pub struct DeliveryWorker {
    leases: Arc<dyn SessionStore>,
    store: Arc<dyn WebhookStore>,
    clock: Arc<dyn Clock>,
    client: reqwest::Client,
    settings: WebhookSettings,
    render: RenderPayload,
    /// This process, as the lease knows it.
    holder: String,
    /// Where attempts are counted; none outside a server.
    metrics: Option<Arc<Metrics>>,
}

impl DeliveryWorker {
    pub fn new(
        leases: Arc<dyn SessionStore>,
        store: Arc<dyn WebhookStore>,
        clock: Arc<dyn Clock>,
        settings: WebhookSettings,
        render: RenderPayload,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            // A redirect is an answer, recorded as such: following it could
            // send the signed body somewhere the admin never registered.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .pool_max_idle_per_host(settings.concurrency)
            .build()?;
        Ok(Self {
            leases,
            store,
            clock,
            client,
            settings: WebhookSettings {
                concurrency: settings.concurrency.max(1),
                ..settings
            },
            render,
            holder: Uuid::now_v7().to_string(),
            metrics: None,
        })
    }

    /// Attempts are counted in `metrics`.
    pub fn with_metrics(self, metrics: Arc<Metrics>) -> Self {
        Self {
            metrics: Some(metrics),
            ..self
        }
    }

    /// Long enough for a batch of attempts, then another process may take over.
    fn lease_length(&self) -> TimeDelta {
        delta(self.settings.poll_interval * 3 + self.settings.timeout * 2)
    }

    /// A claimed delivery is due again after this if its sender vanished.
    fn claim_length(&self) -> TimeDelta {
        delta(self.settings.timeout * 2 + Duration::from_secs(1))
    }

    /// One run: when deliveries are due and this process holds the lease,
    /// sends them batch by batch. Returns how many were attempted.
    pub async fn tick(&self) -> Result<usize, StoreError> {
        let mut attempted = 0;
        loop {
            let now = self.clock.now();
            // A read first, so an idle outbox costs no write.
            if !self.store.any_due(now).await? {
                break;
            }
            if !self
                .leases
                .try_lease(LEASE, &self.holder, now, now + self.lease_length())
                .await?
            {
                break;
            }
            let limit = u32::try_from(self.settings.concurrency).unwrap_or(u32::MAX);
            let due = self
                .store
                .claim_due(now, now + self.claim_length(), limit)
                .await?;
            if due.is_empty() {
                break;
            }
            attempted += due.len();
            let results = join_all(due.iter().map(|d| self.attempt(d))).await;
            if let Some(error) = results.into_iter().find_map(Result::err) {
                return Err(error);
            }
        }
        Ok(attempted)
    }

    /// Sends one delivery and records the answer.
    async fn attempt(&self, delivery: &DueDelivery) -> Result<(), StoreError> {
        let body = (self.render)(&delivery.event, &delivery.session);
        let signature = sign(&delivery.secret, body.as_bytes());
        let at = self.clock.now();
        let started = Instant::now();
        let sent = self
            .client
            .post(&delivery.url)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(
                USER_AGENT,
                concat!("Casebook-Webhooks/", env!("CARGO_PKG_VERSION")),
            )
            .header("x-casebook-event", delivery.event.kind.name())
            .header("x-casebook-delivery", delivery.id().to_string())
            .header("x-casebook-signature", signature)
            .body(body)
            .send()
            .await;
        let (status, excerpt) = match sent {
            Ok(response) => {
                let status = response.status();
                (Some(status), read_excerpt(response).await)
            }
            Err(error) => (None, self.describe(&error)),
        };
        let answer = AttemptAnswer {
            at,
            status: status.map(|s| s.as_u16()),
            excerpt,
            duration_ms: u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX),
        };
        let result = if status.is_some_and(|s| s.is_success()) {
            AttemptResult::Delivered
        } else {
            let next = self.clock.now() + delta(self.backoff(delivery.attempts));
            if next > delivery.created_at + delta(self.settings.retry_for) {
                AttemptResult::GaveUp
            } else {
                AttemptResult::RetryAt(next)
            }
        };
        if let Some(metrics) = &self.metrics {
            metrics.count_webhook_attempt(match result {
                AttemptResult::Delivered => "delivered",
                AttemptResult::RetryAt(_) => "retry",
                AttemptResult::GaveUp => "failed",
            });
        }
        match result {
            AttemptResult::Delivered => {}
            AttemptResult::RetryAt(_) => tracing::info!(
                delivery = %delivery.id(), url = %delivery.url, attempts = delivery.attempts,
                status = answer.status, why = %answer.excerpt, "webhook delivery failed; will retry"
            ),
            AttemptResult::GaveUp => tracing::warn!(
                delivery = %delivery.id(), url = %delivery.url, attempts = delivery.attempts,
                "webhook delivery failed for good"
            ),
        }
        self.store
            .record_attempt(delivery.event.id, delivery.webhook_id, &answer, result)
            .await
    }

    /// After the `attempts`-th failure: the base, doubled each time, capped.
    fn backoff(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(20);
        self.settings
            .retry_base
            .saturating_mul(1 << doublings)
            .min(MAX_BACKOFF)
    }

    /// Why no answer came, in a few words.
    fn describe(&self, error: &reqwest::Error) -> String {
        if error.is_timeout() {
            return format!(
                "No answer within {}.",
                humantime::format_duration(self.settings.timeout)
            );
        }
        // reqwest's own message names only the URL; the cause is deeper.
        let mut cause: &dyn std::error::Error = error;
        while let Some(source) = cause.source() {
            cause = source;
        }
        let what = if error.is_connect() {
            "Could not connect"
        } else {
            "The request failed"
        };
        format!("{what}: {cause}")
    }

    /// Ticks forever, every poll interval; errors are logged and retried.
    /// Finished deliveries older than 30 days are deleted once an hour.
    pub async fn run(self) {
        let mut every = tokio::time::interval(self.settings.poll_interval);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut purged_at: Option<Instant> = None;
        loop {
            every.tick().await;
            if let Err(error) = self.tick().await {
                tracing::warn!(%error, "could not send webhook deliveries");
            }
            if purged_at.is_none_or(|at| at.elapsed() >= Duration::from_secs(3600)) {
                purged_at = Some(Instant::now());
                let before = self.clock.now() - delta(KEEP_FOR);
                if let Err(error) = self.store.purge_deliveries(before).await {
                    tracing::warn!(%error, "could not purge old webhook deliveries");
                }
            }
        }
    }
}

fn delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

/// The start of the answer's body (at most a few KiB are read), as text.
async fn read_excerpt(mut response: reqwest::Response) -> String {
    let mut body = Vec::new();
    while body.len() < READ_AT_MOST {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => break,
            // The status arrived; a body cut short is still an answer.
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&body);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    text.chars().take(EXCERPT_CHARS).collect()
}
