//! The outbox on SQLite: claiming on the one writer.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{TransactionBehavior, params};

use super::{Outbox, due};
use crate::domain::DueDelivery;
use crate::store::sqlite::micros;
use crate::store::{SqliteStore, StoreError};

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
