//! PostgreSQL under the store's one set of statements (see
//! `store::engine`): placeholders become `$n`, and a transaction's read
//! locks its row (`for update`), since other writers keep writing.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use sqlx::postgres::{PgArguments, PgConnection, PgRow};
use sqlx::query::Query;
use sqlx::types::Json;
use sqlx::{Connection, Postgres, Row};
use uuid::Uuid;

use super::PostgresStore;
use crate::store::StoreError;
use crate::store::engine::{
    Columns, Conn, Decode, Dialect, Engine, Statement, TxStep, Value, read_then_write, run_steps,
};

/// The statement's SQL in PostgreSQL's placeholders.
pub(in crate::store) fn sql(statement: &Statement<'_>) -> String {
    statement.sql.replace('?', "$")
}

pub(in crate::store) fn bind<'q>(
    sql: &'q str,
    args: &[Value<'q>],
) -> Query<'q, Postgres, PgArguments> {
    let mut query = sqlx::query(sql);
    for arg in args {
        query = match *arg {
            Value::Text(text) => query.bind(text),
            Value::Id(id) => query.bind(id),
            Value::Time(at) => query.bind(at),
            Value::Int(n) => query.bind(n),
            Value::Flag(flag) => query.bind(flag),
            Value::Names(names) => query.bind(names),
            Value::Texts(texts) => query.bind(texts),
            Value::Json(text) => query.bind(Json(json(text))),
        };
    }
    query
}

/// JSON text as sqlx binds `jsonb`, without parsing it into values.
fn json(text: &str) -> Box<RawValue> {
    // The store binds JSON it serialized itself.
    RawValue::from_string(text.to_owned())
        .unwrap_or_else(|_| RawValue::from_string("null".to_owned()).expect("null is JSON"))
}

/// A connection (or a transaction on it) as the store's shared work sees it.
pub(in crate::store) struct PgConn<'c>(pub &'c mut PgConnection);

impl Conn for PgConn<'_> {
    const DIALECT: Dialect = Dialect::Postgres;

    async fn first<T>(
        &mut self,
        statement: &Statement<'_>,
        decode: Decode<T>,
    ) -> Result<Option<T>, StoreError> {
        let sql = sql(statement);
        let row = bind(&sql, &statement.args)
            .persistent(!statement.plan_each_time)
            .fetch_optional(&mut *self.0)
            .await?;
        decoded(row, decode)
    }

    async fn all<T>(
        &mut self,
        statement: &Statement<'_>,
        decode: Decode<T>,
    ) -> Result<Vec<T>, StoreError> {
        let sql = sql(statement);
        let rows = bind(&sql, &statement.args)
            .persistent(!statement.plan_each_time)
            .fetch_all(&mut *self.0)
            .await?;
        rows.iter().map(|row| decode(row)).collect()
    }

    async fn execute(&mut self, statement: &Statement<'_>) -> Result<u64, StoreError> {
        let sql = sql(statement);
        let done = bind(&sql, &statement.args).execute(&mut *self.0).await?;
        Ok(done.rows_affected())
    }
}

/// Ends `tx` as `result` says: committed when it is `Ok`, rolled back
/// otherwise.
pub(in crate::store) async fn finish<T>(
    tx: sqlx::Transaction<'_, Postgres>,
    result: Result<T, StoreError>,
) -> Result<T, StoreError> {
    match result {
        Ok(done) => {
            tx.commit().await?;
            Ok(done)
        }
        Err(error) => {
            tx.rollback().await?;
            Err(error)
        }
    }
}

impl Columns for PgRow {
    fn text(&self, column: usize) -> Result<String, StoreError> {
        Ok(self.try_get(column)?)
    }

    fn optional_text(&self, column: usize) -> Result<Option<String>, StoreError> {
        Ok(self.try_get(column)?)
    }

    fn optional_id(&self, column: usize) -> Result<Option<Uuid>, StoreError> {
        Ok(self.try_get(column)?)
    }

    fn id(&self, column: usize) -> Result<Uuid, StoreError> {
        Ok(self.try_get(column)?)
    }

    fn time(&self, column: usize) -> Result<DateTime<Utc>, StoreError> {
        Ok(self.try_get(column)?)
    }

    fn optional_time(&self, column: usize) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self.try_get(column)?)
    }

    fn int(&self, column: usize) -> Result<i64, StoreError> {
        // Counters are `int` (4 bytes); sqlx decodes only the exact width.
        match self.try_get::<i32, _>(column) {
            Ok(n) => Ok(n.into()),
            Err(_) => Ok(self.try_get::<i64, _>(column)?),
        }
    }

    fn optional_int(&self, column: usize) -> Result<Option<i64>, StoreError> {
        match self.try_get::<Option<i32>, _>(column) {
            Ok(n) => Ok(n.map(i64::from)),
            Err(_) => Ok(self.try_get::<Option<i64>, _>(column)?),
        }
    }

    fn optional_float(&self, column: usize) -> Result<Option<f64>, StoreError> {
        Ok(self.try_get(column)?)
    }

    fn flag(&self, column: usize) -> Result<bool, StoreError> {
        Ok(self.try_get(column)?)
    }

    fn names(&self, column: usize) -> Result<Option<Vec<String>>, StoreError> {
        Ok(self.try_get(column)?)
    }

    fn texts(&self, column: usize) -> Result<Vec<String>, StoreError> {
        Ok(self.try_get(column)?)
    }
}

fn decoded<T>(row: Option<PgRow>, decode: Decode<T>) -> Result<Option<T>, StoreError> {
    row.map(|row| decode(&row)).transpose()
}

#[async_trait]
impl Engine for PostgresStore {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    // One statement on a pooled connection: the same as in a transaction.
    async fn lookup<T: Send>(
        &self,
        statement: Statement<'_>,
        decode: Decode<T>,
    ) -> Result<Option<T>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let row = PgConn(&mut conn).first(&statement, decode).await;
        conn.release(row)
    }

    async fn fetch_all<T: Send + 'static>(
        &self,
        statement: Statement<'_>,
        decode: Decode<T>,
    ) -> Result<Vec<T>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let rows = PgConn(&mut conn).all(&statement, decode).await;
        conn.release(rows)
    }

    async fn execute(&self, statement: Statement<'_>) -> Result<u64, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let changed = PgConn(&mut conn).execute(&statement).await;
        conn.release(changed)
    }

    async fn execute_returning<T: Send>(
        &self,
        statement: Statement<'_>,
        decode: Decode<T>,
    ) -> Result<Option<T>, StoreError> {
        self.lookup(statement, decode).await
    }

    async fn transaction(&self, steps: &[TxStep<'_>]) -> Result<bool, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin().await?;
        let done = run_steps(&mut PgConn(&mut tx), steps).await?;
        if done {
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
        conn.release(Ok(done))
    }

    async fn read_then_write<'a, T, R>(
        &self,
        prepare: Statement<'a>,
        read: Statement<'a>,
        decode: Decode<T>,
        decide: &(dyn Fn(Option<T>) -> (R, Option<Statement<'a>>) + Sync),
    ) -> Result<R, StoreError>
    where
        T: Send,
        R: Send,
    {
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin().await?;
        let (result, write) =
            read_then_write(&mut PgConn(&mut tx), prepare, read, decode, decide).await?;
        if write {
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
        conn.release(Ok(result))
    }
}
