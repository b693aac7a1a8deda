//! PostgreSQL: how Casebook scales past one machine. Any number of stateless
//! Casebook processes can share one database; the conditional writes keep
//! races to exactly one winner across processes.

mod engine;
mod pool;
mod search;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Connection;
use uuid::Uuid;

use super::engine::Dialect;
use super::sessions;
use super::{PoolUsage, SessionStore, StoreError};
use crate::domain::{Event, ListQuery, Page, Session, Status};
use engine::{PgConn, finish};

pub struct PostgresStore {
    // Every store trait runs on this one pool (see store::engine).
    pub(super) pool: pool::Pool,
    /// The common words' counts, from ANALYZE's statistics (see search.rs).
    common_words: search::CommonWords,
}

/// How the PostgreSQL store runs; the defaults are the server's.
#[derive(Debug, Clone, Copy)]
pub struct PostgresOptions {
    /// Connections the process keeps to the database, at most.
    pub pool_size: u32,
}

impl PostgresOptions {
    /// More connections than the database can run at once only queue inside
    /// PostgreSQL, and fewer let slow statements (reports) hold up the rest.
    /// On 2 cores at 32 concurrent requests, the list's p99 was 15–16 ms
    /// with 4 connections, 17–21 with 8, 25–27 with 16 and 34–37 with 32;
    /// with 4, reports waited past the pool's 3 s and failed, with 8 none
    /// did (docs/BENCHMARKS-postgres.md). A larger database server may want
    /// more: `--postgres-pool-size`.
    pub const DEFAULT_POOL_SIZE: u32 = 8;
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            pool_size: Self::DEFAULT_POOL_SIZE,
        }
    }
}

impl PostgresStore {
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        Self::connect_with(url, PostgresOptions::default()).await
    }

    pub async fn connect_with(url: &str, options: PostgresOptions) -> anyhow::Result<Self> {
        let pool = pool::Pool::new(url, options.pool_size)?;
        // The first connection: a wrong URL or an unreachable server fails
        // here, at start-up, rather than at the first request.
        let mut conn = pool.acquire().await?;
        sqlx::migrate!("./migrations/postgres")
            .run(&mut *conn)
            .await?;
        conn.release(Ok(()))?;
        Ok(Self {
            pool,
            common_words: search::CommonWords::default(),
        })
    }
}

#[async_trait]
impl SessionStore for PostgresStore {
    async fn insert(&self, session: &Session, event: &Event) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin().await?;
        let done = sessions::insert(&mut PgConn(&mut tx), session, event).await;
        let done = finish(tx, done).await;
        conn.release(done)
    }

    async fn get(&self, id: Uuid) -> Result<Option<Session>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let session = sessions::load(&mut PgConn(&mut conn), id).await;
        conn.release(session)
    }

    async fn list(&self, query: &ListQuery) -> Result<Page<Session>, StoreError> {
        let terms = sessions::search_terms(Dialect::Postgres, query);
        let mut conn = self.pool.acquire().await?;
        let page = sessions::list(&mut PgConn(&mut conn), query, terms.as_deref()).await;
        conn.release(page)
    }

    async fn load_steps(&self, sessions: &mut [Session]) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        let loaded = sessions::load_steps(&mut PgConn(&mut conn), sessions).await;
        conn.release(loaded)
    }

    async fn events(&self, id: Uuid) -> Result<Vec<Event>, StoreError> {
        sessions::events(self, id).await
    }

    async fn apply(&self, event: &Event) -> Result<Session, StoreError> {
        let mut conn = self.pool.acquire().await?;
        match sessions::apply_in_one_statement(&mut PgConn(&mut conn), event).await {
            Ok(None) => {}
            one => return conn.release(one.map(|session| session.expect("matched above"))),
        }
        // Refused, or wanted by a webhook: again in a transaction, on the
        // same connection.
        let mut tx = conn.begin().await?;
        let done = sessions::apply(&mut PgConn(&mut tx), event).await;
        let done = finish(tx, done).await;
        conn.release(done)
    }

    async fn delete_prepared(&self, id: Uuid) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin().await?;
        let done = sessions::delete_prepared(&mut PgConn(&mut tx), id).await;
        let done = finish(tx, done).await;
        conn.release(done)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        super::sessions::ping(self).await
    }

    async fn count_by_status(&self) -> Result<Vec<(Status, u64)>, StoreError> {
        super::sessions::count_by_status(self).await
    }

    async fn idle_active(
        &self,
        idle_since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Uuid>, StoreError> {
        super::sessions::idle_active(self, idle_since, limit).await
    }

    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        super::sessions::try_lease(self, name, holder, now, until).await
    }

    fn pool_usage(&self) -> Vec<PoolUsage> {
        let (size, idle) = self.pool.usage();
        vec![PoolUsage {
            pool: "postgres",
            size,
            idle,
        }]
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
