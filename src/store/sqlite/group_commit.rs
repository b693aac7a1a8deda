//! Session writes that share one transaction and one commit (group commit).
//!
//! Under a burst, each completion paid for its own commit: appending every
//! page it changed to the WAL, and later checkpointing those pages back
//! into the file. The pages many writes touch (the timeline's last page, the
//! hot pages of the indexes, the search queue) went to the WAL once per
//! write, and that was about a fifth of a completion's CPU.
//!
//! Now a write that finds others queued for the writer leaves the
//! transaction open for them. Each write runs in its own savepoint, so one
//! that fails (a session in the wrong status) changes nothing and does not
//! hold up the others. The last of the group, or the one that finds it full
//! or old enough, commits for all. No write is answered before the commit
//! that holds it, and a failed commit fails every write it held.
//!
//! A group left open is always closed: by the next write, by any other use
//! of the writer (which first commits what is open), or, when every queued
//! write was cancelled, by the settler after [`MAX_AGE`].

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::{Notify, oneshot};

use crate::store::{DatabaseError, StoreError};

/// Writes per group at most: enough to share a commit widely, few enough
/// that the first of them is not kept waiting long.
const MAX_MEMBERS: usize = 32;
/// How long a group stays open at most, from its first write.
pub(super) const MAX_AGE: Duration = Duration::from_millis(3);

/// What a write waiting for its group's commit is told.
pub(super) type Committed = oneshot::Receiver<Result<(), String>>;

#[derive(Default)]
pub(super) struct Group {
    open: Mutex<Open>,
    /// Writes waiting for the writer connection.
    queued: AtomicUsize,
    /// Told when a group is left open, so the settler makes sure it ends.
    pub(super) left_open: Notify,
}

#[derive(Default)]
struct Open {
    since: Option<Instant>,
    waiting: Vec<oneshot::Sender<Result<(), String>>>,
}

/// A write counted as queued for the writer until this is dropped (also
/// when the write is cancelled while it waits).
pub(super) struct Queued<'a>(&'a AtomicUsize);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Group {
    pub fn queue(&self) -> Queued<'_> {
        self.queued.fetch_add(1, Ordering::AcqRel);
        Queued(&self.queued)
    }

    fn open(&self) -> std::sync::MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Holding the writer: whether a group's transaction is open.
    pub fn is_open(&self) -> bool {
        self.open().since.is_some()
    }

    /// Holding the writer, with the group's transaction just begun.
    pub fn opened(&self) {
        self.open().since = Some(Instant::now());
    }

    /// Holding the writer, after a write's work (`succeeded` or not): leaves
    /// the transaction open for the writes queued behind this one (the
    /// caller then waits on what is returned), or commits it.
    pub fn leave(
        &self,
        conn: &Connection,
        succeeded: bool,
    ) -> Result<Option<Committed>, StoreError> {
        let mut open = self.open();
        let room = self.queued.load(Ordering::Acquire) > 0
            && open.waiting.len() + 1 < MAX_MEMBERS
            && open.since.is_some_and(|since| since.elapsed() < MAX_AGE);
        if room && succeeded {
            let (tell, committed) = oneshot::channel();
            open.waiting.push(tell);
            drop(open);
            self.left_open.notify_one();
            return Ok(Some(committed));
        }
        // A failed write waits for nothing, but it leaves the transaction
        // open only for writes that will see it committed.
        if room && !open.waiting.is_empty() {
            return Ok(None);
        }
        commit(conn, &mut open).map(|()| None)
    }

    /// Holding the writer: commits the group's transaction if one is open,
    /// before the connection is used for anything else.
    pub fn settle(&self, conn: &Connection) -> Result<(), StoreError> {
        commit(conn, &mut self.open())
    }

    /// Holding the writer: commits the group's transaction if it has been
    /// open for [`MAX_AGE`] (a younger one is still its writes' to end).
    pub fn settle_if_stale(&self, conn: &Connection) -> Result<(), StoreError> {
        let mut open = self.open();
        if open.since.is_some_and(|since| since.elapsed() >= MAX_AGE) {
            commit(conn, &mut open)?;
        }
        Ok(())
    }
}

fn commit(conn: &Connection, open: &mut Open) -> Result<(), StoreError> {
    if open.since.take().is_none() {
        return Ok(());
    }
    let outcome = conn.execute_batch("commit");
    if outcome.is_err() && !conn.is_autocommit() {
        // What could not be committed is not kept for the next group.
        let _ = conn.execute_batch("rollback");
    }
    let told = outcome.as_ref().map(|_| ()).map_err(ToString::to_string);
    for waiting in open.waiting.drain(..) {
        let _ = waiting.send(told.clone());
    }
    outcome.map_err(StoreError::from)
}

/// A write's answer once its group's commit is known.
pub(super) async fn committed(committed: Committed) -> Result<(), StoreError> {
    match committed.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(failure)) => Err(StoreError::Unavailable(DatabaseError::GroupCommit(failure))),
        // Dropped uncommitted: only when the database closes under it.
        Err(_) => Err(StoreError::Unavailable(DatabaseError::PoolClosed)),
    }
}
