//! The outbox on PostgreSQL: enqueueing in the event's own statement, and
//! claiming that skips rows another worker holds.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgConnection;
use sqlx::types::Json;

use super::{Outbox, due, snapshot};
use crate::domain::{DueDelivery, Event, Session};
use crate::store::engine::{Engine, statement};
use crate::store::{PostgresStore, StoreError};

/// Appends `event` to the timeline and, in the same statement, writes a
/// delivery for each active webhook subscribed to its kind: no round trip
/// more than the event alone, whether or not there are webhooks.
pub(in crate::store) async fn insert_event_and_enqueue(
    conn: &mut PgConnection,
    event: &Event,
    session: &Session,
) -> Result<(), StoreError> {
    sqlx::query(
        "with event as ( \
             insert into session_events (id, session_id, at, actor, kind, via, data) \
             values ($1, $2, $3, $4, $5, $6, $7)) \
         insert into webhook_deliveries \
             (event_id, webhook_id, session_id, event, session, created_at, next_attempt_at) \
         select $1, id, $2, $5, $8, $3, $3 from webhooks \
         where active and (events is null or $5 = any(events))",
    )
    .bind(event.id)
    .bind(event.session_id)
    .bind(event.at)
    .bind(&event.actor)
    .bind(event.kind.name())
    .bind(event.via.as_str())
    .bind(Json(&event.kind))
    .bind(snapshot(session))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

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
