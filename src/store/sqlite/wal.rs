//! Keeping the write-ahead log bounded.
//!
//! Every commit appends the pages it changed to the WAL; a checkpoint copies
//! them into the database file. A passive checkpoint waits for no one, but
//! the WAL only starts again from its beginning when a checkpoint has copied
//! everything and no reader still needs it, which under steady writes never
//! happens: the file grew by hundreds of megabytes a minute. So the
//! checkpointer escalates: once the WAL holds half its limit, it follows its
//! passive checkpoint with a RESTART, which takes the write lock for the few
//! frames left, waits (briefly) for readers to move on, and lets the next
//! commit start the WAL over. Each passive checkpoint is followed by a sync
//! of the database file, so the RESTART, which syncs it while writers wait,
//! finds little left to write to disk. If the WAL still reaches three quarters of its
//! limit, writers wait for that restart. `journal_size_limit` shrinks the
//! file when the WAL restarts, and a second without writes truncates it.
//!
//! The checkpointer learns the WAL's length from SQLite itself: the writer's
//! WAL hook reports the frames in the WAL after every commit.

use std::ffi::{c_char, c_int, c_void};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::Notify;

use super::database::{LOCK_WAIT, wait_in_short_steps};
use crate::store::{DatabaseError, WalUsage};

/// A passive checkpoint every this many writes at least.
const CHECKPOINT_EVERY: u64 = 256;
/// After this long without a write, the WAL is checkpointed and truncated.
const IDLE_AFTER: Duration = Duration::from_secs(1);
/// How long a RESTART checkpoint waits for the write lock and for readers of
/// older frames: a writer holds the lock for microseconds, a quick read
/// lasts a millisecond. A longer reader (an export) makes it try again later.
const RESTART_WAIT_MS: u64 = 200;
/// The longest a write is held back for a full WAL: a reader that pins the
/// WAL (an export of everything, a backup) slows writers without stopping
/// them.
const HOLD_AT_MOST: Duration = Duration::from_secs(2);
/// The WAL's header; each frame adds 24 bytes to a page.
const WAL_HEADER: u64 = 32;
const FRAME_HEADER: u64 = 24;

/// What the writer's commits and the checkpointer know of the WAL.
pub struct Wal {
    file: PathBuf,
    /// The database file, which the checkpointer syncs after copying.
    database: PathBuf,
    max_bytes: u64,
    frame_bytes: u64,
    /// Frames at which the checkpointer restarts the WAL: half the limit.
    restart_frames: u64,
    /// Frames at which writes wait for that restart: three quarters.
    hold_frames: u64,
    /// Frames in the WAL after the last commit, as SQLite counts them.
    frames: AtomicU64,
    /// Frames not yet copied into the database at the last checkpoint.
    lag_frames: AtomicU64,
    /// Writes so far, so the checkpointer knows whether any came.
    writes: AtomicU64,
    /// Wakes the writes held back when the WAL restarts.
    restarted: Notify,
}

impl Wal {
    /// The WAL of the database at `path`, at most `max_bytes` long; `conn`
    /// tells the page size.
    pub fn new(path: &Path, max_bytes: u64, conn: &Connection) -> Result<Wal, DatabaseError> {
        let page: i64 = conn.pragma_query_value(None, "page_size", |row| row.get(0))?;
        let frame_bytes = u64::try_from(page).unwrap_or(4096) + FRAME_HEADER;
        let frames_in = |bytes: u64| (bytes.saturating_sub(WAL_HEADER) / frame_bytes).max(16);
        let mut file = path.as_os_str().to_owned();
        file.push("-wal");
        Ok(Wal {
            file: file.into(),
            database: path.to_owned(),
            max_bytes,
            frame_bytes,
            restart_frames: frames_in(max_bytes / 2),
            hold_frames: frames_in(max_bytes / 4 * 3),
            frames: AtomicU64::new(0),
            lag_frames: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            restarted: Notify::new(),
        })
    }

    /// Sets the writer `conn` to shrink the WAL file to the limit when the
    /// WAL restarts, and to report its length after every commit.
    pub fn limit_and_watch(self: &Arc<Self>, conn: &Connection) -> rusqlite::Result<()> {
        let limit = i64::try_from(self.max_bytes).unwrap_or(i64::MAX);
        conn.pragma_update(None, "journal_size_limit", limit)?;
        // SAFETY: `conn` is a live connection, and the hook gets a pointer
        // to this `Wal`, which outlives every writer connection: the
        // `Database` holds the `Wal` in a field dropped after its writer
        // pool (which is never cloned out of it), and `Database::close`
        // drops that pool first. The hook only runs inside a commit on the
        // writer, and only reads the `Wal` through a shared reference.
        unsafe {
            libsqlite3_sys::sqlite3_wal_hook(
                conn.handle(),
                Some(count_frames),
                Arc::as_ptr(self).cast_mut().cast::<c_void>(),
            );
        }
        Ok(())
    }

    pub fn usage(&self) -> WalUsage {
        WalUsage {
            bytes: std::fs::metadata(&self.file).map_or(0, |m| m.len()),
            limit_bytes: self.max_bytes,
            lag_bytes: self.lag_frames.load(Ordering::Relaxed) * self.frame_bytes,
        }
    }

    fn over(&self, frames: u64) -> bool {
        self.frames.load(Ordering::Relaxed) >= frames
    }

    /// Returns at once unless the WAL is at its holding mark; then waits for
    /// the checkpointer to restart it, for at most [`HOLD_AT_MOST`].
    pub async fn room_to_write(&self, checkpoints: &Checkpointer) {
        if !self.over(self.hold_frames) {
            return;
        }
        let restarted = self.restarted.notified();
        let mut restarted = std::pin::pin!(restarted);
        // Registered before the check, so a restart in between is not missed.
        restarted.as_mut().enable();
        if !self.over(self.hold_frames) {
            return;
        }
        checkpoints.wake();
        if tokio::time::timeout(HOLD_AT_MOST, restarted).await.is_err() {
            tracing::warn!(
                wal_bytes = self.usage().bytes,
                "the WAL is at its limit and could not restart (a long read?); writing anyway"
            );
        }
    }

    /// A passive checkpoint, then the database file synced.
    ///
    /// A passive checkpoint syncs the database file only when it copied the
    /// whole WAL, which under steady writes it never does: the pages it
    /// copied piled up unsynced (tens of MiB) for the next RESTART to sync
    /// while it held every writer back, 15-25 ms each time. Synced here,
    /// they reach the disk while writes go on, and a RESTART holds writers
    /// for about 5 ms (docs/BENCHMARKS.md).
    fn copy_and_sync(
        &self,
        conn: &Connection,
        database: Option<&std::fs::File>,
    ) -> rusqlite::Result<bool> {
        let done = self.checkpoint(conn, Mode::Passive)?;
        if let Some(Err(error)) = database.map(std::fs::File::sync_data) {
            tracing::warn!(%error, "syncing the database file after a checkpoint failed");
        }
        Ok(done)
    }

    /// Runs a checkpoint in `mode` on `conn`; true when it did all it is for.
    fn checkpoint(&self, conn: &Connection, mode: Mode) -> rusqlite::Result<bool> {
        let (busy, log, copied): (i64, i64, i64) =
            conn.query_row(mode.sql(), [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        let lag = u64::try_from(log.saturating_sub(copied)).unwrap_or(0);
        self.lag_frames.store(lag, Ordering::Relaxed);
        let done = busy == 0;
        if done && mode != Mode::Passive {
            // The next commit starts the WAL from its beginning.
            self.frames.store(0, Ordering::Relaxed);
            self.restarted.notify_waiters();
        }
        Ok(done)
    }
}

/// SQLite's WAL hook on the writer: `frames` is the WAL's length after a commit.
unsafe extern "C" fn count_frames(
    wal: *mut c_void,
    _db: *mut libsqlite3_sys::sqlite3,
    _name: *const c_char,
    frames: c_int,
) -> c_int {
    // SAFETY: `wal` is the pointer `limit_and_watch` registered, alive while
    // the connection is (see there).
    let wal = unsafe { &*wal.cast::<Wal>() };
    wal.frames
        .store(u64::try_from(frames).unwrap_or(0), Ordering::Relaxed);
    libsqlite3_sys::SQLITE_OK
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Copies what it can without waiting for anyone.
    Passive,
    /// Copies everything, holding writers back, then waits for readers so
    /// the next commit starts the WAL over.
    Restart,
    /// As RESTART, and truncates the file to nothing.
    Truncate,
}

impl Mode {
    fn sql(self) -> &'static str {
        match self {
            Mode::Passive => "pragma wal_checkpoint(passive)",
            Mode::Restart => "pragma wal_checkpoint(restart)",
            Mode::Truncate => "pragma wal_checkpoint(truncate)",
        }
    }
}

/// Checkpoints the WAL into the database file on a thread of its own, every
/// `CHECKPOINT_EVERY` writes, whenever the WAL is past its restart mark, and
/// a second after the last write (then truncating it).
pub struct Checkpointer {
    due: SyncSender<()>,
    stopping: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Checkpointer {
    /// Starts the checkpointer on `conn`, a read-write connection of its own.
    pub fn start(conn: Connection, wal: Arc<Wal>) -> Result<Self, DatabaseError> {
        conn.busy_handler(Some(wait_in_short_steps::<RESTART_WAIT_MS>))?;
        let (due, wake) = sync_channel::<()>(1);
        let stopping = Arc::new(AtomicBool::new(false));
        let stop = stopping.clone();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || checkpoint_until_stopped(conn, &wal, &wake, &stop))
            .map_err(DatabaseError::Thread)?;
        Ok(Self {
            due,
            stopping,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Counts a write; wakes the checkpointer when one is due.
    pub fn count_write(&self, wal: &Wal) {
        let writes = wal.writes.fetch_add(1, Ordering::Relaxed) + 1;
        if writes % CHECKPOINT_EVERY == 0 || wal.over(wal.restart_frames) {
            self.wake();
        }
    }

    fn wake(&self) {
        // Full means the checkpointer is due to look already.
        let _ = self.due.try_send(());
    }

    /// Stops the checkpointer after its last checkpoint (a TRUNCATE) and
    /// waits until it has closed its connection.
    pub async fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        self.wake();
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

fn checkpoint_until_stopped(conn: Connection, wal: &Wal, wake: &Receiver<()>, stop: &AtomicBool) {
    let mut checkpointed = 0;
    let database = std::fs::File::open(&wal.database)
        .inspect_err(|error| tracing::warn!(%error, "opening the database file to sync it failed"))
        .ok();
    loop {
        let woken = wake.recv_timeout(IDLE_AFTER);
        if stop.load(Ordering::Relaxed) || woken == Err(RecvTimeoutError::Disconnected) {
            break;
        }
        let writes = wal.writes.load(Ordering::Relaxed);
        if writes == checkpointed {
            continue;
        }
        // First what can be copied without holding anyone up, so an
        // escalation that follows holds writers back for the rest only.
        let mut outcome = wal.copy_and_sync(&conn, database.as_ref());
        let escalation = if woken.is_err() {
            Some(Mode::Truncate)
        } else if wal.over(wal.restart_frames) {
            Some(Mode::Restart)
        } else {
            None
        };
        if let (Ok(_), Some(mode)) = (&outcome, escalation) {
            outcome = wal.checkpoint(&conn, mode);
        }
        match outcome {
            // An escalation that found the lock taken is tried again at the
            // next wake-up: the next write, or a second from now.
            Ok(true) => checkpointed = writes,
            Ok(false) => {}
            Err(error) => tracing::warn!(%error, "WAL checkpoint failed; will retry"),
        }
    }
    // Every other connection of this process is closed by now: copy the
    // whole WAL into the database and leave it empty. Closing the last
    // connection then removes the file.
    let _ = conn.busy_timeout(LOCK_WAIT);
    if let Err(error) = wal.checkpoint(&conn, Mode::Truncate) {
        tracing::warn!(%error, "the last WAL checkpoint failed");
    }
    if let Err((_, error)) = conn.close() {
        tracing::warn!(%error, "closing the checkpointer's connection failed");
    }
}
