//! Webhooks and their outbox on PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnection, PgRow};
use sqlx::types::Json;
use sqlx::{FromRow, Row};
use uuid::Uuid;

use super::{AttemptResult, WebhookStore, bounded, corrupt, snapshot};
use crate::domain::{
    AttemptAnswer, Delivery, DeliveryState, DueDelivery, Event, EventKind, Session, Surface,
    Webhook, WebhookEvents, WebhookUrl, delivery_id,
};
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

const WEBHOOK_COLUMNS: &str = "id, url, events, active, created_at, created_by";

fn webhook(row: &PgRow) -> Result<Webhook, StoreError> {
    let url: String = row.try_get("url")?;
    let events: Option<Vec<String>> = row.try_get("events")?;
    Ok(Webhook {
        id: row.try_get("id")?,
        url: WebhookUrl::parse(&url).map_err(|e| corrupt(format!("stored URL {e}")))?,
        events: WebhookEvents::parse(&events.unwrap_or_default().join(","))
            .map_err(|e| corrupt(format!("stored events {e}")))?,
        active: row.try_get("active")?,
        created_at: row.try_get("created_at")?,
        created_by: row.try_get("created_by")?,
    })
}

#[derive(FromRow)]
struct DeliveryRow {
    event_id: Uuid,
    webhook_id: Uuid,
    session_id: Uuid,
    event: String,
    created_at: DateTime<Utc>,
    state: String,
    attempts: i32,
    next_attempt_at: DateTime<Utc>,
    last_attempt_at: Option<DateTime<Utc>>,
    last_status: Option<i32>,
    last_excerpt: Option<String>,
    last_duration_ms: Option<i32>,
}

const DELIVERY_COLUMNS: &str = "event_id, webhook_id, session_id, event, created_at, state, \
     attempts, next_attempt_at, last_attempt_at, last_status, last_excerpt, last_duration_ms";

impl TryFrom<DeliveryRow> for Delivery {
    type Error = StoreError;

    fn try_from(row: DeliveryRow) -> Result<Self, StoreError> {
        let state = DeliveryState::parse(&row.state)
            .ok_or_else(|| corrupt(format!("stored state {:?}", row.state)))?;
        Ok(Delivery {
            id: delivery_id(row.event_id, row.webhook_id),
            webhook_id: row.webhook_id,
            event_id: row.event_id,
            session_id: row.session_id,
            event: row.event,
            created_at: row.created_at,
            state,
            attempts: u32::try_from(row.attempts).unwrap_or(0),
            next_attempt_at: (state == DeliveryState::Pending).then_some(row.next_attempt_at),
            last_attempt: row.last_attempt_at.map(|at| AttemptAnswer {
                at,
                status: row.last_status.and_then(|s| u16::try_from(s).ok()),
                excerpt: row.last_excerpt.unwrap_or_default(),
                duration_ms: row
                    .last_duration_ms
                    .and_then(|d| u32::try_from(d).ok())
                    .unwrap_or(0),
            }),
        })
    }
}

#[derive(FromRow)]
struct DueRow {
    event_id: Uuid,
    webhook_id: Uuid,
    attempts: i32,
    created_at: DateTime<Utc>,
    session: String,
    url: String,
    secret: String,
    session_id: Uuid,
    at: DateTime<Utc>,
    actor: String,
    via: String,
    data: Json<EventKind>,
}

impl TryFrom<DueRow> for DueDelivery {
    type Error = StoreError;

    fn try_from(row: DueRow) -> Result<Self, StoreError> {
        let session: Session = serde_json::from_str(&row.session)
            .map_err(|e| corrupt(format!("stored session snapshot: {e}")))?;
        Ok(DueDelivery {
            webhook_id: row.webhook_id,
            url: row.url,
            secret: row.secret,
            session,
            created_at: row.created_at,
            attempts: u32::try_from(row.attempts).unwrap_or(0),
            event: Event {
                id: row.event_id,
                session_id: row.session_id,
                at: row.at,
                actor: row.actor,
                via: Surface::parse(&row.via).unwrap_or(Surface::Api),
                kind: row.data.0,
            },
        })
    }
}

#[async_trait]
impl WebhookStore for PostgresStore {
    async fn insert_webhook(&self, webhook: &Webhook, secret: &str) -> Result<(), StoreError> {
        sqlx::query(
            "insert into webhooks (id, url, secret, events, active, created_at, created_by) \
             values ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(webhook.id)
        .bind(webhook.url.as_str())
        .bind(secret)
        .bind(webhook.events.names())
        .bind(webhook.active)
        .bind(webhook.created_at)
        .bind(&webhook.created_by)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn webhooks(&self) -> Result<Vec<Webhook>, StoreError> {
        let sql = format!("select {WEBHOOK_COLUMNS} from webhooks order by created_at desc");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(webhook).collect()
    }

    async fn webhook(&self, id: Uuid) -> Result<Option<Webhook>, StoreError> {
        let sql = format!("select {WEBHOOK_COLUMNS} from webhooks where id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(webhook).transpose()
    }

    async fn disable_webhook(&self, id: Uuid) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let found = sqlx::query("update webhooks set active = false where id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query(
            "update webhook_deliveries set state = 'failed' \
             where webhook_id = $1 and state = 'pending'",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(found == 1)
    }

    async fn deliveries(&self, webhook_id: Uuid, limit: u32) -> Result<Vec<Delivery>, StoreError> {
        let sql = format!(
            "select {DELIVERY_COLUMNS} from webhook_deliveries where webhook_id = $1 \
             order by created_at desc, event_id desc limit $2"
        );
        let rows: Vec<DeliveryRow> = sqlx::query_as(&sql)
            .bind(webhook_id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(Delivery::try_from).collect()
    }

    async fn any_due(&self, now: DateTime<Utc>) -> Result<bool, StoreError> {
        Ok(sqlx::query_scalar(
            "select exists (select 1 from webhook_deliveries d \
             join webhooks w on w.id = d.webhook_id \
             where d.state = 'pending' and d.next_attempt_at <= $1 and w.active)",
        )
        .bind(now)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        claimed_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        // `skip locked`: a worker never waits for, nor takes, rows another
        // is claiming at the same moment.
        let rows: Vec<DueRow> = sqlx::query_as(
            "with due as ( \
                 select d.event_id, d.webhook_id from webhook_deliveries d \
                 join webhooks w on w.id = d.webhook_id \
                 where d.state = 'pending' and d.next_attempt_at <= $1 and w.active \
                 order by d.next_attempt_at limit $3 \
                 for update of d skip locked) \
             update webhook_deliveries d set attempts = d.attempts + 1, next_attempt_at = $2 \
             from due, webhooks w, session_events e \
             where d.event_id = due.event_id and d.webhook_id = due.webhook_id \
             and w.id = d.webhook_id and e.id = d.event_id \
             returning d.event_id, d.webhook_id, d.attempts, d.created_at, d.session, \
             w.url, w.secret, e.session_id, e.at, e.actor, e.via, e.data",
        )
        .bind(now)
        .bind(claimed_until)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(DueDelivery::try_from).collect()
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
            AttemptResult::RetryAt(at) => (DeliveryState::Pending, Some(at)),
            AttemptResult::GaveUp => (DeliveryState::Failed, None),
        };
        sqlx::query(
            "update webhook_deliveries set state = $1, \
             next_attempt_at = coalesce($2, next_attempt_at), last_attempt_at = $3, \
             last_status = $4, last_excerpt = $5, last_duration_ms = $6 \
             where event_id = $7 and webhook_id = $8 and state = 'pending'",
        )
        .bind(state.as_str())
        .bind(next)
        .bind(answer.at)
        .bind(answer.status.map(i32::from))
        .bind(bounded(&answer.excerpt))
        .bind(i32::try_from(answer.duration_ms).unwrap_or(i32::MAX))
        .bind(event_id)
        .bind(webhook_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn purge_deliveries(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "delete from webhook_deliveries where state <> 'pending' and created_at < $1",
        )
        .bind(before)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }
}
