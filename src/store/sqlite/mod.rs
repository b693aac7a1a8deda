//! The embedded default: one SQLite file in WAL mode, a single writer
//! connection (SQLite serializes writers anyway) and a pool of readers
//! (see `database`).

mod database;
mod engine;
mod group_commit;
pub mod migrate;
mod reports;
mod search;
mod search_queue;
mod wal;

use std::path::PathBuf;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::{Connection, TransactionBehavior, params_from_iter};
use uuid::Uuid;

use super::sessions::{self, SESSION_COLUMNS, STEP_COLUMNS, session, step};
use super::writes::Write;
use super::{
    PoolUsage, SessionStore, StoreError, WalUsage, attach_steps, explain_miss, page_cursor,
    status_condition,
};
use crate::domain::{Event, ListQuery, Page, Session, Status, Step};
use database::Database;
pub use database::STATEMENT_LOG;

pub struct SqliteStore {
    // Every store trait runs on these connections (see store::engine).
    pub(in crate::store) db: std::sync::Arc<Database>,
}

/// How the SQLite store runs; the defaults are the server's.
#[derive(Debug, Clone, Copy)]
pub struct SqliteOptions {
    /// The WAL is kept at or below this many bytes under sustained writes.
    pub wal_max_bytes: u64,
}

impl SqliteOptions {
    pub const DEFAULT_WAL_MAX_MB: u64 = 64;
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            wal_max_bytes: Self::DEFAULT_WAL_MAX_MB * 1024 * 1024,
        }
    }
}

impl SqliteStore {
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        Self::connect_with(url, SqliteOptions::default()).await
    }

    pub async fn connect_with(url: &str, options: SqliteOptions) -> anyhow::Result<Self> {
        let SqliteOptions { wal_max_bytes } = options;
        let path = file_of(url)?;
        without_memory_statistics();
        let db = tokio::task::spawn_blocking(move || {
            // The schema first, on a connection of its own that also creates
            // the file and turns WAL on.
            migrate::open_and_migrate(&path).map_err(|e| {
                anyhow::Error::new(e).context(format!(
                    "cannot bring the SQLite database {} up to date",
                    path.display()
                ))
            })?;
            anyhow::Ok(Database::open(&path, wal_max_bytes)?)
        })
        .await??;
        let db = std::sync::Arc::new(db);
        db.start_tasks();
        Ok(Self { db })
    }
}

/// The file a `sqlite:` database URL names: `sqlite:///var/lib/casebook.db`,
/// `sqlite://relative.db` or `sqlite:relative.db`, percent-encoded as sqlx
/// read it. `mode=rwc` and `mode=rw` are accepted (the file is created when
/// missing either way); other parameters and in-memory databases are refused.
pub fn file_of(url: &str) -> anyhow::Result<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| anyhow::anyhow!("{url:?} is not a sqlite: URL"))?;
    let (file, parameters) = rest.split_once('?').unwrap_or((rest, ""));
    for (key, value) in url::form_urlencoded::parse(parameters.as_bytes()) {
        anyhow::ensure!(
            key == "mode" && (value == "rwc" || value == "rw"),
            "the SQLite URL parameter {key}={value} is not supported: name the file only, \
             e.g. sqlite:///var/lib/casebook/casebook.db"
        );
    }
    let file = percent_encoding::percent_decode_str(file)
        .decode_utf8()
        .map_err(|_| anyhow::anyhow!("the SQLite URL {url:?} is not UTF-8 once decoded"))?;
    anyhow::ensure!(
        !file.is_empty() && file != ":memory:",
        "the SQLite URL {url:?} names no file (an in-memory database would be lost at exit): \
         use e.g. sqlite:///var/lib/casebook/casebook.db"
    );
    Ok(PathBuf::from(file.into_owned()))
}

/// SQLite keeps allocation statistics by default, behind one process-wide
/// mutex that every allocation and free takes. Readers copy each value of
/// each row, so under load that mutex was the hottest lock in the server.
/// Casebook never reads the statistics.
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

/// What migration 0011's triggers say when a session would name an owner
/// without an account.
pub(in crate::store) const OWNER_IS_NOT_AN_ACCOUNT: &str = "sessions.owner is not an account";

pub(in crate::store) fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

pub(in crate::store) fn time(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

/// Fills in the steps of `sessions` (in position order) with one statement.
fn attach_steps_of(conn: &Connection, sessions: &mut [Session]) -> Result<(), StoreError> {
    if sessions.is_empty() {
        return Ok(());
    }
    let placeholders = vec!["?"; sessions.len()].join(", ");
    let sql = format!(
        "select {STEP_COLUMNS} from session_steps \
         where session_id in ({placeholders}) order by session_id, position"
    );
    let mut prepared = conn.prepare_cached(&sql)?;
    let ids = params_from_iter(sessions.iter().map(|s| s.id));
    let steps = engine::all(prepared.query(ids)?, step)?;
    attach_steps(sessions, steps);
    Ok(())
}

/// The session with `id`, with its steps.
fn load_sql() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| format!("select {SESSION_COLUMNS} from sessions s where s.id = ?"))
}

fn load(conn: &Connection, id: Uuid) -> Result<Option<Session>, StoreError> {
    let mut prepared = conn.prepare_cached(load_sql())?;
    let Some(session) = engine::all(prepared.query([id])?, session)?.pop() else {
        return Ok(None);
    };
    let mut one = [session];
    attach_steps_of(conn, &mut one)?;
    let [session] = one;
    Ok(Some(session))
}

fn insert_steps(conn: &Connection, session_id: Uuid, steps: &[Step]) -> Result<(), StoreError> {
    let mut insert = conn.prepare_cached(
        "insert into session_steps (id, session_id, position, text) values (?, ?, ?, ?)",
    )?;
    for step in steps {
        insert.execute(rusqlite::params![
            step.id,
            session_id,
            step.position,
            step.text
        ])?;
    }
    Ok(())
}

fn insert_event(conn: &Connection, event: &Event) -> Result<(), StoreError> {
    let data = serde_json::to_string(&event.kind).expect("events serialize");
    conn.prepare_cached(
        "insert into session_events (id, session_id, at, actor, kind, via, data) \
         values (?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(rusqlite::params![
        event.id,
        event.session_id,
        micros(event.at),
        event.actor,
        event.kind.name(),
        event.via.as_str(),
        data,
    ])?;
    Ok(())
}

/// The statement and parameters of a list query.
fn list_statement(query: &ListQuery) -> (String, Vec<Value>) {
    // A search walks the full-text index newest first (rowid desc) and
    // stops at the page's end instead of collecting every match.
    // The same position, named so SQLite sees the order it can stream.
    let key = if query.search.is_some() {
        "f.rowid"
    } else {
        "s.seq"
    };
    let mut params = Vec::new();
    let mut sql = String::from("select ");
    sql.push_str(SESSION_COLUMNS);
    match &query.search {
        Some(search) => {
            let terms: Vec<String> = search.terms().iter().map(|t| format!("\"{t}\"*")).collect();
            sql.push_str(
                " from sessions_fts f join sessions s on s.seq = f.rowid \
                 where sessions_fts match ?",
            );
            params.push(Value::Text(terms.join(" ")));
        }
        None => sql.push_str(" from sessions s where true"),
    }
    if let Some(status) = query.status {
        sql.push_str(" and ");
        sql.push_str(status_condition(status));
    }
    if let Some(outcome) = query.outcome {
        sql.push_str(" and s.outcome = ?");
        params.push(Value::Text(outcome.as_str().to_owned()));
    }
    if let Some(owner) = &query.owner {
        sql.push_str(" and s.owner = ?");
        params.push(Value::Text(owner.clone()));
    }
    if let Some(after) = query.after {
        sql.push_str(&format!(
            " and {key} < (select seq from sessions where id = ?)"
        ));
        params.push(Value::Blob(after.id.as_bytes().to_vec()));
    }
    sql.push_str(&format!(" order by {key} desc limit ?"));
    params.push(Value::Integer(i64::from(query.limit) + 1));
    (sql, params)
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn insert(&self, session: &Session, event: &Event) -> Result<(), StoreError> {
        self.db
            .write_in_group(|tx| {
                engine::execute(tx, &sessions::insert_session(session))?;
                insert_steps(tx, session.id, &session.steps)?;
                insert_event(tx, event)?;
                super::webhooks::sqlite_enqueue(tx, event, session)
            })
            .await
    }

    async fn get(&self, id: Uuid) -> Result<Option<Session>, StoreError> {
        self.db.quick_read(|conn| load(conn, id)).await
    }

    async fn list(&self, query: &ListQuery) -> Result<Page<Session>, StoreError> {
        let (sql, params) = list_statement(query);
        let (limit, with_steps) = (query.limit, query.with_steps);
        let page = move |conn: &Connection| {
            let mut prepared = conn.prepare_cached(&sql)?;
            let mut items = engine::all(prepared.query(params_from_iter(params))?, session)?;
            let next = page_cursor(&mut items, limit);
            if with_steps {
                attach_steps_of(conn, &mut items)?;
            }
            Ok(Page { items, next })
        };
        // With no search and at most one filter the page walks one index in
        // its order (newest first, the filter's partial or leading-column
        // index) and reads only its own rows: a quick read. A search or two
        // filters together may read many rows to fill a page.
        let filters = [
            query.status.is_some(),
            query.outcome.is_some(),
            query.owner.is_some(),
        ];
        if query.search.is_some() {
            self.db.index_queued().await?;
        }
        if query.search.is_none() && filters.iter().filter(|&&f| f).count() <= 1 {
            self.db.quick_read(page).await
        } else {
            self.db.read(page).await
        }
    }

    async fn load_steps(&self, sessions: &mut [Session]) -> Result<(), StoreError> {
        // At most a page of sessions, each read by its key: a quick read.
        self.db
            .quick_read(|conn| attach_steps_of(conn, sessions))
            .await
    }

    async fn events(&self, id: Uuid) -> Result<Vec<Event>, StoreError> {
        super::sessions::events(self, id).await
    }

    async fn apply(&self, event: &Event) -> Result<Session, StoreError> {
        let id = event.session_id;
        let write = Write::of(event)?;
        // See the module docs of `store`: never earlier than the previous change.
        let update = write.session_update("max(?1, updated_at + 1)");
        self.db
            .write_in_group(|tx| {
                let Some(session) = engine::first(tx, &update, session)? else {
                    return Err(explain_miss(load(tx, id)?));
                };
                let at = session.updated_at;
                if let Some(step) = write.step(at)
                    && engine::execute(tx, &step)? == 0
                {
                    return Err(StoreError::StepNotFound);
                }
                if let Some(plan) = &write.plan {
                    engine::execute(tx, &sessions::delete_steps(id))?;
                    insert_steps(tx, id, plan)?;
                }
                let event = Event {
                    at,
                    ..event.clone()
                };
                insert_event(tx, &event)?;
                let mut one = [session];
                attach_steps_of(tx, &mut one)?;
                let [session] = one;
                super::webhooks::sqlite_enqueue(tx, &event, &session)?;
                Ok(session)
            })
            .await
    }

    async fn delete_prepared(&self, id: Uuid) -> Result<(), StoreError> {
        self.db
            .write(|conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                if engine::execute(&tx, &sessions::delete_prepared(id))? == 0 {
                    return Err(explain_miss(load(&tx, id)?));
                }
                tx.commit()?;
                Ok(())
            })
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        super::sessions::ping(self).await
    }

    async fn count_by_status(&self) -> Result<Vec<(Status, u64)>, StoreError> {
        super::sessions::count_by_status(self).await
    }

    async fn idle_active(
        &self,
        idle_since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Uuid>, StoreError> {
        super::sessions::idle_active(self, idle_since, limit).await
    }

    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        super::sessions::try_lease(self, name, holder, now, until).await
    }

    fn pool_usage(&self) -> Vec<PoolUsage> {
        self.db.usage()
    }

    fn wal_usage(&self) -> Option<WalUsage> {
        Some(self.db.wal_usage())
    }

    async fn close(&self) {
        self.db.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Cursor, Outcome};

    fn schema() -> Connection {
        crate::store::sqlite::migrate::in_memory()
    }

    #[test]
    fn a_sqlite_url_names_its_file_as_sqlx_read_it_and_anything_else_is_refused() {
        let file = |url: &str| file_of(url).map(|p| p.display().to_string());
        assert_eq!(file("sqlite:///var/lib/cb.db").unwrap(), "/var/lib/cb.db");
        assert_eq!(file("sqlite://data/cb.db").unwrap(), "data/cb.db");
        assert_eq!(file("sqlite:cb.db?mode=rwc").unwrap(), "cb.db");
        assert_eq!(file("sqlite:///tmp/a%20b%3F.db").unwrap(), "/tmp/a b?.db");
        for refused in [
            "sqlite::memory:",
            "sqlite://",
            "sqlite:cb.db?mode=ro",
            "sqlite:cb.db?cache=shared",
            "postgres://db/cb",
        ] {
            assert!(file(refused).is_err(), "{refused}");
        }
    }

    fn plan(conn: &Connection, query: &ListQuery) -> Vec<String> {
        let (sql, params) = list_statement(query);
        conn.prepare(&format!("explain query plan {sql}"))
            .unwrap()
            .query_map(params_from_iter(params), |row| row.get(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// A page read on the runtime's thread must only read its own rows: it
    /// walks one index in the page's order (no sort of all matches) and that
    /// index is the filter's own.
    #[test]
    fn a_page_with_at_most_one_filter_walks_the_filters_index_in_order() {
        let conn = schema();
        let plain = ListQuery {
            status: None,
            outcome: None,
            owner: None,
            search: None,
            after: None,
            limit: 25,
            with_steps: true,
        };
        let deep = ListQuery {
            after: Some(Cursor {
                created_at: Utc::now(),
                id: Uuid::now_v7(),
            }),
            ..plain.clone()
        };
        let cases = [
            (plain.clone(), "SCAN s"),
            (deep.clone(), "SEARCH s USING INTEGER PRIMARY KEY (rowid<?)"),
            (
                ListQuery {
                    status: Some(Status::Prepared),
                    ..deep.clone()
                },
                "INDEX sessions_prepared",
            ),
            (
                ListQuery {
                    status: Some(Status::Active),
                    ..plain.clone()
                },
                "INDEX sessions_active",
            ),
            (
                ListQuery {
                    status: Some(Status::Completed),
                    ..plain.clone()
                },
                "INDEX sessions_completed",
            ),
            (
                ListQuery {
                    outcome: Some(Outcome::Escalated),
                    ..deep.clone()
                },
                "INDEX sessions_by_outcome (outcome=?",
            ),
            (
                ListQuery {
                    owner: Some("ada".into()),
                    ..plain.clone()
                },
                "INDEX sessions_by_owner (owner=?",
            ),
        ];
        for (query, walk) in cases {
            let plan = plan(&conn, &query);
            assert!(plan[0].contains(walk), "{query:?}: {plan:?}");
            assert!(
                !plan
                    .iter()
                    .any(|step| step == "USE TEMP B-TREE FOR ORDER BY"),
                "{query:?} sorts: {plan:?}"
            );
        }
    }
}
