//! The connections to the SQLite file: one writer (SQLite serializes writers
//! anyway), a few readers and a checkpointer.
//!
//! Where the work runs: a read whose cost depends on the data (a search, a
//! filtered list, a timeline, an export) goes to a blocking thread, one
//! hand-off per read. Quick reads and write transactions run on the calling
//! thread: they take SQLite microseconds, less than the hand-off to another
//! thread and back, which was a quarter to a third of a request's CPU. A
//! write is quick because a commit only appends to the WAL (no fsync with
//! `synchronous = NORMAL`): the slow part, checkpointing the WAL into the
//! database file with its fsync, is the checkpointer's, on its own thread.
//!
//! Why not sqlx here: its SQLite driver gives every connection its own
//! thread and sends it every statement, every row and every pool check-in as
//! a message, so a list request crossed threads half a dozen times and
//! copied each value twice. Here a request crosses once per unit of work and
//! rows are decoded where SQLite hands them out.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{RecvTimeoutError, SyncSender, sync_channel};
use std::time::Duration;

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::Span;

use crate::store::{DatabaseError, PoolUsage, StoreError};

const READERS: u32 = 4;
/// How long a request waits for a free connection before it gets 503.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a statement waits for another process's write lock.
const BUSY_TIMEOUT: &str = "pragma busy_timeout = 5000;";
/// Enough for every statement shape the stores use, list filters included.
const STATEMENT_CACHE: usize = 64;

/// The log target of every statement run (at debug level), so a test can
/// count the statements of one request.
pub const STATEMENT_LOG: &str = "casebook::store::sqlite";

pub struct Database {
    writer: Lane,
    readers: Lane,
    checkpoints: Checkpointer,
}

/// One pool and its permits: a request waits for a permit asynchronously,
/// and holds one before it takes a connection, so taking one never blocks.
struct Lane {
    name: &'static str,
    pool: r2d2::Pool<SqliteConnectionManager>,
    permits: Arc<Semaphore>,
    size: u32,
}

impl Database {
    /// Opens the writer and the readers of the file at `path`, whose schema
    /// is already up to date. Blocks while the connections open.
    pub fn open(path: &Path) -> Result<Self, DatabaseError> {
        let flags = OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let writer = SqliteConnectionManager::file(path)
            .with_flags(flags | OpenFlags::SQLITE_OPEN_READ_WRITE)
            .with_init(|conn| {
                init(conn)?;
                // Commits never checkpoint: the checkpointer does (see above).
                conn.execute_batch(
                    "pragma foreign_keys = on; pragma synchronous = normal; \
                     pragma wal_autocheckpoint = 0;",
                )
            });
        let readers = SqliteConnectionManager::file(path)
            .with_flags(flags | OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_init(init);
        Ok(Self {
            writer: Lane::open("sqlite_writer", writer, 1)?,
            readers: Lane::open("sqlite_readers", readers, READERS)?,
            checkpoints: Checkpointer::start(path)?,
        })
    }

    /// Runs `work` on a reader connection.
    pub async fn read<T, E>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.readers.handed_off(move |conn| work(conn)).await
    }

    /// Runs `work`, a quick read, on a reader connection on the calling
    /// thread. Quick means bounded by construction: one row found by key (a
    /// token, a session by id), or one page walked along an index in its own
    /// order. SQLite answers those in microseconds, and the hand-off to a
    /// blocking thread and back costs more than that (a quarter of a list
    /// request's CPU went to its two hand-offs). Anything whose cost depends
    /// on the data goes through [`Database::read`], so no request can hold
    /// up the runtime's threads.
    pub async fn quick_read<T, E>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        self.readers.here(|conn| work(conn)).await
    }

    /// Runs `work` on the writer connection, on the calling thread (see the
    /// module docs); a transaction is `work`'s to open.
    pub async fn write<T, E>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let result = self.writer.here(work).await;
        self.checkpoints.count_write();
        result
    }

    pub fn usage(&self) -> Vec<PoolUsage> {
        [&self.writer, &self.readers]
            .into_iter()
            .map(|lane| {
                let state = lane.pool.state();
                PoolUsage {
                    pool: lane.name,
                    size: state.connections,
                    idle: state.idle_connections as usize,
                }
            })
            .collect()
    }

    /// Waits for the work under way and refuses new work.
    pub async fn close(&self) {
        for lane in [&self.writer, &self.readers] {
            if let Ok(all) = lane.permits.acquire_many(lane.size).await {
                all.forget();
            }
            lane.permits.close();
        }
    }
}

/// What every connection needs, writer or reader.
fn init(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.execute_batch(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    if tracing::enabled!(target: STATEMENT_LOG, tracing::Level::DEBUG) {
        conn.trace(Some(log_statement));
    }
    Ok(())
}

fn log_statement(sql: &str) {
    tracing::debug!(target: STATEMENT_LOG, statement = sql, "statement");
}

impl Lane {
    fn open(
        name: &'static str,
        manager: SqliteConnectionManager,
        size: u32,
    ) -> Result<Self, DatabaseError> {
        let pool = r2d2::Pool::builder()
            .max_size(size)
            .min_idle(Some(size))
            // A local file does not go stale: no check before each use, and
            // no reconnecting on a timer.
            .test_on_check_out(false)
            .idle_timeout(None)
            .max_lifetime(None)
            .connection_timeout(ACQUIRE_TIMEOUT)
            .build(manager)?;
        Ok(Self {
            name,
            pool,
            permits: Arc::new(Semaphore::new(size as usize)),
            size,
        })
    }

    /// A turn on one of this lane's connections, waited for asynchronously.
    async fn permit(&self) -> Result<OwnedSemaphorePermit, DatabaseError> {
        tokio::time::timeout(ACQUIRE_TIMEOUT, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| DatabaseError::PoolTimedOut)?
            .map_err(|_| DatabaseError::PoolClosed)
    }

    /// Runs `work` on one of this lane's connections on the calling thread.
    async fn here<T, E>(&self, work: impl FnOnce(&mut Connection) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let unavailable = |e: DatabaseError| E::from(StoreError::Unavailable(e));
        let _permit = self.permit().await.map_err(unavailable)?;
        // A permit guarantees a free connection: `get` does not wait.
        let mut conn = self
            .pool
            .get()
            .map_err(|e| unavailable(DatabaseError::SqlitePool(e)))?;
        work(&mut conn)
    }

    /// Runs `work` on one of this lane's connections in a blocking task.
    async fn handed_off<T, E>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let unavailable = |e: DatabaseError| E::from(StoreError::Unavailable(e));
        let permit = self.permit().await.map_err(unavailable)?;
        let pool = self.pool.clone();
        // The request's span, so the statements log under its request id.
        let span = Span::current();
        let outcome = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let _in_request = span.enter();
            let mut conn = pool
                .get()
                .map_err(|e| unavailable(DatabaseError::SqlitePool(e)))?;
            work(&mut conn)
        })
        .await;
        match outcome {
            Ok(result) => result,
            // A panic in the work is a bug: let it reach the panic handler
            // as it would have without the hand-off.
            Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
            Err(_) => Err(unavailable(DatabaseError::PoolClosed)),
        }
    }
}

/// Checkpoints the WAL into the database file on a thread of its own, every
/// `CHECKPOINT_EVERY` writes, and a second after the last write otherwise.
/// A passive checkpoint waits for no one and no one waits for it.
struct Checkpointer {
    writes: Arc<AtomicU64>,
    due: SyncSender<()>,
}

/// About as often as SQLite's own default (1,000 pages of WAL) at a few
/// pages per write.
const CHECKPOINT_EVERY: u64 = 256;

impl Checkpointer {
    fn start(path: &Path) -> Result<Self, DatabaseError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.execute_batch(BUSY_TIMEOUT)?;
        let writes = Arc::new(AtomicU64::new(0));
        let (due, wake) = sync_channel::<()>(1);
        let counted = writes.clone();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                let mut checkpointed = 0;
                // Ends when the database is dropped, and its sender with it.
                while wake.recv_timeout(Duration::from_secs(1))
                    != Err(RecvTimeoutError::Disconnected)
                {
                    let writes = counted.load(Ordering::Relaxed);
                    if writes == checkpointed {
                        continue;
                    }
                    match conn.query_row("pragma wal_checkpoint(passive)", [], |_| Ok(())) {
                        Ok(()) => checkpointed = writes,
                        Err(error) => tracing::warn!(%error, "WAL checkpoint failed; will retry"),
                    }
                }
            })
            .map_err(DatabaseError::Thread)?;
        Ok(Self { writes, due })
    }

    fn count_write(&self) {
        if (self.writes.fetch_add(1, Ordering::Relaxed) + 1) % CHECKPOINT_EVERY == 0 {
            // Full means a checkpoint is due already.
            let _ = self.due.try_send(());
        }
    }
}
