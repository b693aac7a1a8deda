//! The timeline as one ordered feed of changes, for live streams: where each
//! change stands (`seq`, from `session_changes`; see migration 0005) and, on
//! PostgreSQL, the announcements that tell every process to read it again
//! (see migration 0014 for why they follow the commit, not a trigger).

use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgListener, PgPoolOptions};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::{PostgresStore, SqliteStore, StoreError};

/// One change to a session: its place in the feed and the session it changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeRef {
    pub seq: i64,
    pub session_id: Uuid,
}

/// A row of `select seq, session_id from session_changes`.
impl From<(i64, Uuid)> for ChangeRef {
    fn from((seq, session_id): (i64, Uuid)) -> Self {
        Self { seq, session_id }
    }
}

/// What a database's listener reports.
#[derive(Debug)]
pub enum Announcement {
    /// Changes committed, by any process: read the timeline again.
    Changed,
    /// Listening (again): changes committed before this may have gone unheard.
    Listening,
    /// The listening connection is gone; it is being reopened.
    Lost,
}

#[async_trait]
pub trait ChangeLog: Send + Sync + 'static {
    /// Changes after `seq`, oldest first, at most `limit`. On PostgreSQL the
    /// few just before `seq` that may have committed after it (a sequence
    /// number is taken before commit) come too; see [`RECENT_OVERLAP`].
    async fn changes_after(&self, seq: i64, limit: u32) -> Result<Vec<ChangeRef>, StoreError>;

    /// Changes after `seq` and at the places of `pending` (places a reader
    /// found empty before `seq`: a change may take its place and commit
    /// after a later one did), oldest first, at most `limit`.
    async fn changes_since(
        &self,
        seq: i64,
        pending: &[i64],
        limit: u32,
    ) -> Result<Vec<ChangeRef>, StoreError>;

    /// The newest change's place; 0 when there is none.
    async fn last_change(&self) -> Result<i64, StoreError>;

    /// Announcements of changes made by any process sharing the database;
    /// `None` where only this process writes (SQLite), so it announces its
    /// own changes.
    fn announcements(&self) -> Option<mpsc::Receiver<Announcement>>;

    /// Tells every listening process that changes committed; where nobody
    /// else listens (SQLite), nothing.
    async fn announce(&self) -> Result<(), StoreError>;
}

/// How long before a change one that committed after it may have started:
/// how long a reader looks back for late commits.
pub const RECENT_OVERLAP: Duration = Duration::from_secs(10);
/// How many places back a reader looks for them, at most.
pub const RECENT_OVERLAP_PLACES: i64 = 1_000;

const CHANNEL: &str = "casebook_changes";
/// Wait between attempts to reopen a lost listening connection.
const RELISTEN_AFTER: Duration = Duration::from_secs(1);

#[async_trait]
impl ChangeLog for SqliteStore {
    async fn changes_after(&self, seq: i64, limit: u32) -> Result<Vec<ChangeRef>, StoreError> {
        self.db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(
                        "select seq, session_id from session_changes where seq > ? \
                         order by seq limit ?",
                    )?
                    .query_map(rusqlite::params![seq, limit], |r| {
                        Ok(ChangeRef {
                            seq: r.get(0)?,
                            session_id: r.get(1)?,
                        })
                    })?
                    .collect::<Result<Vec<_>, _>>()?)
            })
            .await
    }

    /// One writer takes the places in commit order: none is filled late.
    async fn changes_since(
        &self,
        seq: i64,
        _pending: &[i64],
        limit: u32,
    ) -> Result<Vec<ChangeRef>, StoreError> {
        self.changes_after(seq, limit).await
    }

    async fn last_change(&self) -> Result<i64, StoreError> {
        self.db
            .read(|conn| {
                Ok(conn
                    .prepare_cached("select coalesce(max(seq), 0) from session_changes")?
                    .query_row([], |r| r.get(0))?)
            })
            .await
    }

    fn announcements(&self) -> Option<mpsc::Receiver<Announcement>> {
        None
    }

    async fn announce(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[async_trait]
impl ChangeLog for PostgresStore {
    async fn changes_after(&self, seq: i64, limit: u32) -> Result<Vec<ChangeRef>, StoreError> {
        let rows: Vec<(i64, Uuid)> = sqlx::query_as(&format!(
            "select seq, session_id from session_changes \
             where seq > $1 - {RECENT_OVERLAP_PLACES} and (seq > $1 or at > \
                 (select at from session_changes where seq = $1) - interval '{} seconds') \
             order by seq limit $2",
            RECENT_OVERLAP.as_secs()
        ))
        .bind(seq)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(ChangeRef::from).collect())
    }

    async fn changes_since(
        &self,
        seq: i64,
        pending: &[i64],
        limit: u32,
    ) -> Result<Vec<ChangeRef>, StoreError> {
        let rows: Vec<(i64, Uuid)> = sqlx::query_as(
            "select seq, session_id from session_changes \
             where seq > $1 or seq = any($2) order by seq limit $3",
        )
        .bind(seq)
        .bind(pending)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(ChangeRef::from).collect())
    }

    async fn last_change(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("select coalesce(max(seq), 0)::int8 from session_changes")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    fn announcements(&self) -> Option<mpsc::Receiver<Announcement>> {
        let (sender, receiver) = mpsc::channel(1024);
        // A connection of its own, outside the request pool: it is held for
        // as long as the process runs.
        let options = (*self.pool.connect_options()).clone();
        tokio::spawn(async move {
            let pool = PgPoolOptions::new()
                .max_connections(1)
                // Fail fast when the database is gone, and try again.
                .acquire_timeout(Duration::from_secs(3))
                .connect_lazy_with(options);
            listen(pool, sender).await;
        });
        Some(receiver)
    }

    async fn announce(&self) -> Result<(), StoreError> {
        sqlx::query("select pg_notify($1, '')")
            .bind(CHANNEL)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// Listens until nobody wants the announcements, reopening the connection
/// whenever it is lost (the server restarted, the backend was terminated).
async fn listen(pool: sqlx::PgPool, sender: mpsc::Sender<Announcement>) {
    loop {
        match PgListener::connect_with(&pool).await {
            Ok(mut listener) => match listener.listen(CHANNEL).await {
                Ok(()) => {
                    if sender.send(Announcement::Listening).await.is_err() {
                        return;
                    }
                    tracing::info!("listening for changes from every process");
                    loop {
                        // `None` or an error: the connection is gone. Drop
                        // this listener altogether rather than trust it again.
                        // What a notification says does not matter: the
                        // timeline is read again.
                        match listener.try_recv().await {
                            Ok(Some(_)) => {}
                            Ok(None) => break,
                            Err(error) => {
                                tracing::debug!(%error, "listening connection failed");
                                break;
                            }
                        }
                        // A full queue already holds a `Changed`: one read
                        // of the timeline answers them all.
                        if let Err(mpsc::error::TrySendError::Closed(_)) =
                            sender.try_send(Announcement::Changed)
                        {
                            return;
                        }
                    }
                }
                Err(error) => tracing::debug!(%error, "cannot listen for changes"),
            },
            Err(error) => tracing::debug!(%error, "cannot open the listening connection"),
        }
        tracing::warn!("lost the connection that hears other processes' changes; reconnecting");
        if sender.send(Announcement::Lost).await.is_err() {
            return;
        }
        tokio::time::sleep(RELISTEN_AFTER).await;
    }
}
