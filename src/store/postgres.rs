//! PostgreSQL: how Casebook scales past one machine. Any number of stateless
//! Casebook processes can share one database; the conditional writes keep
//! races to exactly one winner across processes.

mod engine;
mod reports;
mod search;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnection, PgPoolOptions};
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::engine::Statement;
use super::sessions::{self, SESSION_COLUMNS, STEP_COLUMNS, session, step};
use super::writes::Write;
use super::{
    PoolUsage, SessionStore, StoreError, attach_steps, explain_miss, page_cursor, status_condition,
};
use crate::domain::{Event, ListQuery, Page, Session, Status, Step};

pub struct PostgresStore {
    // Every store trait runs on this one pool (see store::engine).
    pub(super) pool: PgPool,
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
        let pool = PgPoolOptions::new()
            .max_connections(options.pool_size)
            // Fail fast when the database is gone rather than hang a request.
            .acquire_timeout(Duration::from_secs(3))
            .connect(url)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self {
            pool,
            common_words: search::CommonWords::default(),
        })
    }
}

async fn load(conn: &mut PgConnection, id: Uuid) -> Result<Option<Session>, StoreError> {
    let sql = format!("select {SESSION_COLUMNS} from sessions s where id = $1");
    let Some(row) = sqlx::query(&sql)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let mut sessions = [session(&row)?];
    let steps = load_steps(conn, &[id]).await?;
    attach_steps(&mut sessions, steps);
    let [session] = sessions;
    Ok(Some(session))
}

async fn load_steps(
    conn: &mut PgConnection,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, Step)>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "select {STEP_COLUMNS} from session_steps \
         where session_id = any($1) order by session_id, position"
    );
    let rows = sqlx::query(&sql).bind(ids).fetch_all(&mut *conn).await?;
    rows.iter().map(|row| step(row)).collect()
}

/// Runs one statement of the engine seam in a transaction; the rows it changed.
async fn execute(conn: &mut PgConnection, statement: Statement<'_>) -> Result<u64, StoreError> {
    let sql = engine::sql(&statement);
    let done = engine::bind(&sql, &statement.args).execute(conn).await?;
    Ok(done.rows_affected())
}

/// A session's steps, in one statement.
async fn insert_steps(
    conn: &mut PgConnection,
    session_id: Uuid,
    steps: &[Step],
) -> Result<(), StoreError> {
    if steps.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = steps.iter().map(|s| s.id).collect();
    let positions: Vec<i32> = steps.iter().map(|s| s.position as i32).collect();
    let texts: Vec<&str> = steps.iter().map(|s| s.text.as_str()).collect();
    sqlx::query(
        "insert into session_steps (id, session_id, position, text) \
         select id, $2, position, text \
         from unnest($1::uuid[], $3::int[], $4::text[]) as s(id, position, text)",
    )
    .bind(&ids)
    .bind(session_id)
    .bind(&positions)
    .bind(&texts)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[async_trait]
impl SessionStore for PostgresStore {
    async fn insert(&self, session: &Session, event: &Event) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        execute(&mut tx, sessions::insert_session(session)).await?;
        insert_steps(&mut tx, session.id, &session.steps).await?;
        // The event and its webhook deliveries, in one statement.
        super::webhooks::postgres_insert_event_and_enqueue(&mut tx, event, session).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get(&self, id: Uuid) -> Result<Option<Session>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        load(&mut conn, id).await
    }

    async fn list(&self, query: &ListQuery) -> Result<Page<Session>, StoreError> {
        let mut sql = QueryBuilder::<Postgres>::new(format!(
            "select {SESSION_COLUMNS} from sessions s where true"
        ));
        if let Some(status) = query.status {
            sql.push(" and ").push(status_condition(status));
        }
        if let Some(outcome) = query.outcome {
            sql.push(" and outcome = ").push_bind(outcome.as_str());
        }
        if let Some(owner) = &query.owner {
            sql.push(" and owner = ").push_bind(owner.clone());
        }
        if let Some(search) = &query.search {
            let terms: Vec<String> = search.terms().iter().map(|t| format!("{t}:*")).collect();
            sql.push(" and search @@ to_tsquery('simple', ")
                .push_bind(terms.join(" & "))
                .push(")");
        }
        if let Some(after) = query.after {
            sql.push(" and (created_at, id) < (")
                .push_bind(after.created_at)
                .push(", ")
                .push_bind(after.id)
                .push(")");
        }
        sql.push(" order by created_at desc, id desc limit ")
            .push_bind(i64::from(query.limit) + 1);

        let mut conn = self.pool.acquire().await?;
        // A search is planned for its words (see postgres/search.rs).
        let rows = sql
            .build()
            .persistent(query.search.is_none())
            .fetch_all(&mut *conn)
            .await?;
        let mut items = rows
            .iter()
            .map(|row| session(row))
            .collect::<Result<Vec<_>, _>>()?;
        let next = page_cursor(&mut items, query.limit);
        if query.with_steps {
            let ids: Vec<Uuid> = items.iter().map(|s| s.id).collect();
            let steps = load_steps(&mut conn, &ids).await?;
            attach_steps(&mut items, steps);
        }
        Ok(Page { items, next })
    }

    async fn load_steps(&self, sessions: &mut [Session]) -> Result<(), StoreError> {
        let ids: Vec<Uuid> = sessions.iter().map(|s| s.id).collect();
        let mut conn = self.pool.acquire().await?;
        let steps = load_steps(&mut conn, &ids).await?;
        attach_steps(sessions, steps);
        Ok(())
    }

    async fn events(&self, id: Uuid) -> Result<Vec<Event>, StoreError> {
        super::sessions::events(self, id).await
    }

    async fn apply(&self, event: &Event) -> Result<Session, StoreError> {
        let id = event.session_id;
        let write = Write::of(event)?;
        // See the module docs of `store`: never earlier than the previous change.
        let update = write.session_update("greatest(?1, updated_at + interval '1 microsecond')");
        let update_sql = engine::sql(&update);
        let mut tx = self.pool.begin().await?;
        let updated = engine::bind(&update_sql, &update.args)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = updated else {
            // Re-read in the same transaction, as the SQLite store does, so
            // the conflict names the state that refused the change.
            let current = load(&mut tx, id).await?;
            tx.rollback().await?;
            return Err(explain_miss(current));
        };
        let session = session(&row)?;
        let at = session.updated_at;
        if let Some(step) = write.step(at) {
            let step_sql = engine::sql(&step);
            let changed = engine::bind(&step_sql, &step.args)
                .execute(&mut *tx)
                .await?;
            if changed.rows_affected() == 0 {
                tx.rollback().await?;
                return Err(StoreError::StepNotFound);
            }
        }
        if let Some(plan) = &write.plan {
            execute(&mut tx, sessions::delete_steps(id)).await?;
            insert_steps(&mut tx, id, plan).await?;
        }
        let steps = load_steps(&mut tx, &[id]).await?;
        let mut one = [session];
        attach_steps(&mut one, steps);
        let [session] = one;
        // The event and its webhook deliveries (with the session as it is
        // now), in one statement.
        let event = &Event {
            at,
            ..event.clone()
        };
        super::webhooks::postgres_insert_event_and_enqueue(&mut tx, event, &session).await?;
        tx.commit().await?;
        Ok(session)
    }

    async fn delete_prepared(&self, id: Uuid) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        if execute(&mut tx, sessions::delete_prepared(id)).await? == 0 {
            // Re-read in the same transaction, as after any conditional write.
            let current = load(&mut tx, id).await?;
            tx.rollback().await?;
            return Err(explain_miss(current));
        }
        tx.commit().await?;
        Ok(())
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
        vec![PoolUsage {
            pool: "postgres",
            size: self.pool.size(),
            idle: self.pool.num_idle(),
        }]
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
