//! The timeline as one ordered feed of changes, for live streams: where each
//! change stands (`seq`, from `session_changes`; see migration 0005) and, on
//! PostgreSQL, the announcements that tell every process to read it again
//! (see migration 0014 for why they follow the commit, not a trigger).

use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgListener, PgPoolOptions};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::engine::{Columns, Dialect, Engine, Statement, statement};
use super::{PostgresStore, SqliteStore, StoreError};

/// One change to a session: its place in the feed and the session it changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeRef {
    pub seq: i64,
    pub session_id: Uuid,
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

/// A row of `select seq, session_id from session_changes`.
fn change(row: &dyn Columns) -> Result<ChangeRef, StoreError> {
    Ok(ChangeRef {
        seq: row.int(0)?,
        session_id: row.id(1)?,
    })
}

/// [`ChangeLog::changes_after`]: up to `limit` changes after `seq`, and
/// those just before it that may have committed after it. The look back
/// does not count against `limit`, or a busy minute's late places would
/// crowd out the new ones. SQLite's one writer takes the places in commit
/// order, so none commits late there and it does not look back.
async fn changes_after(
    engine: &impl Engine,
    seq: i64,
    limit: u32,
) -> Result<Vec<ChangeRef>, StoreError> {
    let look_back = match engine.dialect() {
        Dialect::Sqlite => "false".to_owned(),
        Dialect::Postgres => format!(
            "seq > ?1 - {RECENT_OVERLAP_PLACES} and seq <= ?1 and at > \
             (select at from session_changes where seq = ?1) - interval '{} seconds'",
            RECENT_OVERLAP.as_secs()
        ),
    };
    let sql = format!(
        "select seq, session_id from (select seq, session_id from session_changes \
             where seq > ?1 order by seq limit ?2) newer \
         union all select seq, session_id from session_changes where {look_back} \
         order by seq"
    );
    engine
        .fetch_all(statement!(sql, Some(seq), limit), change)
        .await
}

async fn changes_since(
    engine: &impl Engine,
    seq: i64,
    pending: &[i64],
    limit: u32,
) -> Result<Vec<ChangeRef>, StoreError> {
    let mut since = Statement::new("select seq, session_id from session_changes where seq > ");
    let after = since.bind(Some(seq));
    since.push(&after);
    for (i, place) in pending.iter().enumerate() {
        let place = since.bind(Some(*place));
        since.push(if i == 0 { " or seq in (" } else { ", " });
        since.push(&place);
    }
    if !pending.is_empty() {
        since.push(")");
    }
    let limit = since.bind(limit);
    since.push(&format!(" order by seq limit {limit}"));
    engine.fetch_all(since, change).await
}

async fn last_change(engine: &impl Engine) -> Result<i64, StoreError> {
    let sql = "select cast(coalesce(max(seq), 0) as bigint) from session_changes";
    let last = engine.lookup(statement!(sql), |row| row.int(0)).await?;
    Ok(last.unwrap_or(0))
}

#[async_trait]
impl ChangeLog for SqliteStore {
    async fn changes_after(&self, seq: i64, limit: u32) -> Result<Vec<ChangeRef>, StoreError> {
        changes_after(self, seq, limit).await
    }

    async fn changes_since(
        &self,
        seq: i64,
        pending: &[i64],
        limit: u32,
    ) -> Result<Vec<ChangeRef>, StoreError> {
        changes_since(self, seq, pending, limit).await
    }

    async fn last_change(&self) -> Result<i64, StoreError> {
        last_change(self).await
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
        changes_after(self, seq, limit).await
    }

    async fn changes_since(
        &self,
        seq: i64,
        pending: &[i64],
        limit: u32,
    ) -> Result<Vec<ChangeRef>, StoreError> {
        changes_since(self, seq, pending, limit).await
    }

    async fn last_change(&self) -> Result<i64, StoreError> {
        last_change(self).await
    }

    fn announcements(&self) -> Option<mpsc::Receiver<Announcement>> {
        let (sender, receiver) = mpsc::channel(1024);
        // A connection of its own, outside the request pool: it is held for
        // as long as the process runs.
        let options = self.pool.options().clone();
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
        self.execute(statement!("select pg_notify(?1, '')", CHANNEL))
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
