//! Live changes: every change to a session, from this process or (on
//! PostgreSQL) any other, published to the open streams of this process.
//!
//! Writers never wait on streams: a write only wakes the feed (SQLite) or
//! commits a row whose trigger notifies every process (PostgreSQL). The feed
//! task reads each changed session once and broadcasts it; each stream holds
//! a receiver of a bounded broadcast channel, and one that falls behind by
//! more than the buffer is dropped, to reconnect with `Last-Event-ID`.
//!
//! A change's id is its place in the database's timeline (`seq`), the same
//! for every process, so a client may reconnect to any of them and be
//! replayed what it missed from the timeline itself.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::{Notify, broadcast, watch};

use crate::domain::Session;
use crate::store::{Announcement, ChangeLog, ChangeRef, SessionStore, StoreError};

/// Changes a stream may fall behind by before it is dropped.
pub const STREAM_BUFFER: usize = 256;
/// Missed changes replayed to a reconnecting client; more, and it reloads.
pub const BACKLOG: usize = 256;
/// Changes read from the timeline at a time while catching up.
const BATCH: u32 = 100;
/// After a write wakes the feed, how long it lets more writes come, so a
/// burst is read in one go rather than one read per write (at thousands of
/// writes a second the feed's reads were 3 % of the server's CPU).
const GATHER: Duration = Duration::from_millis(5);

/// A session as one of its changes left it, with the change's id.
#[derive(Debug)]
pub struct SessionChange {
    pub seq: i64,
    pub session: Session,
    /// The session's wire form, made once however many streams send it.
    rendered: OnceLock<Arc<str>>,
}

impl SessionChange {
    pub fn new(seq: i64, session: Session) -> Self {
        Self {
            seq,
            session,
            rendered: OnceLock::new(),
        }
    }

    /// The session as `render` writes it; rendered by the first caller only.
    pub fn rendered(&self, render: impl FnOnce(&Session) -> String) -> Arc<str> {
        self.rendered
            .get_or_init(|| Arc::from(render(&self.session)))
            .clone()
    }
}

/// What a reconnecting client missed.
#[derive(Debug)]
pub enum Replay {
    /// Each changed session once, as it is now, oldest change first.
    Changes(Vec<Arc<SessionChange>>),
    /// More than the backlog, or an id this database never issued: reload,
    /// then carry on from `latest`, the newest change now.
    TooOld { latest: i64 },
}

/// The publishing side of live changes, shared by the service and the streams.
#[derive(Clone)]
pub struct Live(Arc<Inner>);

struct Inner {
    sender: broadcast::Sender<Arc<SessionChange>>,
    /// Woken by every write of this process (used where no listener hears them).
    written: Notify,
    /// Changes of other processes reach this one (always true on SQLite).
    listening: AtomicBool,
    closing: watch::Sender<bool>,
    store: Arc<dyn SessionStore>,
    log: Arc<dyn ChangeLog>,
}

impl Live {
    pub fn new(store: Arc<dyn SessionStore>, log: Arc<dyn ChangeLog>) -> Self {
        let (sender, _) = broadcast::channel(STREAM_BUFFER);
        Self(Arc::new(Inner {
            sender,
            written: Notify::new(),
            listening: AtomicBool::new(false),
            closing: watch::channel(false).0,
            store,
            log,
        }))
    }

    /// Every change from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<SessionChange>> {
        self.0.sender.subscribe()
    }

    /// Open streams.
    pub fn subscribers(&self) -> usize {
        self.0.sender.receiver_count()
    }

    /// Whether other processes' changes reach this one now.
    pub fn is_listening(&self) -> bool {
        self.0.listening.load(Ordering::Relaxed)
    }

    /// Turns true when the server shuts down: streams end then, so that
    /// open connections do not hold the shutdown up.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.0.closing.subscribe()
    }

    pub fn close(&self) {
        self.0.closing.send_replace(true);
    }

    /// Called after each write of this process; returns at once.
    pub(super) fn written(&self) {
        self.0.written.notify_one();
    }

    /// Runs the feed until the process ends.
    pub fn start(&self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(self.clone().feed())
    }

    async fn feed(self) {
        let mut last = loop {
            match self.0.log.last_change().await {
                Ok(seq) => break seq,
                Err(error) => {
                    tracing::warn!(%error, "cannot read the timeline; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        let Some(mut announcements) = self.0.log.announcements() else {
            // Only this process writes: it wakes the feed after each write.
            self.0.listening.store(true, Ordering::Relaxed);
            loop {
                self.0.written.notified().await;
                tokio::time::sleep(GATHER).await;
                last = self.catch_up(last).await;
            }
        };
        while let Some(announcement) = announcements.recv().await {
            match announcement {
                Announcement::Changed(change) => {
                    self.publish(change).await;
                    last = last.max(change.seq);
                }
                Announcement::Listening => {
                    self.0.listening.store(true, Ordering::Relaxed);
                    // What committed while nobody listened.
                    last = self.catch_up(last).await;
                }
                Announcement::Lost => self.0.listening.store(false, Ordering::Relaxed),
            }
        }
    }

    /// Publishes every change after `last` in the timeline; returns the newest.
    async fn catch_up(&self, mut last: i64) -> i64 {
        loop {
            let batch = match self.0.log.changes_after(last, BATCH).await {
                Ok(batch) => batch,
                Err(error) => {
                    tracing::warn!(%error, "cannot read the latest changes");
                    return last;
                }
            };
            let newest = batch.iter().map(|c| c.seq).max().unwrap_or(last);
            for change in &batch {
                self.publish(*change).await;
            }
            if newest <= last || batch.len() < BATCH as usize {
                return newest.max(last);
            }
            last = newest;
        }
    }

    async fn publish(&self, change: ChangeRef) {
        // Nobody is watching: nothing to read.
        if self.0.sender.receiver_count() == 0 {
            return;
        }
        match self.0.store.get(change.session_id).await {
            Ok(Some(session)) => {
                let _ = self
                    .0
                    .sender
                    .send(Arc::new(SessionChange::new(change.seq, session)));
            }
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "cannot read a changed session"),
        }
    }

    /// A client whose last id is not one of ours starts over.
    pub async fn unknown_id(&self) -> Result<Replay, StoreError> {
        let latest = self.0.log.last_change().await?;
        Ok(Replay::TooOld { latest })
    }

    /// What a client that last saw change `seq` missed.
    pub async fn missed_since(&self, seq: i64) -> Result<Replay, StoreError> {
        let changes = self
            .0
            .log
            .changes_after(seq, (2 * BACKLOG + 1) as u32)
            .await?;
        let newer = changes.iter().filter(|c| c.seq > seq).count();
        if newer > BACKLOG {
            let latest = self.0.log.last_change().await?;
            return Ok(Replay::TooOld { latest });
        }
        if newer == 0 {
            let latest = self.0.log.last_change().await?;
            if seq > latest {
                return Ok(Replay::TooOld { latest });
            }
        }
        // Each session once, at its latest change: the client wants the
        // sessions as they are, not every state they went through.
        let mut latest: HashMap<_, i64> = HashMap::new();
        for change in &changes {
            let seen = latest.entry(change.session_id).or_insert(change.seq);
            *seen = (*seen).max(change.seq);
        }
        let mut latest: Vec<_> = latest.into_iter().collect();
        latest.sort_by_key(|&(_, seq)| seq);
        let mut replay = Vec::with_capacity(latest.len());
        for (session_id, seq) in latest {
            if let Some(session) = self.0.store.get(session_id).await? {
                replay.push(Arc::new(SessionChange::new(seq, session)));
            }
        }
        Ok(Replay::Changes(replay))
    }
}
