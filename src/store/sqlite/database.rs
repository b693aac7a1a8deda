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
//! The session writes (every lifecycle action, every creation) that arrive
//! together share one transaction and one commit (see `group_commit`).
//!
//! Why not sqlx here: its SQLite driver gives every connection its own
//! thread and sends it every statement, every row and every pool check-in as
//! a message, so a list request crossed threads half a dozen times and
//! copied each value twice. Here a request crosses once per unit of work and
//! rows are decoded where SQLite hands them out.

use std::cell::Cell;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::Span;

use super::group_commit::{self, Group};
use super::search_queue::{self, BATCH, SearchQueue};
use super::wal::{Checkpointer, Wal};
use crate::store::{DatabaseError, PoolUsage, StoreError, WalUsage};

const READERS: u32 = 4;
/// How long a request waits for a free connection before it gets 503.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a statement waits for another process's lock before the request
/// gets 503: a reader (which in WAL mode almost never waits), or a write that
/// found the write lock taken and moved off the runtime to wait for it.
pub(super) const LOCK_WAIT: Duration = Duration::from_secs(5);
/// Enough for every statement shape the stores use, list filters included.
const STATEMENT_CACHE: usize = 64;

/// The log target of every statement run (at debug level), so a test can
/// count the statements of one request.
pub const STATEMENT_LOG: &str = "casebook::store::sqlite";

pub struct Database {
    writer: Lane,
    readers: Lane,
    checkpoints: Checkpointer,
    wal: Arc<Wal>,
    search: Arc<SearchQueue>,
    /// The indexer and the settler of groups left open.
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    group: Arc<Group>,
}

/// One pool and its permits: a request waits for a permit asynchronously,
/// and holds one before it takes a connection, so taking one never blocks.
/// The pool is taken away (and its connections closed) when the database
/// closes.
struct Lane {
    name: &'static str,
    pool: RwLock<Option<r2d2::Pool<SqliteConnectionManager>>>,
    permits: Arc<Semaphore>,
    size: u32,
}

thread_local! {
    /// Set by the writer's busy handler: the write just tried met another
    /// connection's lock (see [`Database::write`]).
    static MET_A_LOCK: Cell<bool> = const { Cell::new(false) };
    /// When the lock the current busy handler waits for was first met.
    static BUSY_SINCE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// The writer's busy handler on the runtime's thread: never wait, but note
/// that the lock was taken, so the write is tried again off the runtime.
fn refuse_to_wait(_attempt: i32) -> bool {
    MET_A_LOCK.set(true);
    false
}

impl Database {
    /// Opens the writer, the readers and the checkpointer of the file at
    /// `path`, whose schema is already up to date, with the WAL kept at or
    /// below `wal_max_bytes`. Blocks while the connections open.
    pub fn open(path: &Path, wal_max_bytes: u64) -> Result<Self, DatabaseError> {
        let flags = OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let checkpointer = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        let wal = Arc::new(Wal::new(path, wal_max_bytes, &checkpointer)?);
        let watched = wal.clone();
        let writer = SqliteConnectionManager::file(path)
            .with_flags(flags | OpenFlags::SQLITE_OPEN_READ_WRITE)
            .with_init(move |conn| {
                init(conn)?;
                // Commits never checkpoint: the checkpointer does (see above).
                conn.execute_batch(
                    "pragma foreign_keys = on; pragma synchronous = normal; \
                     pragma wal_autocheckpoint = 0;",
                )?;
                watched.limit_and_watch(conn)?;
                conn.busy_handler(Some(refuse_to_wait))
            });
        let readers = SqliteConnectionManager::file(path)
            .with_flags(flags | OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_init(init);
        Ok(Self {
            writer: Lane::open("sqlite_writer", writer, 1)?,
            readers: Lane::open("sqlite_readers", readers, READERS)?,
            checkpoints: Checkpointer::start(checkpointer, wal.clone())?,
            wal,
            search: Arc::default(),
            tasks: Mutex::default(),
            group: Arc::default(),
        })
    }

    /// Starts keeping the search index up to date (see `search_queue`) and
    /// making sure every group of writes is committed (see `group_commit`).
    pub fn start_tasks(self: &Arc<Self>) {
        let tasks = [search_queue::start(self), start_settler(self)];
        self.tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(tasks);
    }

    pub(super) fn search_queue(&self) -> Arc<SearchQueue> {
        self.search.clone()
    }

    /// Brings the search index up to date with every write this process
    /// made so far; a search calls it first, so it sees every change.
    pub async fn index_queued(&self) -> Result<(), StoreError> {
        let Some(written) = self.search.behind() else {
            return Ok(());
        };
        self.index_until_empty().await?;
        self.search.caught_up_with(written);
        Ok(())
    }

    /// Indexes whatever is queued, by this process or another.
    pub(super) async fn index_anything_queued(&self) -> Result<(), StoreError> {
        if self.quick_read(search_queue::anything_queued_store).await? {
            self.index_until_empty().await?;
        }
        Ok(())
    }

    async fn index_until_empty(&self) -> Result<(), StoreError> {
        // One batch per turn on the writer, so writes waiting behind the
        // indexer wait for one batch, not for the whole queue.
        while self.index_batch().await? == BATCH {}
        Ok(())
    }

    /// One batch of the queue (see `search_queue::index_batch`); how many
    /// sessions it took.
    async fn index_batch(&self) -> Result<usize, StoreError> {
        self.indexer_turn(search_queue::index_batch).await
    }

    /// One step of merging the search index's segments (see
    /// `search_queue::merge_step`); whether there was anything to merge.
    pub(super) async fn merge_search_index(&self) -> Result<bool, StoreError> {
        Ok(self.indexer_turn(search_queue::merge_step).await? > 0)
    }

    /// `work` on the writer in a blocking task; not counted as a write (it
    /// would wake the indexer again).
    async fn indexer_turn(
        &self,
        work: fn(&mut Connection) -> Result<usize, StoreError>,
    ) -> Result<usize, StoreError> {
        self.wal.room_to_write(&self.checkpoints).await;
        let group = self.group.clone();
        let result = self
            .writer
            .handed_off(move |conn| {
                settle_on(&group, conn);
                MET_A_LOCK.set(false);
                let first = work(conn);
                if first.is_ok() || !MET_A_LOCK.get() {
                    return first;
                }
                drop(first);
                wait_for_the_lock(conn, &mut { work })
            })
            .await;
        self.checkpoints.count_write(&self.wal);
        result
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
    /// module docs); a transaction is `work`'s to open, and its first
    /// statement must take the write lock (`BEGIN IMMEDIATE`, or a single
    /// writing statement), so that a write that met a lock changed nothing.
    ///
    /// On the runtime's thread the writer never waits for a lock: when
    /// another process holds it (`casebook user add`, a backup, a second
    /// server by mistake, the checkpointer restarting the WAL), `work` runs
    /// again off the runtime with a real wait ([`LOCK_WAIT`]), and the
    /// request gets 503 if the lock is still taken then. While the WAL is at
    /// its limit, writes wait (asynchronously) for the checkpointer to
    /// restart it.
    pub async fn write<T, E>(
        &self,
        mut work: impl FnMut(&mut Connection) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        self.wal.room_to_write(&self.checkpoints).await;
        let result = self
            .writer
            .here(|conn| {
                settle_on(&self.group, conn);
                without_stalling_the_runtime(conn, &mut work)
            })
            .await;
        self.checkpoints.count_write(&self.wal);
        self.search.note_write();
        result
    }

    /// Runs `work` on the writer in a savepoint of a transaction it may
    /// share with the writes queued behind it, and returns once that
    /// transaction is committed (see `group_commit`). `work` opens no
    /// transaction of its own; when it fails, it changed nothing.
    pub async fn write_in_group<T>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.wal.room_to_write(&self.checkpoints).await;
        let queued = self.group.queue();
        let unavailable = StoreError::Unavailable;
        let permit = self.writer.permit().await.map_err(unavailable)?;
        drop(queued);
        let mut conn = self.writer.connection().map_err(unavailable)?;
        if self.group.is_open() && conn.is_autocommit() {
            // The open transaction was lost (SQLite rolls back a whole
            // transaction on some errors): its writes are told it failed.
            settle_on(&self.group, &conn);
        }
        if !self.group.is_open() {
            begin_immediate(&mut conn)?;
            self.group.opened();
        }
        let result: Result<T, StoreError> = (|| {
            let savepoint = conn.savepoint()?;
            let done = work(&savepoint)?;
            savepoint.commit()?;
            Ok(done)
        })();
        let left = self.group.leave(&conn, result.is_ok());
        drop(conn);
        drop(permit);
        // A write that failed changed nothing, whatever became of the rest.
        let done = result?;
        if let Some(committed) = left? {
            group_commit::committed(committed).await?;
        }
        self.checkpoints.count_write(&self.wal);
        self.search.note_write();
        Ok(done)
    }

    pub fn usage(&self) -> Vec<PoolUsage> {
        [&self.writer, &self.readers]
            .into_iter()
            .map(Lane::usage)
            .collect()
    }

    pub fn wal_usage(&self) -> WalUsage {
        self.wal.usage()
    }

    /// Waits for the work under way, refuses new work, closes every
    /// connection, then stops the checkpointer, which checkpoints the whole
    /// WAL into the database file and truncates it as the last connection.
    pub async fn close(&self) {
        // What is still queued stays queued in the file, for the next start.
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            task.abort();
        }
        self.writer
            .close_after(|conn| settle_on(&self.group, conn))
            .await;
        self.readers.close().await;
        self.checkpoints.stop().await;
    }
}

/// Commits the group of writes left open, if any, before `conn` (the
/// writer) is used for anything else. A failed commit is its writes' error.
fn settle_on(group: &Group, conn: &Connection) {
    if let Err(error) = group.settle(conn) {
        tracing::warn!(%error, "a group of writes could not be committed");
    }
}

/// `BEGIN IMMEDIATE` on the writer; when another connection holds the write
/// lock, waits for it off the runtime (see [`Database::write`]).
fn begin_immediate(conn: &mut Connection) -> Result<(), StoreError> {
    without_stalling_the_runtime(conn, &mut |conn: &mut Connection| {
        Ok(conn.execute_batch("begin immediate")?)
    })
}

/// `work` on the writer, on the runtime's thread, where it never waits for
/// a lock; when it met one, `work` runs again off the runtime, allowed to
/// wait (see [`Database::write`]).
fn without_stalling_the_runtime<T, E>(
    conn: &mut Connection,
    work: &mut impl FnMut(&mut Connection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<StoreError>,
{
    MET_A_LOCK.set(false);
    let first = work(conn);
    if first.is_ok() || !MET_A_LOCK.get() {
        return first;
    }
    drop(first);
    off_the_runtime(|| wait_for_the_lock(conn, work))
}

/// Ends every group of writes left open whose queued writes were all
/// cancelled: after [`group_commit::MAX_AGE`], it takes the writer and
/// commits what is open.
fn start_settler(db: &Arc<Database>) -> tokio::task::JoinHandle<()> {
    let db = Arc::downgrade(db);
    tokio::spawn(async move {
        loop {
            let Some(notified) = db.upgrade() else { return };
            notified.group.left_open.notified().await;
            drop(notified);
            tokio::time::sleep(group_commit::MAX_AGE).await;
            let Some(db) = db.upgrade() else { return };
            let settled = db.writer.here(|conn| db.group.settle_if_stale(conn)).await;
            if let Err(error) = settled {
                tracing::warn!(%error, "a group of writes could not be committed");
            }
        }
    })
}

/// The second try of a write that met a lock: the same work, allowed to
/// wait for the lock this time.
fn wait_for_the_lock<T, E>(
    conn: &mut Connection,
    work: &mut impl FnMut(&mut Connection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<StoreError>,
{
    let refused = |e: rusqlite::Error| E::from(StoreError::from(e));
    conn.busy_handler(Some(wait_in_short_steps::<LOCK_WAIT_MS>))
        .map_err(refused)?;
    let result = work(conn);
    conn.busy_handler(Some(refuse_to_wait)).map_err(refused)?;
    result
}

/// Runs `blocking` where it holds up no other task: the runtime hands this
/// worker's other tasks to another thread for the duration. (A runtime with
/// one thread has nowhere to hand them, so there it simply runs.)
fn off_the_runtime<T>(blocking: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(runtime) if runtime.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(blocking)
        }
        _ => blocking(),
    }
}

const LOCK_WAIT_MS: u64 = LOCK_WAIT.as_millis() as u64;
/// How long a connection that met a lock sleeps before it tries again.
const BUSY_STEP: Duration = Duration::from_micros(250);

/// A busy handler that tries again every [`BUSY_STEP`] for up to `MS`
/// milliseconds. SQLite's own (`busy_timeout`) sleeps 1, 2, 5, 10, 15, 20,
/// 25 … 100 ms between tries, so a lock held for 3 ms (a WAL restart) cost
/// the write that met it 8 ms, and every write queued behind that one.
pub(super) fn wait_in_short_steps<const MS: u64>(attempt: i32) -> bool {
    let now = Instant::now();
    if attempt == 0 {
        BUSY_SINCE.set(Some(now));
    }
    let since = BUSY_SINCE.get().unwrap_or(now);
    if now.duration_since(since) >= Duration::from_millis(MS) {
        return false;
    }
    std::thread::sleep(BUSY_STEP);
    true
}

/// What every connection needs, writer or reader.
fn init(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.busy_handler(Some(wait_in_short_steps::<LOCK_WAIT_MS>))?;
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
            pool: RwLock::new(Some(pool)),
            permits: Arc::new(Semaphore::new(size as usize)),
            size,
        })
    }

    /// A connection of this lane; the caller holds a permit, so it is free
    /// and `get` does not wait.
    fn connection(&self) -> Result<r2d2::PooledConnection<SqliteConnectionManager>, DatabaseError> {
        self.pool
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .as_ref()
            .ok_or(DatabaseError::PoolClosed)?
            .get()
            .map_err(DatabaseError::SqlitePool)
    }

    fn usage(&self) -> PoolUsage {
        let state = self
            .pool
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .as_ref()
            .map(r2d2::Pool::state);
        PoolUsage {
            pool: self.name,
            size: state.as_ref().map_or(0, |s| s.connections),
            idle: state.map_or(0, |s| s.idle_connections as usize),
        }
    }

    /// Waits for every permit, so no work is under way, closes the permits
    /// and then the connections.
    async fn close(&self) {
        self.close_after(|_| ()).await;
    }

    /// As [`Lane::close`], with `last` run on one of its connections first
    /// (the writer's only one).
    async fn close_after(&self, last: impl Fn(&Connection)) {
        if let Ok(all) = self.permits.acquire_many(self.size).await {
            all.forget();
        }
        if let Ok(conn) = self.connection() {
            last(&conn);
        }
        self.permits.close();
        let pool = self
            .pool
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        drop(pool);
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
        let mut conn = self.connection().map_err(unavailable)?;
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
        let conn = self.connection().map_err(unavailable)?;
        // The request's span, so the statements log under its request id.
        let span = Span::current();
        let outcome = tokio::task::spawn_blocking(move || {
            // Declared after the permit so it returns to the pool first: a
            // permit must always find a free connection.
            let _permit = permit;
            let mut conn = conn;
            let _in_request = span.enter();
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
