//! Live changes: every change to a session, from this process or (on
//! PostgreSQL) any other, published to the open streams of this process.
//!
//! Writers never wait on streams: a write only wakes the feed (SQLite) or
//! the announcer, which tells every process once per burst that changes
//! committed (PostgreSQL: NOTIFY after the commit, never inside it; see
//! migration 0014). The feed task reads the timeline from where it stopped,
//! reads each changed session once and broadcasts it; each stream holds
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

use tokio::sync::{Notify, broadcast, mpsc, watch};
use tokio::time::Instant;

use crate::domain::Session;
use crate::store::{Announcement, ChangeLog, ChangeRef, SessionStore, StoreError};

mod cursor;

use cursor::Cursor;

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
/// With streams open, how often the timeline is read even unannounced:
/// writes of a process that stopped before announcing them, or of a tool
/// that does not announce, still reach the streams.
const POLL: Duration = Duration::from_secs(1);

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
    /// Woken by every write of this process.
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
        let mut cursor = loop {
            match self.0.log.last_change().await {
                Ok(seq) => break Cursor::at(seq),
                Err(error) => {
                    tracing::warn!(%error, "cannot read the timeline; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        let Some(announcements) = self.0.log.announcements() else {
            // Only this process writes: it wakes the feed after each write.
            self.0.listening.store(true, Ordering::Relaxed);
            loop {
                self.0.written.notified().await;
                tokio::time::sleep(GATHER).await;
                self.catch_up(&mut cursor).await;
            }
        };
        tokio::spawn(self.clone().announce_writes());
        self.follow(announcements, cursor).await;
    }

    /// Tells every process, this one included, that this process's writes
    /// committed: once per burst, so that announcing costs nothing per write.
    async fn announce_writes(self) {
        loop {
            self.0.written.notified().await;
            tokio::time::sleep(GATHER).await;
            if let Err(error) = self.0.log.announce().await {
                tracing::warn!(%error, "cannot announce changes to other processes");
            }
        }
    }

    /// Reads the timeline whenever a process announces changes (and, with
    /// streams open, every [`POLL`] anyway).
    async fn follow(self, mut announcements: mpsc::Receiver<Announcement>, mut cursor: Cursor) {
        let mut poll = tokio::time::interval_at(Instant::now() + POLL, POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                announcement = announcements.recv() => {
                    let Some(mut announcement) = announcement else { return };
                    // What queued meanwhile is answered by the same read.
                    loop {
                        match announcement {
                            Announcement::Changed => {}
                            // What committed while nobody listened is read below.
                            Announcement::Listening => self.0.listening.store(true, Ordering::Relaxed),
                            Announcement::Lost => self.0.listening.store(false, Ordering::Relaxed),
                        }
                        match announcements.try_recv() {
                            Ok(next) => announcement = next,
                            Err(_) => break,
                        }
                    }
                    self.catch_up(&mut cursor).await;
                },
                _ = poll.tick() => {
                    if self.subscribers() > 0 {
                        self.catch_up(&mut cursor).await;
                    }
                }
            }
        }
    }

    /// Publishes every change the timeline holds past `cursor`.
    async fn catch_up(&self, cursor: &mut Cursor) {
        loop {
            let pending = cursor.pending();
            let read = match self
                .0
                .log
                .changes_since(cursor.last(), &pending, BATCH)
                .await
            {
                Ok(read) => read,
                Err(error) => {
                    tracing::warn!(%error, "cannot read the latest changes");
                    return;
                }
            };
            for change in cursor.advance(&read, std::time::Instant::now()) {
                self.publish(change).await;
            }
            if read.len() < BATCH as usize {
                return;
            }
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
