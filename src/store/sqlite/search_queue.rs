//! The search index (`sessions_fts`), brought up to date off the write path.
//!
//! A change only queues its session (the triggers of migration 0012); the
//! indexer replaces the queued documents in batches, one transaction each,
//! on the writer connection in a blocking task. Replacing a document was
//! most of a completion's cost, and a batch shares FTS5's per-transaction
//! work (a new index segment, merging) among its documents. A search first
//! indexes whatever this process queued, so it always sees every change.
//! Another process's changes (`casebook seed`, `user add`) are found by a
//! poll.
//!
//! Each batch adds a segment to the index. The indexer merges segments
//! itself, a few pages after each batch, where FTS5 would merge many pages
//! at once and hold every write up meanwhile (see [`MERGE_PAGES_PER_BATCH`]).
//! Those steps merge only where enough segments pile up, so after a burst
//! a word's matches are still spread over several segments, which every
//! search reads and merges; while no writes come, the indexer merges
//! everything in short steps: at 100,000 sessions a compact index cut the
//! CPU of a search by a fifth.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::Notify;

use super::database::Database;
use crate::store::StoreError;

/// Documents replaced per transaction: enough to share the transaction's
/// cost, few enough that the writes waiting behind a batch (all of them:
/// it holds the writer) wait a few milliseconds. Batches of 32 held it for
/// 15-25 ms under sustained completions; batches of 8 cut that to a
/// quarter and, measured A/B with wrk, cost less CPU per completion too
/// (149-164 against 176-183 µs; docs/BENCHMARKS.md).
pub(super) const BATCH: usize = 8;
/// After a write wakes the indexer, how long it lets more writes queue.
const GATHER: Duration = Duration::from_millis(10);
/// How often the indexer looks for what other processes queued, and
/// whether writes have stopped so it can merge the index.
const POLL: Duration = Duration::from_secs(1);
/// Pages one merge step writes at most: a few milliseconds of holding the
/// write lock, so a write that comes during the merge hardly waits.
const MERGE_PAGES: i64 = 64;
/// Pages of merging after each batch. FTS5's own merging is off (migration
/// 0013): it merged every 64 leaf pages written, in one piece, and one
/// batch in a hundred held the writer 20-35 ms. Sixteen pages a batch keep
/// up under sustained writes (no level reached FTS5's crisis merge in 30 s
/// of 9,000 notes a second) and cost a batch about half a millisecond.
const MERGE_PAGES_PER_BATCH: i64 = 16;

/// What this process wrote, and how much of it the index has caught up with.
#[derive(Default)]
pub(super) struct SearchQueue {
    written: AtomicU64,
    indexed: AtomicU64,
    wake: Notify,
}

impl SearchQueue {
    /// Called after every write this process commits.
    pub fn note_write(&self) {
        self.written.fetch_add(1, Ordering::AcqRel);
        self.wake.notify_one();
    }

    /// The writes so far, when the index has not caught up with all of them.
    pub fn behind(&self) -> Option<u64> {
        let written = self.written.load(Ordering::Acquire);
        (self.indexed.load(Ordering::Acquire) < written).then_some(written)
    }

    pub fn caught_up_with(&self, written: u64) {
        self.indexed.fetch_max(written, Ordering::AcqRel);
    }

    fn written(&self) -> u64 {
        self.written.load(Ordering::Acquire)
    }
}

/// Starts the indexer of `db`'s queue; it ends when the database is closed
/// or dropped.
pub(super) fn start(db: &Arc<Database>) -> tokio::task::JoinHandle<()> {
    let queue = db.search_queue();
    let db: Weak<Database> = Arc::downgrade(db);
    tokio::spawn(async move {
        let mut poll = tokio::time::interval(POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut written_at_last_poll = queue.written();
        let mut merged = false;
        loop {
            let polled = tokio::select! {
                () = queue.wake.notified() => {
                    tokio::time::sleep(GATHER).await;
                    false
                }
                _ = poll.tick() => true,
            };
            let Some(db) = db.upgrade() else { return };
            let outcome = if polled {
                db.index_anything_queued().await
            } else {
                db.index_queued().await
            };
            if let Err(error) = outcome {
                tracing::warn!(%error, "the search index could not be brought up to date; retrying");
            }
            if polled {
                let written = queue.written();
                let quiet = written == written_at_last_poll;
                written_at_last_poll = written;
                merged &= quiet;
                if quiet && !merged {
                    merged = merge_while_quiet(&db, &queue).await;
                }
            }
        }
    })
}

/// Merges the index's segments step by step until there is nothing left to
/// merge (true) or a write comes (false: the merge goes on when writes stop
/// again).
async fn merge_while_quiet(db: &Database, queue: &SearchQueue) -> bool {
    let written = queue.written();
    while queue.written() == written {
        match db.merge_search_index().await {
            Ok(true) => {}
            Ok(false) => return true,
            Err(error) => {
                tracing::warn!(%error, "merging the search index failed; retrying later");
                return false;
            }
        }
    }
    false
}

/// One step of merging the index's segments into one; returns whether it
/// did any work. A negative page count asks FTS5 to merge segments of every
/// level, however few; it says it merged by changing rows.
pub(super) fn merge_step(conn: &mut Connection) -> Result<usize, StoreError> {
    let before = conn.total_changes();
    conn.prepare_cached(MERGE)?.execute([-MERGE_PAGES])?;
    // FTS5's own test for "no work done": fewer than two changed rows.
    Ok(usize::from(conn.total_changes() - before >= 2))
}

/// FTS5's command to merge up to `?` pages of the index's segments.
const MERGE: &str = "insert into sessions_fts (sessions_fts, rank) values ('merge', ?)";

/// Whether anything is queued, by any process.
pub(super) fn anything_queued_store(conn: &Connection) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("select exists (select 1 from sessions_fts_pending)")?
        .query_row([], |row| row.get(0))?)
}

/// Replaces up to [`BATCH`] queued documents in one transaction and takes
/// them off the queue; returns how many it took.
///
/// Each step is one statement for the whole batch: FTS5 writes what it
/// gathered in memory to disk (a new index segment, then merging) whenever
/// a statement in a transaction starts, so a statement per document made a
/// segment per document, and most of the indexer's work was that.
pub(super) fn index_batch(conn: &mut Connection) -> Result<usize, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // The batch is every queued session up to this one: nothing else can
    // queue while this transaction holds the write lock.
    let last: Option<(i64, i64)> = tx
        .prepare_cached(
            "select max(seq), count(*) from \
             (select seq from sessions_fts_pending order by seq limit ?)",
        )?
        .query_row([BATCH as i64], |row| {
            Ok(row.get::<_, Option<i64>>(0)?.zip(Some(row.get(1)?)))
        })?;
    let Some((last, taken)) = last else {
        return Ok(0);
    };
    for step in [
        REMOVE_CHANGED,
        INSERT_ABSENT,
        "delete from sessions_fts_pending where seq <= ?1",
    ] {
        tx.prepare_cached(step)?.execute([last])?;
    }
    // A positive count merges only levels with several segments (FTS5's
    // `usermerge`, 4), as automatic merging did.
    tx.prepare_cached(MERGE)?.execute([MERGE_PAGES_PER_BATCH])?;
    tx.commit()?;
    Ok(taken as usize)
}

/// Takes each batched session's document out of the index unless its text
/// is as it was: replacing a document costs FTS5 far more than comparing it.
const REMOVE_CHANGED: &str = "\
    delete from sessions_fts \
     where rowid in (select seq from sessions_fts_pending where seq <= ?1) \
       and not exists ( \
        select 1 from session_documents d, sessions_fts f \
         where d.seq = sessions_fts.rowid and f.rowid = d.seq \
           and (f.title, f.reference, f.customer, f.problem, f.plan, f.findings, f.notes, \
                f.outcome_notes, f.summary, f.owner) \
            is (d.title, d.reference, d.customer, d.problem, d.plan, d.findings, d.notes, \
                d.outcome_notes, d.summary, d.owner))";

/// Indexes each batched session that is not in the index (new, or just
/// taken out above); a deleted session has no document and is skipped.
const INSERT_ABSENT: &str = "\
    insert into sessions_fts (rowid, title, reference, customer, problem, plan, findings, \
                              notes, outcome_notes, summary, owner) \
    select d.* from sessions_fts_pending p join session_documents d on d.seq = p.seq \
     where p.seq <= ?1 and not exists (select 1 from sessions_fts where rowid = p.seq)";
