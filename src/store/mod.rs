//! Persistence of sessions, their steps and their timelines.
//!
//! Every state change is one conditional write (`UPDATE … WHERE id = ? AND
//! <required status>`) in the same transaction as its timeline event, so
//! concurrent writers get exactly one winner. When the write changes no row,
//! a re-read tells the caller whether the session is missing or in which
//! status it is.
//!
//! A change takes effect at its event's time, but never earlier than one
//! microsecond after the session's previous change: event times come from
//! the clock of the process that handled the request, read before the write
//! waited for its turn, so the change that committed second could carry the
//! earlier time, and the timeline (ordered by time) would disagree with the
//! stored state. The conditional write computes the effective time from the
//! row it locks and returns it; the event is stored with that time.

mod accounts;
mod changes;
mod engine;
mod postgres;
mod reports;
mod runbooks;
mod search;
mod sessions;
mod sqlite;
mod webhooks;
mod writes;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::{Event, ListQuery, Page, Session, Status};

pub use accounts::{AccountStore, AccountStoreError, StoredLoginSession};
pub use changes::{Announcement, ChangeLog, ChangeRef, RECENT_OVERLAP, RECENT_OVERLAP_PLACES};
pub use postgres::{PostgresOptions, PostgresStore};
pub use reports::ReportStore;
pub use runbooks::RunbookStore;
pub use search::{SIMILAR_WINDOW, SearchStore};
pub use sqlite::STATEMENT_LOG as SQLITE_STATEMENT_LOG;
pub use sqlite::file_of as sqlite_file_of;
pub use sqlite::migrate as sqlite_migrate;
pub use sqlite::{SqliteOptions, SqliteStore};
pub use webhooks::{AttemptResult, EXCERPT_CHARS, WebhookStore};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no such session")]
    NotFound,
    #[error("no such step in this session")]
    StepNotFound,
    /// The session is not in the status the change requires (for a
    /// reassignment: not with the owner it requires); here is how it is now.
    #[error("session is {}", .0.status())]
    WrongStatus(Box<Session>),
    /// The session's owner would not be an account: the database refused it.
    #[error("the owner is not an account")]
    UnknownOwner,
    /// A row with the same unique key exists.
    #[error("already stored")]
    Duplicate,
    /// The database cannot be reached or is too busy; retrying later may work.
    #[error("database unavailable")]
    Unavailable(#[source] DatabaseError),
    #[error(transparent)]
    Database(DatabaseError),
}

/// What the database driver reported.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    /// PostgreSQL.
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    SqlitePool(#[from] r2d2::Error),
    #[error("no database connection became free in time")]
    PoolTimedOut,
    #[error("the database connections are closed")]
    PoolClosed,
    /// The commit a write shared with others failed (SQLite's group commit).
    #[error("the commit failed: {0}")]
    GroupCommit(String),
    #[error("cannot start a thread for the database: {0}")]
    Thread(std::io::Error),
    /// A stored value the schema should have made impossible.
    #[error("{0}")]
    Corrupt(String),
    /// An event that creates a session was given as a change to one.
    #[error("a `{0}` event changes no session: it is stored with the session it creates")]
    NotAChange(&'static str),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        if matches!(&error, sqlx::Error::Database(db)
            if db.is_foreign_key_violation() && db.constraint() == Some(OWNER_IS_AN_ACCOUNT))
        {
            return StoreError::UnknownOwner;
        }
        if matches!(&error, sqlx::Error::Database(db) if db.is_unique_violation()) {
            return StoreError::Duplicate;
        }
        let unavailable = match &error {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(db) => db.code().is_some_and(|c| unavailable_code(&c)),
            _ => false,
        };
        if unavailable {
            StoreError::Unavailable(error.into())
        } else {
            StoreError::Database(error.into())
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        if matches!(&error, rusqlite::Error::SqliteFailure(_, Some(message))
            if message == sqlite::OWNER_IS_NOT_AN_ACCOUNT)
        {
            return StoreError::UnknownOwner;
        }
        if matches!(&error, rusqlite::Error::SqliteFailure(e, _)
            if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
        {
            return StoreError::Duplicate;
        }
        let unavailable = matches!(
            &error,
            rusqlite::Error::SqliteFailure(e, _) if unavailable_code(&e.extended_code.to_string())
        );
        if unavailable {
            StoreError::Unavailable(error.into())
        } else {
            StoreError::Database(error.into())
        }
    }
}

/// The constraint that makes a session's owner an account (PostgreSQL's
/// foreign key; SQLite's triggers say [`sqlite::OWNER_IS_NOT_AN_ACCOUNT`]).
const OWNER_IS_AN_ACCOUNT: &str = "sessions_owner_is_an_account";

/// Database error codes that say "not now" rather than "never": the database
/// is busy, out of space, read-only, shutting down or unreachable. Retrying
/// later may work, so they become 503, not 500.
fn unavailable_code(code: &str) -> bool {
    // PostgreSQL's SQLSTATEs are five characters (often all digits);
    // SQLite's numeric codes are shorter.
    if code.len() == 5 {
        // Connection exceptions (08…), out of resources (53…), shutting
        // down or starting up (57P01–57P03).
        code.starts_with("08")
            || code.starts_with("53")
            || matches!(code, "57P01" | "57P02" | "57P03")
    } else {
        // SQLite reports extended codes; the primary code is the low byte:
        // BUSY (5), LOCKED (6), READONLY (8), IOERR (10), FULL (13), CANTOPEN (14).
        code.parse::<i32>()
            .is_ok_and(|sqlite| matches!(sqlite & 0xff, 5 | 6 | 8 | 10 | 13 | 14))
    }
}

/// Runbooks, reports and search (similar sessions, snippets) live beside the
/// sessions, in the same database and through the same connections.
#[async_trait]
pub trait SessionStore: RunbookStore + ReportStore + SearchStore + Send + Sync + 'static {
    /// Stores a new session with its steps and its `created` event.
    async fn insert(&self, session: &Session, event: &Event) -> Result<(), StoreError>;

    async fn get(&self, id: Uuid) -> Result<Option<Session>, StoreError>;

    /// Newest first, after the query's cursor, with steps if the query
    /// asks for them.
    async fn list(&self, query: &ListQuery) -> Result<Page<Session>, StoreError>;

    /// Fills in the steps of sessions read without them, as they are now.
    async fn load_steps(&self, sessions: &mut [Session]) -> Result<(), StoreError>;

    /// The whole timeline, oldest first.
    async fn events(&self, id: Uuid) -> Result<Vec<Event>, StoreError>;

    /// Makes the change `event` records (see `writes`) if the session meets
    /// its requirement, appends `event`, and returns the session as it now is.
    async fn apply(&self, event: &Event) -> Result<Session, StoreError>;

    /// Deletes a prepared session with its steps and timeline, in one
    /// conditional write; a started one is left alone (`WrongStatus`).
    async fn delete_prepared(&self, id: Uuid) -> Result<(), StoreError>;

    /// Succeeds when the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// How many sessions are in each status (statuses without any may be left out).
    async fn count_by_status(&self) -> Result<Vec<(Status, u64)>, StoreError>;

    /// Active sessions whose last change (`updated_at`, which every change
    /// and event moves) is before `idle_since`, oldest activity first.
    async fn idle_active(
        &self,
        idle_since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Uuid>, StoreError>;

    /// Takes or renews the lease `name` for `holder` until `until`, if no
    /// other holder has it past `now`; true when `holder` has it now.
    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Connections open and idle in each pool, for the metrics.
    fn pool_usage(&self) -> Vec<PoolUsage>;

    /// The write-ahead log's size and checkpoint lag, for an engine that
    /// keeps one in a file of its own (SQLite).
    fn wal_usage(&self) -> Option<WalUsage> {
        None
    }

    /// Waits for open work to finish and closes every connection.
    async fn close(&self);
}

/// One connection pool's usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUsage {
    pub pool: &'static str,
    pub size: u32,
    pub idle: usize,
}

/// The SQLite WAL, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalUsage {
    /// The WAL file's size (0 when absent).
    pub bytes: u64,
    /// The size it is kept at or below.
    pub limit_bytes: u64,
    /// What the last checkpoint had not yet copied into the database.
    pub lag_bytes: u64,
}

fn status_counts(prepared: i64, active: i64, completed: i64) -> Vec<(Status, u64)> {
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    vec![
        (Status::Prepared, n(prepared)),
        (Status::Active, n(active)),
        (Status::Completed, n(completed)),
    ]
}

/// Opens the store a database URL names (`sqlite:…` or `postgres://…`) and
/// brings its schema up to date.
pub async fn connect(url: &str) -> anyhow::Result<Arc<dyn SessionStore>> {
    Ok(connect_all(url).await?.sessions)
}

/// The stores over one connection pool: sessions, accounts and webhooks.
#[derive(Clone)]
pub struct Stores {
    pub sessions: Arc<dyn SessionStore>,
    pub accounts: Arc<dyn AccountStore>,
    pub webhooks: Arc<dyn WebhookStore>,
    /// The timeline as a feed of changes, for live streams.
    pub changes: Arc<dyn ChangeLog>,
}

/// Like [`connect`], for callers that need the account store as well.
pub async fn connect_all(url: &str) -> anyhow::Result<Stores> {
    connect_all_with(url, SqliteOptions::default(), PostgresOptions::default()).await
}

/// Like [`connect_all`], with each engine's settings (only the URL's engine's
/// are used).
pub async fn connect_all_with(
    url: &str,
    sqlite: SqliteOptions,
    postgres: PostgresOptions,
) -> anyhow::Result<Stores> {
    fn both<S: SessionStore + AccountStore + WebhookStore + ChangeLog>(store: S) -> Stores {
        let store = Arc::new(store);
        Stores {
            sessions: store.clone(),
            accounts: store.clone(),
            webhooks: store.clone(),
            changes: store,
        }
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(both(PostgresStore::connect_with(url, postgres).await?))
    } else if url.starts_with("sqlite:") {
        Ok(both(SqliteStore::connect_with(url, sqlite).await?))
    } else {
        anyhow::bail!("unsupported database URL {url:?}: use sqlite:PATH or postgres://…")
    }
}

/// The SQL condition that holds exactly for sessions in `status`; the same on
/// both backends, and the same as `Status::derive`.
fn status_condition(status: Status) -> &'static str {
    match status {
        Status::Prepared => "started_at is null",
        Status::Active => "started_at is not null and completed_at is null",
        Status::Completed => "completed_at is not null",
    }
}

#[cfg(test)]
mod tests {
    use super::unavailable_code;

    #[test]
    fn not_now_codes_are_unavailable_and_others_are_not() {
        // SQLite: BUSY, BUSY_SNAPSHOT, READONLY, IOERR_WRITE, FULL, CANTOPEN.
        for code in ["5", "517", "8", "778", "13", "14"] {
            assert!(unavailable_code(code), "{code}");
        }
        // SQLite CONSTRAINT_CHECK and CONSTRAINT_UNIQUE are the caller's fault.
        for code in ["275", "2067", "19"] {
            assert!(!unavailable_code(code), "{code}");
        }
        // PostgreSQL: connection failure, too many connections, shutting down.
        for code in ["08006", "53300", "57P01", "57P03"] {
            assert!(unavailable_code(code), "{code}");
        }
        // Unique violation, check violation, syntax error.
        for code in ["23505", "23514", "42601"] {
            assert!(!unavailable_code(code), "{code}");
        }
    }
}
