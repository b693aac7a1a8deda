//! The embedded default: one SQLite file in WAL mode, a single writer
//! connection (SQLite serializes writers anyway) and a pool of readers
//! (see `database`).

mod database;
mod engine;
mod group_commit;
pub mod migrate;
mod search;
mod search_queue;
mod wal;

use std::path::PathBuf;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, TransactionBehavior};
use uuid::Uuid;

use super::engine::Dialect;
use super::sessions;
use super::{PoolUsage, SessionStore, StoreError, WalUsage};
use crate::domain::{Event, ListQuery, Page, Session, Status};
use database::Database;
pub use database::STATEMENT_LOG;
use engine::{SqliteConn, at_once};

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

#[async_trait]
impl SessionStore for SqliteStore {
    async fn insert(&self, session: &Session, event: &Event) -> Result<(), StoreError> {
        self.db
            .write_in_group(|tx| at_once(sessions::insert(&mut SqliteConn(tx), session, event)))
            .await
    }

    async fn get(&self, id: Uuid) -> Result<Option<Session>, StoreError> {
        self.db
            .quick_read(|conn| at_once(sessions::load(&mut SqliteConn(conn), id)))
            .await
    }

    async fn list(&self, query: &ListQuery) -> Result<Page<Session>, StoreError> {
        // With no search and at most one filter the page walks one index in
        // its order (newest first, the filter's partial or leading-column
        // index) and reads only its own rows: a quick read. A search or two
        // filters together may read many rows to fill a page.
        let filters = [
            query.status.is_some(),
            query.outcome.is_some(),
            query.owner.is_some(),
        ];
        let terms = sessions::search_terms(Dialect::Sqlite, query);
        if terms.is_some() {
            self.db.index_queued().await?;
        }
        if terms.is_none() && filters.iter().filter(|&&f| f).count() <= 1 {
            let page =
                |conn: &Connection| at_once(sessions::list(&mut SqliteConn(conn), query, None));
            self.db.quick_read(page).await
        } else {
            let query = query.clone();
            let page = move |conn: &Connection| {
                let mut conn = SqliteConn(conn);
                at_once(sessions::list(&mut conn, &query, terms.as_deref()))
            };
            self.db.read(page).await
        }
    }

    async fn load_steps(&self, sessions: &mut [Session]) -> Result<(), StoreError> {
        // At most a page of sessions, each read by its key: a quick read.
        self.db
            .quick_read(|conn| at_once(sessions::load_steps(&mut SqliteConn(conn), sessions)))
            .await
    }

    async fn events(&self, id: Uuid) -> Result<Vec<Event>, StoreError> {
        super::sessions::events(self, id).await
    }

    async fn apply(&self, event: &Event) -> Result<Session, StoreError> {
        self.db
            .write_in_group(|tx| at_once(sessions::apply(&mut SqliteConn(tx), event)))
            .await
    }

    async fn delete_prepared(&self, id: Uuid) -> Result<(), StoreError> {
        self.db
            .write(|conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                at_once(sessions::delete_prepared(&mut SqliteConn(&tx), id))?;
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
        let list = sessions::list_statement(Dialect::Sqlite, query, None);
        conn.prepare(&format!("explain query plan {}", list.sql))
            .unwrap()
            .query_map(rusqlite::params_from_iter(&list.args), |row| row.get(3))
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
