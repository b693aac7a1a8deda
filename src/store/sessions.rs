//! The session store's statements that both engines run as written (see
//! `store::engine`). Listing, loading and the conditional write stay per
//! engine: they are the hot paths, tuned to each engine's planner and
//! driver, and search is each engine's own full-text index.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::engine::{Columns, Engine, statement};
use super::{StoreError, status_counts};
use crate::domain::{Event, EventKind, Status, Surface};

/// Each event's data as JSON text (PostgreSQL keeps `jsonb`).
fn event(row: &dyn Columns) -> Result<Event, StoreError> {
    let data = row.text(5)?;
    let kind: EventKind =
        serde_json::from_str(&data).map_err(|_| super::engine::corrupt("event", &data))?;
    Ok(Event {
        id: row.id(0)?,
        session_id: row.id(1)?,
        at: row.time(2)?,
        actor: row.text(3)?,
        via: Surface::parse(&row.text(4)?).unwrap_or(Surface::Api),
        kind,
    })
}

pub(super) async fn events(engine: &impl Engine, id: Uuid) -> Result<Vec<Event>, StoreError> {
    let sql = "select id, session_id, at, actor, via, cast(data as text) from session_events \
               where session_id = ?1 order by at, id";
    engine.fetch_all(statement!(sql, id), event).await
}

pub(super) async fn ping(engine: &impl Engine) -> Result<(), StoreError> {
    engine
        .fetch_all(statement!("select 1"), |_: &dyn Columns| Ok(()))
        .await?;
    Ok(())
}

/// Each count walks that status's partial index rather than the table, so
/// a scrape stays cheap at 100,000 sessions.
pub(super) async fn count_by_status(
    engine: &impl Engine,
) -> Result<Vec<(Status, u64)>, StoreError> {
    let sql = "select \
         (select count(*) from sessions where started_at is null), \
         (select count(*) from sessions where started_at is not null and completed_at is null), \
         (select count(*) from sessions where completed_at is not null)";
    let counts = |row: &dyn Columns| Ok((row.int(0)?, row.int(1)?, row.int(2)?));
    let (prepared, active, completed) = engine
        .fetch_all(statement!(sql), counts)
        .await?
        .pop()
        .unwrap_or_default();
    Ok(status_counts(prepared, active, completed))
}

pub(super) async fn idle_active(
    engine: &impl Engine,
    idle_since: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<Uuid>, StoreError> {
    let sql = "select id from sessions where started_at is not null and completed_at is null \
               and updated_at < ?1 order by updated_at limit ?2";
    let id = |row: &dyn Columns| row.id(0);
    engine
        .fetch_all(statement!(sql, idle_since, limit), id)
        .await
}

/// One statement: concurrent callers serialize on the row, and only the
/// holder or a caller after expiry changes it.
pub(super) async fn try_lease(
    engine: &impl Engine,
    name: &str,
    holder: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let sql = "insert into leases (name, holder, expires_at) values (?1, ?2, ?3) \
               on conflict (name) do update set holder = excluded.holder, \
               expires_at = excluded.expires_at \
               where leases.holder = excluded.holder or leases.expires_at <= ?4";
    let taken = engine
        .execute(statement!(sql, name, holder, until, now))
        .await?;
    Ok(taken == 1)
}
