//! The outbox on SQLite: enqueueing in the caller's transaction, and
//! claiming on the one writer.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, TransactionBehavior, params};
use uuid::Uuid;

use super::{Outbox, due, snapshot};
use crate::domain::{DueDelivery, Event, Session};
use crate::store::sqlite::micros;
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

#[async_trait]
impl Outbox for SqliteStore {
    async fn claim(
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
                let mut due_rows = Vec::new();
                {
                    let mut select = tx.prepare_cached(
                        "select d.event_id, d.webhook_id, d.attempts + 1, d.created_at, \
                         d.session, w.url, w.secret, e.session_id, e.at, e.actor, e.via, e.data \
                         from webhook_deliveries d \
                         join webhooks w on w.id = d.webhook_id \
                         join session_events e on e.id = d.event_id \
                         where d.state = 'pending' and d.next_attempt_at <= ?1 and w.active \
                         order by d.next_attempt_at limit ?2",
                    )?;
                    let mut rows = select.query(params![micros(now), limit])?;
                    while let Some(row) = rows.next()? {
                        due_rows.push(due(row)?);
                    }
                }
                {
                    let mut claim = tx.prepare_cached(
                        "update webhook_deliveries set attempts = attempts + 1, \
                         next_attempt_at = ?1 where event_id = ?2 and webhook_id = ?3",
                    )?;
                    for d in &due_rows {
                        claim.execute(params![micros(claimed_until), d.event.id, d.webhook_id])?;
                    }
                }
                tx.commit()?;
                Ok(due_rows)
            })
            .await
    }
}
