//! Webhooks and their outbox on SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use uuid::Uuid;

use super::{AttemptResult, WebhookStore, bounded, snapshot};
use crate::domain::{
    AttemptAnswer, Delivery, DeliveryState, DueDelivery, Event, EventKind, Session, Surface,
    Webhook, WebhookEvents, WebhookUrl, delivery_id,
};
use crate::store::sqlite::{bad_column, micros, text, time};
use crate::store::{SqliteStore, StoreError};

/// Writes a delivery for each active webhook subscribed to `event`'s kind,
/// inside the caller's transaction. Without such a webhook this is one
/// lookup in a small table and nothing is serialized.
pub(in crate::store) fn enqueue(
    conn: &Connection,
    event: &Event,
    session: &Session,
) -> Result<(), StoreError> {
    let kind = event.kind.name();
    let webhooks: Vec<Uuid> = conn
        .prepare_cached(
            "select id from webhooks where active = 1 \
             and (events is null or instr(',' || events || ',', ',' || ?1 || ',') > 0)",
        )?
        .query_map([kind], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    if webhooks.is_empty() {
        return Ok(());
    }
    let snapshot = snapshot(session);
    let mut insert = conn.prepare_cached(
        "insert into webhook_deliveries \
         (event_id, webhook_id, session_id, event, session, created_at, next_attempt_at) \
         values (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
    )?;
    for webhook in webhooks {
        insert.execute(params![
            event.id,
            webhook,
            event.session_id,
            kind,
            snapshot,
            micros(event.at)
        ])?;
    }
    Ok(())
}

const WEBHOOK_COLUMNS: &str = "id, url, events, active, created_at, created_by";

fn webhook(row: &Row<'_>) -> rusqlite::Result<Webhook> {
    let url = text(row, 1)?.unwrap_or_default();
    let events = text(row, 2)?.unwrap_or_default();
    Ok(Webhook {
        id: row.get(0)?,
        url: WebhookUrl::parse(url).map_err(|e| bad_column(1, format!("stored URL {e}")))?,
        events: WebhookEvents::parse(events)
            .map_err(|e| bad_column(2, format!("stored events {e}")))?,
        active: row.get(3)?,
        created_at: time(row.get(4)?),
        created_by: row.get(5)?,
    })
}

const DELIVERY_COLUMNS: &str = "event_id, webhook_id, session_id, event, created_at, state, \
     attempts, next_attempt_at, last_attempt_at, last_status, last_excerpt, last_duration_ms";

fn delivery(row: &Row<'_>) -> rusqlite::Result<Delivery> {
    let (event_id, webhook_id): (Uuid, Uuid) = (row.get(0)?, row.get(1)?);
    let next_attempt_at = time(row.get(7)?);
    let state_text = text(row, 5)?.unwrap_or_default();
    let state = DeliveryState::parse(state_text)
        .ok_or_else(|| bad_column(5, format!("stored state {state_text:?}")))?;
    let last_attempt = row
        .get::<_, Option<i64>>(8)?
        .map(|at| -> rusqlite::Result<AttemptAnswer> {
            Ok(AttemptAnswer {
                at: time(at),
                status: row.get(9)?,
                excerpt: row.get::<_, Option<String>>(10)?.unwrap_or_default(),
                duration_ms: row.get::<_, Option<u32>>(11)?.unwrap_or(0),
            })
        })
        .transpose()?;
    Ok(Delivery {
        id: delivery_id(event_id, webhook_id),
        webhook_id,
        event_id,
        session_id: row.get(2)?,
        event: row.get(3)?,
        created_at: time(row.get(4)?),
        state,
        attempts: row.get(6)?,
        next_attempt_at: (state == DeliveryState::Pending).then_some(next_attempt_at),
        last_attempt,
    })
}

/// A claimed row: the delivery (0–4), its webhook (5–6), its event (7–12).
fn due(row: &Row<'_>) -> rusqlite::Result<DueDelivery> {
    let session: Session =
        serde_json::from_str(text(row, 4)?.unwrap_or_default()).map_err(|e| bad_column(4, e))?;
    let kind: EventKind =
        serde_json::from_str(text(row, 12)?.unwrap_or_default()).map_err(|e| bad_column(12, e))?;
    Ok(DueDelivery {
        webhook_id: row.get(1)?,
        attempts: row.get(2)?,
        created_at: time(row.get(3)?),
        session,
        url: row.get(5)?,
        secret: row.get(6)?,
        event: Event {
            id: row.get(0)?,
            session_id: row.get(8)?,
            at: time(row.get(9)?),
            actor: row.get(10)?,
            via: text(row, 11)?
                .and_then(Surface::parse)
                .unwrap_or(Surface::Api),
            kind,
        },
    })
}

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn insert_webhook(&self, webhook: &Webhook, secret: &str) -> Result<(), StoreError> {
        let events = webhook.events.names().map(|n| n.join(","));
        self.db
            .write(|conn| {
                conn.prepare_cached(
                    "insert into webhooks (id, url, secret, events, active, created_at, created_by) \
                     values (?, ?, ?, ?, ?, ?, ?)",
                )?
                .execute(params![
                    webhook.id,
                    webhook.url.as_str(),
                    secret,
                    events,
                    webhook.active,
                    micros(webhook.created_at),
                    webhook.created_by,
                ])?;
                Ok(())
            })
            .await
    }

    async fn webhooks(&self) -> Result<Vec<Webhook>, StoreError> {
        self.db
            .read(|conn| {
                let sql =
                    format!("select {WEBHOOK_COLUMNS} from webhooks order by created_at desc");
                Ok(conn
                    .prepare_cached(&sql)?
                    .query_map([], webhook)?
                    .collect::<Result<_, _>>()?)
            })
            .await
    }

    async fn webhook(&self, id: Uuid) -> Result<Option<Webhook>, StoreError> {
        self.db
            .quick_read(|conn| {
                let sql = format!("select {WEBHOOK_COLUMNS} from webhooks where id = ?");
                Ok(conn
                    .prepare_cached(&sql)?
                    .query_row([id], webhook)
                    .optional()?)
            })
            .await
    }

    async fn disable_webhook(&self, id: Uuid) -> Result<bool, StoreError> {
        self.db
            .write(|conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let found = tx
                    .prepare_cached("update webhooks set active = 0 where id = ?")?
                    .execute([id])?;
                tx.prepare_cached(
                    "update webhook_deliveries set state = 'failed' \
                     where webhook_id = ? and state = 'pending'",
                )?
                .execute([id])?;
                tx.commit()?;
                Ok(found == 1)
            })
            .await
    }

    async fn deliveries(&self, webhook_id: Uuid, limit: u32) -> Result<Vec<Delivery>, StoreError> {
        self.db
            .read(move |conn| {
                let sql = format!(
                    "select {DELIVERY_COLUMNS} from webhook_deliveries where webhook_id = ? \
                     order by created_at desc, event_id desc limit ?"
                );
                Ok(conn
                    .prepare_cached(&sql)?
                    .query_map(params![webhook_id, limit], delivery)?
                    .collect::<Result<_, _>>()?)
            })
            .await
    }

    async fn any_due(&self, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.db
            .quick_read(|conn| {
                Ok(conn
                    .prepare_cached(
                        "select exists (select 1 from webhook_deliveries d \
                         join webhooks w on w.id = d.webhook_id \
                         where d.state = 'pending' and d.next_attempt_at <= ? and w.active = 1)",
                    )?
                    .query_row([micros(now)], |row| row.get(0))?)
            })
            .await
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        claimed_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        self.db
            .write(|conn| {
                // The writer (and, across processes, SQLite's write lock)
                // makes the read and the claim one step.
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let due: Vec<DueDelivery> = tx
                    .prepare_cached(
                        "select d.event_id, d.webhook_id, d.attempts + 1, d.created_at, d.session, \
                         w.url, w.secret, \
                         e.id, e.session_id, e.at, e.actor, e.via, e.data \
                         from webhook_deliveries d \
                         join webhooks w on w.id = d.webhook_id \
                         join session_events e on e.id = d.event_id \
                         where d.state = 'pending' and d.next_attempt_at <= ?1 and w.active = 1 \
                         order by d.next_attempt_at limit ?2",
                    )?
                    .query_map(params![micros(now), limit], due)?
                    .collect::<Result<_, _>>()?;
                {
                    let mut claim = tx.prepare_cached(
                        "update webhook_deliveries set attempts = attempts + 1, \
                         next_attempt_at = ?1 where event_id = ?2 and webhook_id = ?3",
                    )?;
                    for d in &due {
                        claim.execute(params![micros(claimed_until), d.event.id, d.webhook_id])?;
                    }
                }
                tx.commit()?;
                Ok(due)
            })
            .await
    }

    async fn record_attempt(
        &self,
        event_id: Uuid,
        webhook_id: Uuid,
        answer: &AttemptAnswer,
        result: AttemptResult,
    ) -> Result<(), StoreError> {
        let (state, next) = match result {
            AttemptResult::Delivered => (DeliveryState::Delivered, None),
            AttemptResult::RetryAt(at) => (DeliveryState::Pending, Some(micros(at))),
            AttemptResult::GaveUp => (DeliveryState::Failed, None),
        };
        self.db
            .write(|conn| {
                conn.prepare_cached(
                    "update webhook_deliveries set state = ?1, \
                     next_attempt_at = coalesce(?2, next_attempt_at), last_attempt_at = ?3, \
                     last_status = ?4, last_excerpt = ?5, last_duration_ms = ?6 \
                     where event_id = ?7 and webhook_id = ?8 and state = 'pending'",
                )?
                .execute(params![
                    state.as_str(),
                    next,
                    micros(answer.at),
                    answer.status,
                    bounded(&answer.excerpt),
                    answer.duration_ms,
                    event_id,
                    webhook_id,
                ])?;
                Ok(())
            })
            .await
    }

    async fn purge_deliveries(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.db
            .write(|conn| {
                let purged = conn
                    .prepare_cached(
                        "delete from webhook_deliveries where state <> 'pending' and created_at < ?",
                    )?
                    .execute([micros(before)])?;
                Ok(purged as u64)
            })
            .await
    }
}
