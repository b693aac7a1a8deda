//! Persistence of outbound webhooks and their outbox of deliveries.
//!
//! The session stores write delivery rows in the transaction of the change
//! they announce (`enqueue` of each engine): one row per active webhook
//! subscribed to the event's kind, holding a snapshot of the session right
//! after the change. Everything here reads and updates those rows.

mod postgres;
mod sqlite;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::StoreError;
use crate::domain::{AttemptAnswer, Delivery, DueDelivery, Webhook};

pub(super) use postgres::insert_event_and_enqueue as postgres_insert_event_and_enqueue;
pub(super) use sqlite::enqueue as sqlite_enqueue;

/// What became of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptResult {
    Delivered,
    /// Failed; try again at this time.
    RetryAt(DateTime<Utc>),
    /// Failed for the last time.
    GaveUp,
}

#[async_trait]
pub trait WebhookStore: Send + Sync + 'static {
    /// Registers `webhook`, whose deliveries are signed with `secret`.
    async fn insert_webhook(&self, webhook: &Webhook, secret: &str) -> Result<(), StoreError>;

    /// Every webhook, newest first (secrets are never read back out).
    async fn webhooks(&self) -> Result<Vec<Webhook>, StoreError>;

    async fn webhook(&self, id: Uuid) -> Result<Option<Webhook>, StoreError>;

    /// Stops deliveries to the webhook: it is kept (with its history) but
    /// receives nothing more, and its pending deliveries fail. False when
    /// there is no such webhook.
    async fn disable_webhook(&self, id: Uuid) -> Result<bool, StoreError>;

    /// The webhook's latest deliveries, newest first.
    async fn deliveries(&self, webhook_id: Uuid, limit: u32) -> Result<Vec<Delivery>, StoreError>;

    /// Whether any delivery is due at `now`: a cheap read before the worker
    /// takes its lease.
    async fn any_due(&self, now: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Takes up to `limit` deliveries due at `now`, counts the attempt and
    /// hides them from other workers until `claimed_until`.
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        claimed_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, StoreError>;

    /// Records the answer to an attempt and what happens next.
    async fn record_attempt(
        &self,
        event_id: Uuid,
        webhook_id: Uuid,
        answer: &AttemptAnswer,
        result: AttemptResult,
    ) -> Result<(), StoreError>;

    /// Deletes delivered and failed deliveries created before `before`.
    async fn purge_deliveries(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// Where the store keeps an attempt's excerpt: at most this many characters.
pub const EXCERPT_CHARS: usize = 500;

fn bounded(excerpt: &str) -> &str {
    match excerpt.char_indices().nth(EXCERPT_CHARS) {
        Some((end, _)) => &excerpt[..end],
        None => excerpt,
    }
}

fn snapshot(session: &crate::domain::Session) -> String {
    serde_json::to_string(session).expect("a session serializes")
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Database(super::DatabaseError::Corrupt(what.to_string()))
}
