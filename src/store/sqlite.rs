//! The embedded default: one SQLite file in WAL mode, a single writer
//! connection (SQLite serializes writers anyway) and a pool of readers.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};
use uuid::Uuid;

use super::{
    COUNT_BY_STATUS, PoolUsage, SessionStore, StoreError, assignments, explain_miss, page_cursor,
    status_condition, status_counts,
};
use crate::domain::{
    Change, Event, EventKind, ListQuery, Outcome, Page, Session, Status, Step, Surface,
};

pub struct SqliteStore {
    // Shared with the account store (store::accounts), one pool for both traits.
    pub(super) writer: SqlitePool,
    pub(super) readers: SqlitePool,
}

const READERS: u32 = 4;

impl SqliteStore {
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        without_memory_statistics();
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        // A connection to a local file does not go stale: no ping (a round
        // trip to the connection's worker thread) before every use.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&writer).await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(READERS)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.read_only(true))
            .await?;
        Ok(Self { writer, readers })
    }
}

/// SQLite keeps allocation statistics by default, behind one process-wide
/// mutex that every allocation and free takes. Readers copy each value of
/// each row (and free it on the async side), so under load that mutex was
/// the hottest lock in the server. Casebook never reads the statistics.
fn without_memory_statistics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: sqlite3_config may only run before the library initializes
        // (the first connection does that) and not concurrently with other
        // SQLite calls. Every connection Casebook opens is opened after this
        // runs once (Once blocks concurrent callers until it returns). If the
        // library is already initialized, SQLite refuses with SQLITE_MISUSE
        // and changes nothing, which is harmless: statistics stay on.
        unsafe {
            libsqlite3_sys::sqlite3_config(libsqlite3_sys::SQLITE_CONFIG_MEMSTATUS, 0);
        }
    });
}

fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

fn time(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    id: Uuid,
    title: String,
    problem: String,
    reference: Option<String>,
    customer: Option<String>,
    owner: String,
    created_at: i64,
    updated_at: i64,
    started_at: Option<i64>,
    completed_at: Option<i64>,
    completed_by: Option<String>,
    outcome: Option<String>,
    outcome_notes: Option<String>,
    summary: Option<String>,
    /// The steps in position order, as a JSON array of
    /// `[hex id, position, text, checked_at, finding]` (see `STEPS_OF_S`).
    steps: String,
}

/// A session's columns and its steps, for queries over `sessions s`. The
/// steps come in the same row: one statement per read instead of a second
/// query for the steps, and one value per session instead of a row (with a
/// copy of each of its values) per step.
const SESSION_COLUMNS_OF_S: &str = "s.id, s.title, s.problem, s.reference, s.customer, s.owner, \
     s.created_at, s.updated_at, s.started_at, s.completed_at, s.completed_by, s.outcome, \
     s.outcome_notes, s.summary, \
     (select json_group_array(json_array(hex(t.id), t.position, t.text, t.checked_at, t.finding) \
     order by t.position) from session_steps t where t.session_id = s.id) as steps";

/// The same columns without the steps, for lists that do not show them.
const SESSION_COLUMNS_OF_S_WITHOUT_STEPS: &str = "s.id, s.title, s.problem, s.reference, \
     s.customer, s.owner, s.created_at, s.updated_at, s.started_at, s.completed_at, \
     s.completed_by, s.outcome, s.outcome_notes, s.summary, '[]' as steps";

/// One element of `SessionRow::steps`.
type StepJson<'a> = (&'a str, u32, String, Option<i64>, Option<String>);

fn decode_steps(json: &str) -> Result<Vec<Step>, StoreError> {
    let bad =
        |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Database(sqlx::Error::Decode(e));
    let steps: Vec<StepJson<'_>> = serde_json::from_str(json).map_err(|e| bad(e.into()))?;
    steps
        .into_iter()
        .map(|(id, position, text, checked_at, finding)| {
            Ok(Step {
                id: Uuid::try_parse(id).map_err(|e| bad(e.into()))?,
                position,
                text,
                checked_at: checked_at.map(time),
                finding,
            })
        })
        .collect()
}

impl TryFrom<SessionRow> for Session {
    type Error = StoreError;

    fn try_from(row: SessionRow) -> Result<Self, StoreError> {
        let steps = decode_steps(&row.steps)?;
        Ok(Session {
            id: row.id,
            title: row.title,
            problem: row.problem,
            reference: row.reference,
            customer: row.customer,
            owner: row.owner,
            created_at: time(row.created_at),
            updated_at: time(row.updated_at),
            started_at: row.started_at.map(time),
            completed_at: row.completed_at.map(time),
            completed_by: row.completed_by,
            // The CHECK constraint guarantees a known value.
            outcome: row.outcome.as_deref().and_then(Outcome::parse),
            outcome_notes: row.outcome_notes,
            summary: row.summary,
            steps,
        })
    }
}

#[derive(sqlx::FromRow)]
struct EventRow {
    id: Uuid,
    session_id: Uuid,
    at: i64,
    actor: String,
    via: String,
    data: String,
}

impl TryFrom<EventRow> for Event {
    type Error = StoreError;

    fn try_from(row: EventRow) -> Result<Self, StoreError> {
        let kind: EventKind = serde_json::from_str(&row.data)
            .map_err(|e| StoreError::Database(sqlx::Error::Decode(e.into())))?;
        Ok(Event {
            id: row.id,
            session_id: row.session_id,
            at: time(row.at),
            actor: row.actor,
            via: Surface::parse(&row.via).unwrap_or(Surface::Api),
            kind,
        })
    }
}

/// The session with `id`, with its steps.
fn load_sql() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| format!("select {SESSION_COLUMNS_OF_S} from sessions s where s.id = ?"))
}

async fn load(conn: &mut SqliteConnection, id: Uuid) -> Result<Option<Session>, StoreError> {
    sqlx::query_as::<_, SessionRow>(load_sql())
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .map(Session::try_from)
        .transpose()
}

async fn insert_event(conn: &mut SqliteConnection, event: &Event) -> Result<(), StoreError> {
    let data = serde_json::to_string(&event.kind).expect("events serialize");
    sqlx::query(
        "insert into session_events (id, session_id, at, actor, kind, via, data) \
         values (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(event.id)
    .bind(event.session_id)
    .bind(micros(event.at))
    .bind(&event.actor)
    .bind(event.kind.name())
    .bind(event.via.as_str())
    .bind(data)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn insert(&self, session: &Session, event: &Event) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "insert into sessions (id, title, problem, reference, customer, owner, \
             created_at, updated_at, started_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(session.id)
        .bind(&session.title)
        .bind(&session.problem)
        .bind(&session.reference)
        .bind(&session.customer)
        .bind(&session.owner)
        .bind(micros(session.created_at))
        .bind(micros(session.updated_at))
        .bind(session.started_at.map(micros))
        .execute(&mut *tx)
        .await?;
        for step in &session.steps {
            sqlx::query(
                "insert into session_steps (id, session_id, position, text) values (?, ?, ?, ?)",
            )
            .bind(step.id)
            .bind(session.id)
            .bind(step.position as i64)
            .bind(&step.text)
            .execute(&mut *tx)
            .await?;
        }
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get(&self, id: Uuid) -> Result<Option<Session>, StoreError> {
        let mut conn = self.readers.acquire().await?;
        load(&mut conn, id).await
    }

    async fn list(&self, query: &ListQuery) -> Result<Page<Session>, StoreError> {
        // A search walks the full-text index newest first (rowid desc) and
        // stops at the page's end instead of collecting every match.
        // The same position, named so SQLite sees the order it can stream.
        let key = if query.search.is_some() {
            "f.rowid"
        } else {
            "s.seq"
        };
        let mut sql = QueryBuilder::<Sqlite>::new("select ");
        sql.push(if query.with_steps {
            SESSION_COLUMNS_OF_S
        } else {
            SESSION_COLUMNS_OF_S_WITHOUT_STEPS
        });
        match &query.search {
            Some(search) => {
                let terms: Vec<String> =
                    search.terms().iter().map(|t| format!("\"{t}\"*")).collect();
                sql.push(
                    " from sessions_fts f join sessions s on s.seq = f.rowid \
                     where sessions_fts match ",
                )
                .push_bind(terms.join(" "));
            }
            None => {
                sql.push(" from sessions s where true");
            }
        }
        if let Some(status) = query.status {
            sql.push(" and ").push(status_condition(status));
        }
        if let Some(outcome) = query.outcome {
            sql.push(" and s.outcome = ").push_bind(outcome.as_str());
        }
        if let Some(owner) = &query.owner {
            sql.push(" and s.owner = ").push_bind(owner.clone());
        }
        if let Some(after) = query.after {
            sql.push(format!(
                " and {key} < (select seq from sessions where id = "
            ))
            .push_bind(after.id)
            .push(")");
        }
        sql.push(format!(" order by {key} desc limit "))
            .push_bind(i64::from(query.limit) + 1);

        let rows: Vec<SessionRow> = sql.build_query_as().fetch_all(&self.readers).await?;
        let mut items = rows
            .into_iter()
            .map(Session::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        let next = page_cursor(&mut items, query.limit);
        Ok(Page { items, next })
    }

    async fn events(&self, id: Uuid) -> Result<Vec<Event>, StoreError> {
        let rows: Vec<EventRow> = sqlx::query_as(
            "select id, session_id, at, actor, via, data from session_events \
             where session_id = ? order by at, id",
        )
        .bind(id)
        .fetch_all(&self.readers)
        .await?;
        rows.into_iter().map(Event::try_from).collect()
    }

    async fn apply(&self, id: Uuid, change: &Change, event: &Event) -> Result<Session, StoreError> {
        let at = micros(event.at);
        let guard = status_condition(change.required_status());
        // See the module docs of `store`: never earlier than the previous change.
        let sql = format!(
            "update sessions set {} where id = ?2 and {guard} returning updated_at",
            assignments(change).replace("?1", "max(?1, updated_at + 1)")
        );
        let mut update = sqlx::query(&sql).bind(at).bind(id);
        if let Change::Complete { outcome, notes, by } = change {
            update = update
                .bind(outcome.as_str())
                .bind(notes.as_deref())
                .bind(by.as_str());
        }
        if let Change::SetSummary { text } = change {
            update = update.bind(text.as_str());
        }
        let mut tx = self.writer.begin().await?;
        let Some(row) = update.fetch_optional(&mut *tx).await? else {
            tx.rollback().await?;
            let current = load(&mut *self.writer.acquire().await?, id).await?;
            return Err(explain_miss(current));
        };
        let at: i64 = row.try_get("updated_at")?;
        let event = &Event {
            at: time(at),
            ..event.clone()
        };
        let step_update = match change {
            Change::CheckStep { step_id, finding } => Some(
                sqlx::query(
                    "update session_steps set checked_at = ?1, finding = ?2 \
                     where id = ?3 and session_id = ?4",
                )
                .bind(at)
                .bind(finding.as_deref())
                .bind(*step_id)
                .bind(id),
            ),
            Change::UncheckStep { step_id } => Some(
                sqlx::query(
                    "update session_steps set checked_at = null, finding = null \
                     where id = ?1 and session_id = ?2",
                )
                .bind(*step_id)
                .bind(id),
            ),
            _ => None,
        };
        if let Some(step_update) = step_update {
            if step_update.execute(&mut *tx).await?.rows_affected() == 0 {
                tx.rollback().await?;
                return Err(StoreError::StepNotFound);
            }
        }
        insert_event(&mut tx, event).await?;
        let session = load(&mut tx, id).await?.ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(session)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("select 1").execute(&self.readers).await?;
        Ok(())
    }

    async fn count_by_status(&self) -> Result<Vec<(Status, u64)>, StoreError> {
        let (prepared, active, completed): (i64, i64, i64) = sqlx::query_as(COUNT_BY_STATUS)
            .fetch_one(&self.readers)
            .await?;
        Ok(status_counts(prepared, active, completed))
    }

    async fn idle_active(
        &self,
        idle_since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Uuid>, StoreError> {
        let ids = sqlx::query_scalar(
            "select id from sessions where started_at is not null and completed_at is null \
             and updated_at < ? order by updated_at limit ?",
        )
        .bind(micros(idle_since))
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await?;
        Ok(ids)
    }

    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let taken = sqlx::query(
            "insert into leases (name, holder, expires_at) values (?1, ?2, ?3) \
             on conflict (name) do update set holder = excluded.holder, \
             expires_at = excluded.expires_at \
             where leases.holder = excluded.holder or leases.expires_at <= ?4",
        )
        .bind(name)
        .bind(holder)
        .bind(micros(until))
        .bind(micros(now))
        .execute(&self.writer)
        .await?
        .rows_affected();
        Ok(taken == 1)
    }

    fn pool_usage(&self) -> Vec<PoolUsage> {
        [
            ("sqlite_writer", &self.writer),
            ("sqlite_readers", &self.readers),
        ]
        .into_iter()
        .map(|(pool, p)| PoolUsage {
            pool,
            size: p.size(),
            idle: p.num_idle(),
        })
        .collect()
    }

    async fn close(&self) {
        self.readers.close().await;
        self.writer.close().await;
    }
}
