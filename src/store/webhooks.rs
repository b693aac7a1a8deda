//! Persistence of outbound webhooks and their outbox of deliveries, written
//! once for both engines (see `store::engine`).
//!
//! The session store writes delivery rows in the transaction of the change
//! they announce ([`record_event`]): one row per active webhook subscribed
//! to the event's kind, holding a snapshot of the session right after the
//! change. Everything here reads and updates those rows; only claiming is
//! written per engine.

mod postgres;
mod sqlite;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::StoreError;
use super::engine::{Columns, Conn, Dialect, Engine, Statement, TxStep, Value, corrupt, statement};
use crate::domain::{
    AttemptAnswer, Delivery, DeliveryState, DueDelivery, Event, EventKind, Session, Surface,
    Webhook, WebhookEvents, WebhookUrl, delivery_id,
};

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

/// What differs per engine in the outbox.
#[async_trait]
pub(super) trait Outbox: Engine {
    /// [`WebhookStore::claim_due`]; rows decode with [`due`].
    async fn claim(
        &self,
        now: DateTime<Utc>,
        claimed_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, StoreError>;
}

/// Where the store keeps an attempt's excerpt: at most this many characters.
pub const EXCERPT_CHARS: usize = 500;

fn bounded(excerpt: &str) -> &str {
    match excerpt.char_indices().nth(EXCERPT_CHARS) {
        Some((end, _)) => &excerpt[..end],
        None => excerpt,
    }
}

/// The event's row; `?1`–`?7` of [`record_event`].
macro_rules! insert_event {
    () => {
        "insert into session_events (id, session_id, at, actor, kind, via, data) \
         values (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
    };
}

/// A delivery for each active webhook whose events hold the event's kind
/// (`?5`), with the session's snapshot (`?8`).
macro_rules! enqueue {
    ($holds_the_kind:expr) => {
        concat!(
            "insert into webhook_deliveries \
             (event_id, webhook_id, session_id, event, session, created_at, next_attempt_at) \
             select ?1, id, ?2, ?5, ?8, ?3, ?3 from webhooks \
             where active and (events is null or ",
            $holds_the_kind,
            ")"
        )
    };
}

/// Appends `event` to the timeline and writes its deliveries, in the
/// caller's transaction. PostgreSQL does both in one statement (a round
/// trip fewer per write). SQLite cannot insert inside `with`, but its
/// statements cost no round trip: it asks first whether any webhook wants
/// the event, so that the usual write, with none, does not serialize the
/// session for nothing (a tenth of a note's instructions). SQLite keeps a
/// webhook's events as names joined by commas (see `Value::Names`).
pub(super) async fn record_event(
    conn: &mut impl Conn,
    event: &Event,
    session: &Session,
) -> Result<(), StoreError> {
    macro_rules! sqlite_holds_the_kind {
        () => {
            "instr(',' || events || ',', ',' || ?5 || ',') > 0"
        };
    }
    fn statement<'a>(sql: &'static str, args: &[Value<'a>]) -> Statement<'a> {
        Statement {
            sql: sql.into(),
            args: args.to_vec(),
            plan_each_time: false,
        }
    }
    let data = serde_json::to_string(&event.kind).expect("events serialize");
    let snapshot = || serde_json::to_string(session).expect("a session serializes");
    let mut args = vec![
        Value::from(event.id),
        Value::from(event.session_id),
        Value::from(event.at),
        Value::from(event.actor.as_str()),
        Value::from(event.kind.name()),
        Value::from(event.via.as_str()),
        Value::Json(&data),
    ];
    let session_json;
    match Dialect::of(conn) {
        Dialect::Postgres => {
            const BOTH: &str = concat!(
                "with event as (",
                insert_event!(),
                ") ",
                enqueue!("?5 = any(events)")
            );
            session_json = snapshot();
            args.push(Value::from(session_json.as_str()));
            conn.execute(&statement(BOTH, &args)).await?;
        }
        Dialect::Sqlite => {
            const WANTED: &str = concat!(
                "select 1 from webhooks where active and (events is null or ",
                sqlite_holds_the_kind!(),
                ") limit 1"
            );
            const ENQUEUE: &str = enqueue!(sqlite_holds_the_kind!());
            // A place the feed gave is never given again (migration 0014).
            const INSERT_EVENT: &str = "insert into session_events (rowid, id, session_id, at, actor, kind, via, data) \
                 values ((select max(last, coalesce((select max(rowid) from session_events), 0)) \
                 + 1 from session_event_places), ?1, ?2, ?3, ?4, ?5, ?6, ?7)";
            conn.execute(&statement(INSERT_EVENT, &args)).await?;
            let wanted = conn
                .first(&statement(WANTED, &args[..5]), |_| Ok(()))
                .await?;
            if wanted.is_some() {
                session_json = snapshot();
                args.push(Value::from(session_json.as_str()));
                conn.execute(&statement(ENQUEUE, &args)).await?;
            }
        }
    }
    Ok(())
}

/// Macros rather than constants, so each statement is one literal (`concat!`).
macro_rules! webhook_columns {
    () => {
        "id, url, events, active, created_at, created_by"
    };
}

fn webhook(row: &dyn Columns) -> Result<Webhook, StoreError> {
    let url = row.text(1)?;
    let events = row.names(2)?.unwrap_or_default().join(",");
    Ok(Webhook {
        id: row.id(0)?,
        url: WebhookUrl::parse(&url).map_err(|_| corrupt("URL", &url))?,
        events: WebhookEvents::parse(&events).map_err(|_| corrupt("events", &events))?,
        active: row.flag(3)?,
        created_at: row.time(4)?,
        created_by: row.text(5)?,
    })
}

macro_rules! delivery_columns {
    () => {
        "event_id, webhook_id, session_id, event, created_at, state, attempts, \
         next_attempt_at, last_attempt_at, last_status, last_excerpt, last_duration_ms"
    };
}

fn delivery(row: &dyn Columns) -> Result<Delivery, StoreError> {
    let (event_id, webhook_id) = (row.id(0)?, row.id(1)?);
    let state = row.text(5)?;
    let state = DeliveryState::parse(&state).ok_or_else(|| corrupt("state", &state))?;
    let last_attempt = match row.optional_time(8)? {
        Some(at) => Some(AttemptAnswer {
            at,
            status: row.optional_int(9)?.and_then(|s| u16::try_from(s).ok()),
            excerpt: row.optional_text(10)?.unwrap_or_default(),
            duration_ms: row
                .optional_int(11)?
                .and_then(|d| u32::try_from(d).ok())
                .unwrap_or(0),
        }),
        None => None,
    };
    Ok(Delivery {
        id: delivery_id(event_id, webhook_id),
        webhook_id,
        event_id,
        session_id: row.id(2)?,
        event: row.text(3)?,
        created_at: row.time(4)?,
        state,
        attempts: u32::try_from(row.int(6)?).unwrap_or(0),
        next_attempt_at: (state == DeliveryState::Pending)
            .then(|| row.time(7))
            .transpose()?,
        last_attempt,
    })
}

/// A claimed row, as each engine's claim returns it: the delivery's event
/// id, webhook id, attempts (this one counted), created_at and session
/// snapshot (0–4); the webhook's URL and secret (5–6); the event's session
/// id, time, actor, surface and data as JSON text (7–11).
pub(super) fn due(row: &dyn Columns) -> Result<DueDelivery, StoreError> {
    let session = row.text(4)?;
    let session: Session =
        serde_json::from_str(&session).map_err(|_| corrupt("session snapshot", &session))?;
    let data = row.text(11)?;
    let kind: EventKind = serde_json::from_str(&data).map_err(|_| corrupt("event", &data))?;
    Ok(DueDelivery {
        webhook_id: row.id(1)?,
        attempts: u32::try_from(row.int(2)?).unwrap_or(0),
        created_at: row.time(3)?,
        session,
        url: row.text(5)?,
        secret: row.text(6)?,
        event: Event {
            id: row.id(0)?,
            session_id: row.id(7)?,
            at: row.time(8)?,
            actor: row.text(9)?,
            via: Surface::parse(&row.text(10)?).unwrap_or(Surface::Api),
            kind,
        },
    })
}

#[async_trait]
impl<E: Outbox> WebhookStore for E {
    async fn insert_webhook(&self, webhook: &Webhook, secret: &str) -> Result<(), StoreError> {
        self.execute(statement!(
            "insert into webhooks (id, url, secret, events, active, created_at, created_by) \
             values (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            webhook.id,
            webhook.url.as_str(),
            secret,
            super::engine::Value::Names(webhook.events.names()),
            webhook.active,
            webhook.created_at,
            webhook.created_by.as_str(),
        ))
        .await?;
        Ok(())
    }

    async fn webhooks(&self) -> Result<Vec<Webhook>, StoreError> {
        const SQL: &str = concat!(
            "select ",
            webhook_columns!(),
            " from webhooks order by created_at desc"
        );
        self.fetch_all(statement!(SQL), webhook).await
    }

    async fn webhook(&self, id: Uuid) -> Result<Option<Webhook>, StoreError> {
        const SQL: &str = concat!(
            "select ",
            webhook_columns!(),
            " from webhooks where id = ?1"
        );
        self.lookup(statement!(SQL, id), webhook).await
    }

    async fn disable_webhook(&self, id: Uuid) -> Result<bool, StoreError> {
        let steps = [
            TxStep::one_row(statement!(
                "update webhooks set active = false where id = ?1",
                id
            )),
            TxStep::any(statement!(
                "update webhook_deliveries set state = 'failed' \
                 where webhook_id = ?1 and state = 'pending'",
                id
            )),
        ];
        self.transaction(&steps).await
    }

    async fn deliveries(&self, webhook_id: Uuid, limit: u32) -> Result<Vec<Delivery>, StoreError> {
        const SQL: &str = concat!(
            "select ",
            delivery_columns!(),
            " from webhook_deliveries where webhook_id = ?1 \
             order by created_at desc, event_id desc limit ?2"
        );
        self.fetch_all(statement!(SQL, webhook_id, limit), delivery)
            .await
    }

    async fn any_due(&self, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let sql = "select exists (select 1 from webhook_deliveries d \
                   join webhooks w on w.id = d.webhook_id \
                   where d.state = 'pending' and d.next_attempt_at <= ?1 and w.active)";
        let due = self
            .lookup(statement!(sql, now), |row: &dyn Columns| row.flag(0))
            .await?;
        Ok(due.unwrap_or(false))
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        claimed_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        self.claim(now, claimed_until, limit).await
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
        // The counters are 4-byte integers on PostgreSQL.
        let duration_ms = i64::from(answer.duration_ms.min(i32::MAX as u32));
        self.execute(statement!(
            "update webhook_deliveries set state = ?1, \
             next_attempt_at = coalesce(?2, next_attempt_at), last_attempt_at = ?3, \
             last_status = ?4, last_excerpt = ?5, last_duration_ms = ?6 \
             where event_id = ?7 and webhook_id = ?8 and state = 'pending'",
            state.as_str(),
            next,
            answer.at,
            answer.status.map(i64::from),
            bounded(&answer.excerpt),
            Some(duration_ms),
            event_id,
            webhook_id,
        ))
        .await?;
        Ok(())
    }

    async fn purge_deliveries(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let sql = "delete from webhook_deliveries where state <> 'pending' and created_at < ?1";
        self.execute(statement!(sql, before)).await
    }
}
