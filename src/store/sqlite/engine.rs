//! SQLite under the store's one set of statements (see `store::engine`):
//! times bind as microseconds, ids as blobs, and a transaction takes the
//! write lock at `BEGIN IMMEDIATE`, so its reads are already locked.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, Row, Rows, ToSql, TransactionBehavior, params_from_iter};
use uuid::Uuid;

use super::{SqliteStore, micros, time};
use crate::store::StoreError;
use crate::store::engine::{
    Columns, Conn, Decode, Dialect, Engine, Statement, TxStep, Value, corrupt, read_then_write,
    run_steps,
};

impl ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Text(Some(text)) | Value::Json(text) => {
                ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes()))
            }
            // As rusqlite stores a `Uuid`: its 16 bytes.
            Value::Id(Some(id)) => ToSqlOutput::Borrowed(ValueRef::Blob(id.as_bytes())),
            Value::Time(Some(at)) => ToSqlOutput::Owned(micros(*at).into()),
            Value::Int(n) => ToSqlOutput::Owned((*n).into()),
            Value::Flag(flag) => ToSqlOutput::Owned((*flag).into()),
            Value::Names(names) => ToSqlOutput::Owned(names.map(|n| n.join(",")).into()),
            Value::Texts(texts) => ToSqlOutput::Owned(json(texts).into()),
            Value::Text(None) | Value::Id(None) | Value::Time(None) => {
                ToSqlOutput::Owned(rusqlite::types::Value::Null)
            }
        })
    }
}

fn json(texts: &[String]) -> String {
    serde_json::to_string(texts).expect("strings serialize")
}

/// The value as rusqlite owns it, to go along to another thread: the
/// encoding of `to_sql`, copied.
fn owned(value: &Value<'_>) -> rusqlite::types::Value {
    match value.to_sql() {
        Ok(ToSqlOutput::Borrowed(borrowed)) => borrowed.into(),
        Ok(ToSqlOutput::Owned(owned)) => owned,
        // `to_sql` above makes neither errors nor other outputs.
        _ => rusqlite::types::Value::Null,
    }
}

impl Columns for Row<'_> {
    fn text(&self, column: usize) -> Result<String, StoreError> {
        Ok(self.get(column)?)
    }

    fn optional_text(&self, column: usize) -> Result<Option<String>, StoreError> {
        Ok(self.get(column)?)
    }

    fn optional_id(&self, column: usize) -> Result<Option<Uuid>, StoreError> {
        Ok(self.get(column)?)
    }

    fn id(&self, column: usize) -> Result<Uuid, StoreError> {
        Ok(self.get(column)?)
    }

    fn time(&self, column: usize) -> Result<DateTime<Utc>, StoreError> {
        Ok(time(self.get(column)?))
    }

    fn optional_time(&self, column: usize) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self.get::<_, Option<i64>>(column)?.map(time))
    }

    fn int(&self, column: usize) -> Result<i64, StoreError> {
        Ok(self.get(column)?)
    }

    fn optional_int(&self, column: usize) -> Result<Option<i64>, StoreError> {
        Ok(self.get(column)?)
    }

    fn optional_float(&self, column: usize) -> Result<Option<f64>, StoreError> {
        Ok(self.get(column)?)
    }

    fn flag(&self, column: usize) -> Result<bool, StoreError> {
        Ok(self.get(column)?)
    }

    fn names(&self, column: usize) -> Result<Option<Vec<String>>, StoreError> {
        let joined: Option<String> = self.get(column)?;
        Ok(joined.map(|names| names.split(',').map(str::to_owned).collect()))
    }

    fn texts(&self, column: usize) -> Result<Vec<String>, StoreError> {
        let json: String = self.get(column)?;
        serde_json::from_str(&json).map_err(|_| corrupt("texts", &json))
    }
}

/// Every row, decoded.
pub(super) fn all<T>(mut rows: Rows<'_>, decode: Decode<T>) -> Result<Vec<T>, StoreError> {
    let mut all = Vec::new();
    while let Some(row) = rows.next()? {
        all.push(decode(row)?);
    }
    Ok(all)
}

/// The first row `statement` returns, decoded.
pub(super) fn first<T>(
    conn: &Connection,
    statement: &Statement<'_>,
    decode: Decode<T>,
) -> Result<Option<T>, StoreError> {
    let mut prepared = conn.prepare_cached(&statement.sql)?;
    let mut rows = prepared.query(params_from_iter(&statement.args))?;
    match rows.next()? {
        Some(row) => Ok(Some(decode(row)?)),
        None => Ok(None),
    }
}

pub(super) fn execute(conn: &Connection, statement: &Statement<'_>) -> Result<u64, StoreError> {
    let changed = conn
        .prepare_cached(&statement.sql)?
        .execute(params_from_iter(&statement.args))?;
    Ok(changed as u64)
}

/// A connection (or a transaction on it) as the store's shared work sees it.
pub(in crate::store) struct SqliteConn<'c>(pub &'c Connection);

impl Conn for SqliteConn<'_> {
    const DIALECT: Dialect = Dialect::Sqlite;

    async fn first<T>(
        &mut self,
        statement: &Statement<'_>,
        decode: Decode<T>,
    ) -> Result<Option<T>, StoreError> {
        first(self.0, statement, decode)
    }

    async fn all<T>(
        &mut self,
        statement: &Statement<'_>,
        decode: Decode<T>,
    ) -> Result<Vec<T>, StoreError> {
        let mut prepared = self.0.prepare_cached(&statement.sql)?;
        all(prepared.query(params_from_iter(&statement.args))?, decode)
    }

    async fn execute(&mut self, statement: &Statement<'_>) -> Result<u64, StoreError> {
        execute(self.0, statement)
    }
}

/// Runs shared work over a [`SqliteConn`] to its end: none of its
/// statements waits, so it finishes in one poll.
pub(in crate::store) fn at_once<T>(work: impl std::future::Future<Output = T>) -> T {
    use futures_util::FutureExt;
    work.now_or_never()
        .expect("work over a SQLite connection never waits")
}

#[async_trait]
impl Engine for SqliteStore {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    async fn lookup<T: Send>(
        &self,
        statement: Statement<'_>,
        decode: Decode<T>,
    ) -> Result<Option<T>, StoreError> {
        self.db
            .quick_read(|conn| first(conn, &statement, decode))
            .await
    }

    async fn fetch_all<T: Send + 'static>(
        &self,
        statement: Statement<'_>,
        decode: Decode<T>,
    ) -> Result<Vec<T>, StoreError> {
        // Handed to another thread: the values go along as owned copies.
        let sql = statement.sql.into_owned();
        let args: Vec<_> = statement.args.iter().map(owned).collect();
        self.db
            .read(move |conn| {
                let mut prepared = conn.prepare_cached(&sql)?;
                all(prepared.query(params_from_iter(&args))?, decode)
            })
            .await
    }

    async fn execute(&self, statement: Statement<'_>) -> Result<u64, StoreError> {
        self.db.write(|conn| execute(conn, &statement)).await
    }

    async fn execute_returning<T: Send>(
        &self,
        statement: Statement<'_>,
        decode: Decode<T>,
    ) -> Result<Option<T>, StoreError> {
        self.db.write(|conn| first(conn, &statement, decode)).await
    }

    async fn transaction(&self, steps: &[TxStep<'_>]) -> Result<bool, StoreError> {
        self.db
            .write(|conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let done = at_once(run_steps(&mut SqliteConn(&tx), steps))?;
                if done {
                    tx.commit()?;
                }
                // Otherwise dropping `tx` rolls back.
                Ok(done)
            })
            .await
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
        self.db
            .write(|conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let mut conn = SqliteConn(&tx);
                let work =
                    read_then_write(&mut conn, prepare.clone(), read.clone(), decode, decide);
                let (result, write) = at_once(work)?;
                if write {
                    tx.commit()?;
                }
                Ok(result)
            })
            .await
    }
}
