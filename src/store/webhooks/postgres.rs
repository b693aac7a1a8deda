//! The outbox on PostgreSQL: claiming that skips rows another worker holds.

use super::{Outbox, due};
use crate::domain::DueDelivery;
use crate::store::engine::{Engine, statement};
use crate::store::{PostgresStore, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
impl Outbox for PostgresStore {
    async fn claim(
        &self,
        now: DateTime<Utc>,
        claimed_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        // `skip locked`: a worker never waits for, nor takes, rows another
        // is claiming at the same moment.
        let claim = statement!(
            "with due as ( \
                 select d.event_id, d.webhook_id from webhook_deliveries d \
                 join webhooks w on w.id = d.webhook_id \
                 where d.state = 'pending' and d.next_attempt_at <= ?1 and w.active \
                 order by d.next_attempt_at limit ?3 \
                 for update of d skip locked) \
             update webhook_deliveries d set attempts = d.attempts + 1, next_attempt_at = ?2 \
             from due, webhooks w, session_events e \
             where d.event_id = due.event_id and d.webhook_id = due.webhook_id \
             and w.id = d.webhook_id and e.id = d.event_id \
             returning d.event_id, d.webhook_id, d.attempts, d.created_at, d.session, \
             w.url, w.secret, e.session_id, e.at, e.actor, e.via, e.data::text",
            now,
            claimed_until,
            limit,
        );
        self.fetch_all(claim, due).await
    }
}
