//! The connections to PostgreSQL: deadpool over sqlx connections.
//!
//! sqlx's own pool pings every connection it takes back (a round trip, and
//! 17 % of Casebook's CPU per completion; docs/BENCHMARKS-postgres.md),
//! whether or not its work finished, because a connection whose work was
//! cancelled midway may still owe PostgreSQL a `ROLLBACK`. Here a connection
//! whose work finished goes straight back; only one handed back unfinished
//! is pinged first, which sends what it owes (sqlx sends a cancelled
//! transaction's `ROLLBACK` with the connection's next message) and proves
//! it alive. A connection idle for over a second is pinged before use.

use std::ops::{Deref, DerefMut};
use std::str::FromStr;
use std::time::Duration;

use deadpool::Runtime;
use deadpool::managed::{self, Metrics, Object, PoolError, RecycleError, RecycleResult};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};

use crate::store::{DatabaseError, StoreError};

/// How long a pooled connection may sit idle and still be handed out
/// without a ping first.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(1);

/// How long a request waits for a connection, and a connection to open or
/// answer a ping, before the database counts as unavailable.
const WAIT: Duration = Duration::from_secs(3);

pub(in crate::store) struct Manager {
    options: PgConnectOptions,
}

impl managed::Manager for Manager {
    type Type = PgConnection;
    type Error = sqlx::Error;

    async fn create(&self) -> Result<PgConnection, sqlx::Error> {
        self.options.connect().await
    }

    async fn recycle(
        &self,
        conn: &mut PgConnection,
        metrics: &Metrics,
    ) -> RecycleResult<sqlx::Error> {
        if metrics.last_used() > IDLE_BEFORE_PING {
            conn.ping().await.map_err(RecycleError::Backend)?;
        }
        Ok(())
    }
}

/// The process's connections to one database.
#[derive(Clone)]
pub(in crate::store) struct Pool {
    inner: managed::Pool<Manager>,
}

impl Pool {
    /// Opens no connection yet: the caller's first (the migrations') tells
    /// whether the URL and the server are right.
    pub fn new(url: &str, size: u32) -> anyhow::Result<Pool> {
        let options = PgConnectOptions::from_str(url)?;
        let inner = managed::Pool::builder(Manager { options })
            .max_size(usize::try_from(size)?)
            .queue_mode(managed::QueueMode::Lifo)
            .wait_timeout(Some(WAIT))
            .create_timeout(Some(WAIT))
            .recycle_timeout(Some(WAIT))
            .runtime(Runtime::Tokio1)
            .build()?;
        Ok(Pool { inner })
    }

    /// A connection, for one piece of work: hand it back with
    /// [`Pooled::release`].
    pub async fn acquire(&self) -> Result<Pooled, StoreError> {
        match self.inner.get().await {
            Ok(conn) => Ok(Pooled {
                conn: Some(conn),
                finished: false,
            }),
            Err(PoolError::Backend(error)) => Err(error.into()),
            Err(PoolError::Timeout(_)) => Err(StoreError::Unavailable(DatabaseError::PoolTimedOut)),
            Err(PoolError::Closed) => Err(StoreError::Unavailable(DatabaseError::PoolClosed)),
            Err(error) => Err(StoreError::Database(DatabaseError::Corrupt(format!(
                "the connection pool failed: {error}"
            )))),
        }
    }

    pub fn options(&self) -> &PgConnectOptions {
        &self.inner.manager().options
    }

    /// Connections open, and how many of them are idle.
    pub fn usage(&self) -> (u32, usize) {
        let status = self.inner.status();
        (
            u32::try_from(status.size).unwrap_or(u32::MAX),
            status.available,
        )
    }

    /// Closes the idle connections cleanly and refuses new work; one still
    /// in use closes when it is handed back.
    pub async fn close(&self) {
        let idle = self.inner.retain(|_, _| false).removed;
        self.inner.close();
        for conn in idle {
            let _ = conn.close().await;
        }
    }
}

/// A pooled connection. Dropped without [`Pooled::release`] (its work was
/// cancelled, or failed in the driver), it is pinged before it goes back.
pub(in crate::store) struct Pooled {
    conn: Option<Object<Manager>>,
    finished: bool,
}

impl Pooled {
    /// Hands the connection back and returns `result`. A connection whose
    /// work ended in a driver error is checked first, as a dropped one is.
    pub fn release<T>(mut self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        self.finished = !matches!(
            result,
            Err(StoreError::Unavailable(_) | StoreError::Database(_))
        );
        result
    }
}

impl Deref for Pooled {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        self.conn
            .as_ref()
            .expect("a pooled connection until dropped")
    }
}

impl DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.conn
            .as_mut()
            .expect("a pooled connection until dropped")
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        if self.finished {
            return; // back to the pool as it is
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            let _ = Object::take(conn); // closed, not pooled
            return;
        };
        runtime.spawn(async move {
            match tokio::time::timeout(WAIT, conn.ping()).await {
                Ok(Ok(())) => drop(conn),
                _ => drop(Object::take(conn)),
            }
        });
    }
}
