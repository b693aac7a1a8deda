//! The session store, written once for both engines (see `store::engine`):
//! its statements, its row shapes, and the work of several statements that
//! must behave the same on both (loading, listing, inserting, the
//! conditional write and its re-read). Per engine stay only the
//! connections and transactions this work runs in, and the full-text
//! search of a list.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::engine::{
    Columns, Conn, Dialect, Engine, Shifted, Statement, Value, corrupt, statement,
};
use super::writes::Write;
use super::{StoreError, status_condition, status_counts};
use crate::domain::{
    Cursor, Event, EventKind, ListQuery, Outcome, Page, Session, Status, Step, Surface,
};

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
fn insert_session(session: &Session) -> Statement<'_> {
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
fn delete_prepared_statement(id: Uuid) -> Statement<'static> {
    let prepared = status_condition(Status::Prepared);
    statement!(
        format!("delete from sessions where id = ?1 and {prepared}"),
        id
    )
}

/// A plan's steps, before an edit writes the new ones.
fn delete_steps(id: Uuid) -> Statement<'static> {
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

/// The session with `id`, with its steps.
pub(super) async fn load(conn: &mut impl Conn, id: Uuid) -> Result<Option<Session>, StoreError> {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let sql =
        SQL.get_or_init(|| format!("select {SESSION_COLUMNS} from sessions s where s.id = ?1"));
    let Some(session) = conn.first(&statement!(sql.as_str(), id), session).await? else {
        return Ok(None);
    };
    let mut one = [session];
    load_steps(conn, &mut one).await?;
    let [session] = one;
    Ok(Some(session))
}

/// Fills in the steps of `sessions` (in position order) with one statement.
pub(super) async fn load_steps(
    conn: &mut impl Conn,
    sessions: &mut [Session],
) -> Result<(), StoreError> {
    if sessions.is_empty() {
        return Ok(());
    }
    let mut read = Statement::new(format!(
        "select {STEP_COLUMNS} from session_steps where session_id in ("
    ));
    for (i, s) in sessions.iter().enumerate() {
        let id = read.bind(s.id);
        read.push(if i == 0 { "" } else { ", " });
        read.push(&id);
    }
    read.push(") order by session_id, position");
    let steps = conn.all(&read, step).await?;
    let index: std::collections::HashMap<Uuid, usize> = sessions
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id, i))
        .collect();
    for (session_id, step) in steps {
        if let Some(&i) = index.get(&session_id) {
            sessions[i].steps.push(step);
        }
    }
    Ok(())
}

/// The words of a list's search as the engine's full-text index takes
/// them: each a prefix, all required.
pub(super) fn search_terms(dialect: Dialect, query: &ListQuery) -> Option<String> {
    let search = query.search.as_ref()?;
    let terms = search.terms().iter();
    Some(match dialect {
        Dialect::Sqlite => terms
            .map(|t| format!("\"{t}\"*"))
            .collect::<Vec<_>>()
            .join(" "),
        Dialect::Postgres => terms
            .map(|t| format!("{t}:*"))
            .collect::<Vec<_>>()
            .join(" & "),
    })
}

/// A page of `query`, newest first, without steps; `terms` is
/// [`search_terms`] of the query.
///
/// On SQLite a search walks the full-text index newest first (`rowid
/// desc`, the same position as `seq`) and stops at the page's end instead
/// of collecting every match; without one, the page walks `seq` or the
/// filter's index in that order. PostgreSQL orders by `(created_at, id)`,
/// its indexes' key, and plans a search for its words.
pub(super) fn list_statement<'a>(
    dialect: Dialect,
    query: &'a ListQuery,
    terms: Option<&'a str>,
) -> Statement<'a> {
    let mut list = Statement::new(format!("select {SESSION_COLUMNS}"));
    let (key, order) = match (dialect, terms) {
        (Dialect::Sqlite, Some(terms)) => {
            let terms = list.bind(terms);
            list.push(" from sessions_fts f join sessions s on s.seq = f.rowid ");
            list.push(&format!("where sessions_fts match {terms}"));
            ("f.rowid", "f.rowid desc")
        }
        (Dialect::Sqlite, None) => {
            list.push(" from sessions s where true");
            ("s.seq", "s.seq desc")
        }
        (Dialect::Postgres, terms) => {
            list.push(" from sessions s where true");
            if let Some(terms) = terms {
                let terms = list.bind(terms);
                list.push(&format!(" and s.search @@ to_tsquery('simple', {terms})"));
                list.plan_each_time = true;
            }
            ("(s.created_at, s.id)", "s.created_at desc, s.id desc")
        }
    };
    if let Some(status) = query.status {
        list.push(" and ");
        list.push(status_condition(status));
    }
    if let Some(outcome) = query.outcome {
        let outcome = list.bind(outcome.as_str());
        list.push(&format!(" and s.outcome = {outcome}"));
    }
    if let Some(owner) = &query.owner {
        let owner = list.bind(owner.as_str());
        list.push(&format!(" and s.owner = {owner}"));
    }
    if let Some(after) = query.after {
        let position = match dialect {
            Dialect::Sqlite => format!(
                "(select seq from sessions where id = {})",
                list.bind(after.id)
            ),
            Dialect::Postgres => {
                let created_at = list.bind(after.created_at);
                format!("({created_at}, {})", list.bind(after.id))
            }
        };
        list.push(&format!(" and {key} < {position}"));
    }
    let limit = list.bind(query.limit + 1);
    list.push(&format!(" order by {order} limit {limit}"));
    list
}

/// Runs a [`list_statement`]: the page, with steps if the query asks.
pub(super) async fn list(
    conn: &mut impl Conn,
    query: &ListQuery,
    terms: Option<&str>,
) -> Result<Page<Session>, StoreError> {
    let statement = list_statement(Dialect::of(conn), query, terms);
    let mut items = conn.all(&statement, session).await?;
    let next = page_cursor(&mut items, query.limit);
    if query.with_steps {
        load_steps(conn, &mut items).await?;
    }
    Ok(Page { items, next })
}

/// Trims the one extra row fetched to learn whether another page follows,
/// and returns the cursor of the next page.
fn page_cursor(items: &mut Vec<Session>, limit: u32) -> Option<Cursor> {
    if items.len() <= limit as usize {
        return None;
    }
    items.truncate(limit as usize);
    items.last().map(|s| Cursor {
        created_at: s.created_at,
        id: s.id,
    })
}

/// A plan's steps, in one statement.
async fn insert_steps(
    conn: &mut impl Conn,
    session_id: Uuid,
    steps: &[Step],
) -> Result<(), StoreError> {
    if steps.is_empty() {
        return Ok(());
    }
    let mut insert =
        Statement::new("insert into session_steps (session_id, id, position, text) values ");
    let session = insert.bind(session_id);
    for (i, step) in steps.iter().enumerate() {
        let id = insert.bind(step.id);
        let position = insert.bind(Value::Int(Some(step.position.into())));
        let text = insert.bind(step.text.as_str());
        let comma = if i == 0 { "" } else { ", " };
        insert.push(&format!("{comma}({session}, {id}, {position}, {text})"));
    }
    conn.execute(&insert).await?;
    Ok(())
}

/// A new session with its steps, its `created` event and its webhook
/// deliveries.
pub(super) async fn insert(
    conn: &mut impl Conn,
    session: &Session,
    event: &Event,
) -> Result<(), StoreError> {
    conn.execute(&insert_session(session)).await?;
    insert_steps(conn, session.id, &session.steps).await?;
    super::webhooks::record_event(conn, event, session).await
}

/// The change `event` records, if the session meets its requirement, with
/// the event (at the change's effective time) and its webhook deliveries;
/// the session as it now is. The caller's transaction is undone on an error.
pub(super) async fn apply(conn: &mut impl Conn, event: &Event) -> Result<Session, StoreError> {
    let id = event.session_id;
    let write = Write::of(event)?;
    let dialect = Dialect::of(conn);
    let update = write.session_update(dialect.after_previous());
    let steps_came_along = dialect == Dialect::Postgres && !write.touches_steps();
    let updated = if steps_came_along {
        updated_with_steps(conn, update, "").await?
    } else {
        conn.first(&update, session).await?
    };
    let Some(session) = updated else {
        // Re-read in the same transaction, so the conflict names the state
        // that refused the change.
        return Err(explain_miss(load(conn, id).await?));
    };
    let at = session.updated_at;
    if let Some(step) = write.step(at)
        && conn.execute(&step).await? == 0
    {
        return Err(StoreError::StepNotFound);
    }
    if let Some(plan) = &write.plan {
        conn.execute(&delete_steps(id)).await?;
        insert_steps(conn, id, plan).await?;
    }
    let mut one = [session];
    if !steps_came_along {
        load_steps(conn, &mut one).await?;
    }
    let [session] = one;
    let event = Event {
        at,
        ..event.clone()
    };
    super::webhooks::record_event(conn, &event, &session).await?;
    Ok(session)
}

/// PostgreSQL: a write that changes no step, with its event, in one
/// statement (autocommitted: no `BEGIN` and `COMMIT` round trips), when no
/// webhook wants the event (the deliveries carry the session as Casebook
/// writes it, which only exists after the update). The session with its
/// steps, or none when that did not apply: another engine, a write on
/// steps, a subscribed webhook, or a session that does not meet the
/// write's requirement. Then the caller runs [`apply`] in a transaction,
/// which also explains a refusal. SQLite allows no insert inside `with`,
/// and its statements cost no round trip.
pub(super) async fn apply_in_one_statement(
    conn: &mut impl Conn,
    event: &Event,
) -> Result<Option<Session>, StoreError> {
    let write = Write::of(event)?;
    if Dialect::of(conn) != Dialect::Postgres || write.touches_steps() {
        return Ok(None);
    }
    let kind = format!("?{}", write.next_placeholder());
    let unwanted = format!(
        "not exists (select 1 from webhooks where active \
         and (events is null or {kind} = any(events)))"
    );
    let mut update = write.session_update_if(Dialect::Postgres.after_previous(), &unwanted);
    let data = serde_json::to_string(&event.kind).expect("events serialize");
    update.bind(event.kind.name());
    let (id, actor, via) = (
        update.bind(event.id),
        update.bind(event.actor.as_str()),
        update.bind(event.via.as_str()),
    );
    let data_placeholder = update.bind(Value::Json(&data));
    let record = format!(
        "insert into session_events (id, session_id, at, actor, kind, via, data) \
         select {id}, s.id, s.updated_at, {actor}, {kind}, {via}, {data_placeholder} from s"
    );
    updated_with_steps(conn, update, &record).await
}

/// PostgreSQL: runs `update` in `with s as (…)`, beside `also` (another
/// data-modifying statement over `s`, or nothing), and reads the updated
/// session with its steps in the same statement, one row per step (one
/// without a step when there are none): a round trip fewer per write than
/// reading them after it. SQLite allows no update inside `with`, and its
/// reads cost no round trip.
async fn updated_with_steps(
    conn: &mut impl Conn,
    update: Statement<'_>,
    also: &str,
) -> Result<Option<Session>, StoreError> {
    static STEPS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let steps = STEPS.get_or_init(|| {
        let steps: Vec<String> = STEP_COLUMNS
            .split(", ")
            .map(|c| format!("st.{c}"))
            .collect();
        steps.join(", ")
    });
    let also = if also.is_empty() {
        String::new()
    } else {
        format!(", also as ({also})")
    };
    let with_steps = Statement {
        sql: format!(
            "with s as ({}){also} select s.*, {steps} from s \
             left join session_steps st on st.session_id = s.id order by st.position",
            update.sql
        )
        .into(),
        ..update
    };
    let rows = conn.all(&with_steps, session_and_step).await?;
    let mut rows = rows.into_iter();
    let Some((mut session, first)) = rows.next() else {
        return Ok(None);
    };
    session.steps = first
        .into_iter()
        .chain(rows.filter_map(|(_, step)| step))
        .collect();
    Ok(Some(session))
}

/// How many columns [`SESSION_COLUMNS`] has.
const SESSION_WIDTH: usize = 14;

/// A row of [`updated_with_steps`]: the session, and a step if any.
fn session_and_step(row: &dyn Columns) -> Result<(Session, Option<Step>), StoreError> {
    let steps = Shifted(row, SESSION_WIDTH);
    let step = match steps.optional_id(1)? {
        Some(_) => Some(step(&steps)?.1),
        None => None,
    };
    Ok((session(row)?, step))
}

/// Deletes a prepared session in one conditional write; a started one is
/// left alone (`WrongStatus`).
pub(super) async fn delete_prepared(conn: &mut impl Conn, id: Uuid) -> Result<(), StoreError> {
    if conn.execute(&delete_prepared_statement(id)).await? == 0 {
        return Err(explain_miss(load(conn, id).await?));
    }
    Ok(())
}

/// After a conditional write changed nothing: missing, or in another status.
fn explain_miss(current: Option<Session>) -> StoreError {
    match current {
        None => StoreError::NotFound,
        Some(session) => StoreError::WrongStatus(Box::new(session)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_of_the_update_with_its_steps_starts_with_the_sessions_columns() {
        assert_eq!(SESSION_COLUMNS.split(',').count(), SESSION_WIDTH);
        assert!(
            STEP_COLUMNS.starts_with("session_id, id,"),
            "step id is column 1"
        );
    }
}
