//! The session store's statements and row shapes that both engines run as
//! written (see `store::engine`). Per engine stay listing and loading (the
//! hot paths, tuned to each engine's planner and driver; search is each
//! engine's own full-text index) and the transactions of `insert` and
//! `apply`, which run these statements and those of `store::writes`.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::engine::{Columns, Engine, Statement, corrupt, statement};
use super::{StoreError, status_condition, status_counts};
use crate::domain::{Event, EventKind, Outcome, Session, Status, Step, Surface};

/// A session's columns, for queries over `sessions s`; its steps come from
/// [`STEP_COLUMNS`] in a second statement on the same connection. (Steps
/// built into each row as JSON cost a growing buffer per session, a parse
/// and a copy of each text; rows of their own are read in place.)
pub(super) const SESSION_COLUMNS: &str = "s.id, s.title, s.problem, s.reference, s.customer, \
     s.owner, s.created_at, s.updated_at, s.started_at, s.completed_at, s.completed_by, \
     s.outcome, s.outcome_notes, s.summary";

/// [`SESSION_COLUMNS`] unqualified, for a `returning` clause (SQLite allows
/// no table alias there).
pub(super) fn session_returning() -> &'static str {
    static COLUMNS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    COLUMNS.get_or_init(|| SESSION_COLUMNS.replace("s.", ""))
}

/// A row of [`SESSION_COLUMNS`], without its steps.
pub(super) fn session(row: &dyn Columns) -> Result<Session, StoreError> {
    Ok(Session {
        id: row.id(0)?,
        title: row.text(1)?,
        problem: row.text(2)?,
        reference: row.optional_text(3)?,
        customer: row.optional_text(4)?,
        owner: row.text(5)?,
        created_at: row.time(6)?,
        updated_at: row.time(7)?,
        started_at: row.optional_time(8)?,
        completed_at: row.optional_time(9)?,
        completed_by: row.optional_text(10)?,
        // The CHECK constraint guarantees a known value.
        outcome: row.optional_text(11)?.as_deref().and_then(Outcome::parse),
        outcome_notes: row.optional_text(12)?,
        summary: row.optional_text(13)?,
        steps: Vec::new(),
    })
}

/// The columns of `session_steps` that [`step`] reads.
pub(super) const STEP_COLUMNS: &str =
    "session_id, id, position, text, checked_at, finding, skipped_at";

/// A row of [`STEP_COLUMNS`]: the session's id and the step.
pub(super) fn step(row: &dyn Columns) -> Result<(Uuid, Step), StoreError> {
    let step = Step {
        id: row.id(1)?,
        position: u32::try_from(row.int(2)?).unwrap_or(0),
        text: row.text(3)?,
        checked_at: row.optional_time(4)?,
        finding: row.optional_text(5)?,
        skipped_at: row.optional_time(6)?,
    };
    Ok((row.id(0)?, step))
}

/// A new session's row (its steps and event are written beside it).
pub(super) fn insert_session(session: &Session) -> Statement<'_> {
    statement!(
        "insert into sessions (id, title, problem, reference, customer, owner, created_at, \
         updated_at, started_at) values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        session.id,
        session.title.as_str(),
        session.problem.as_str(),
        session.reference.as_deref(),
        session.customer.as_deref(),
        session.owner.as_str(),
        session.created_at,
        session.updated_at,
        session.started_at,
    )
}

/// The prepared session's deletion, with its steps and timeline (by
/// cascade); a started one is left alone.
pub(super) fn delete_prepared(id: Uuid) -> Statement<'static> {
    let prepared = status_condition(Status::Prepared);
    statement!(
        format!("delete from sessions where id = ?1 and {prepared}"),
        id
    )
}

/// A plan's steps, before an edit writes the new ones.
pub(super) fn delete_steps(id: Uuid) -> Statement<'static> {
    statement!("delete from session_steps where session_id = ?1", id)
}

/// Each event's data as JSON text (PostgreSQL keeps `jsonb`).
fn event(row: &dyn Columns) -> Result<Event, StoreError> {
    let data = row.text(5)?;
    let kind: EventKind = serde_json::from_str(&data).map_err(|_| corrupt("event", &data))?;
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
    let [prepared, active, completed] = Status::ALL.map(status_condition);
    let sql = format!(
        "select (select count(*) from sessions where {prepared}), \
         (select count(*) from sessions where {active}), \
         (select count(*) from sessions where {completed})"
    );
    let counts = |row: &dyn Columns| Ok((row.int(0)?, row.int(1)?, row.int(2)?));
    // A read whose cost grows with the table: fetch_all, not a lookup.
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
