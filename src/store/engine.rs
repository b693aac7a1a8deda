//! The seam between a store written once and the two engines under it.
//!
//! A statement is one SQL text with SQLite-style numbered placeholders
//! (`?1`; PostgreSQL's engine turns `?` into `$`) and engine-neutral values;
//! a row is read through [`Columns`], so each row shape is decoded by one
//! function. Per engine stays only what truly differs: binding and decoding
//! (SQLite keeps times as microseconds and ids as blobs), connections and
//! transactions, and row locks.

use std::borrow::Cow;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{DatabaseError, StoreError};

/// A value to bind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Value<'a> {
    Text(Option<&'a str>),
    Id(Option<Uuid>),
    Time(Option<DateTime<Utc>>),
    Int(Option<i64>),
    Flag(bool),
    /// A list of names: PostgreSQL keeps a `text[]`, SQLite the names
    /// joined by commas.
    Names(Option<&'a [&'a str]>),
    /// A list of any texts: PostgreSQL keeps a `text[]`, SQLite a JSON array.
    Texts(&'a [String]),
    /// JSON text: PostgreSQL keeps `jsonb`, SQLite the text.
    Json(&'a str),
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(text: &'a str) -> Self {
        Value::Text(Some(text))
    }
}

impl From<Uuid> for Value<'_> {
    fn from(id: Uuid) -> Self {
        Value::Id(Some(id))
    }
}

impl From<Option<Uuid>> for Value<'_> {
    fn from(id: Option<Uuid>) -> Self {
        Value::Id(id)
    }
}

impl From<DateTime<Utc>> for Value<'_> {
    fn from(at: DateTime<Utc>) -> Self {
        Value::Time(Some(at))
    }
}

impl From<Option<DateTime<Utc>>> for Value<'_> {
    fn from(at: Option<DateTime<Utc>>) -> Self {
        Value::Time(at)
    }
}

impl From<u32> for Value<'_> {
    fn from(n: u32) -> Self {
        Value::Int(Some(n.into()))
    }
}

impl From<Option<i64>> for Value<'_> {
    fn from(n: Option<i64>) -> Self {
        Value::Int(n)
    }
}

impl From<bool> for Value<'_> {
    fn from(flag: bool) -> Self {
        Value::Flag(flag)
    }
}

impl<'a> From<Option<&'a str>> for Value<'a> {
    fn from(text: Option<&'a str>) -> Self {
        Value::Text(text)
    }
}

/// One SQL text and what it binds, in placeholder order.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Statement<'a> {
    /// Built at run time only where the statement's shape depends on the
    /// request (a filter per search word).
    pub sql: Cow<'static, str>,
    pub args: Vec<Value<'a>>,
    /// Planned for its values on every run rather than prepared once: for a
    /// statement whose best plan depends on the words it searches for
    /// (PostgreSQL; SQLite plans every statement for its values anyway).
    pub plan_each_time: bool,
}

impl<'a> Statement<'a> {
    /// A statement built piece by piece; [`Statement::bind`] numbers its
    /// placeholders.
    pub fn new(sql: impl Into<String>) -> Self {
        Statement {
            sql: Cow::Owned(sql.into()),
            args: Vec::new(),
            plan_each_time: false,
        }
    }

    /// Binds `value` to the next placeholder and returns its name (`?n`).
    pub fn bind(&mut self, value: impl Into<Value<'a>>) -> String {
        self.args.push(value.into());
        format!("?{}", self.args.len())
    }

    /// Appends SQL text.
    pub fn push(&mut self, sql: &str) {
        self.sql.to_mut().push_str(sql);
    }
}

/// `statement!("… ?1 … ?2", a, b)`: the values convert with `Value::from`.
macro_rules! statement {
    ($sql:expr $(, $arg:expr)* $(,)?) => {
        $crate::store::engine::Statement {
            sql: ::std::borrow::Cow::from($sql),
            args: vec![$($crate::store::engine::Value::from($arg)),*],
            plan_each_time: false,
        }
    };
}
pub(super) use statement;

/// A row as stored, read by column index; each engine decodes its own
/// types. Rules about the values (what is valid) are written once, over this.
pub(super) trait Columns {
    fn text(&self, column: usize) -> Result<String, StoreError>;
    fn optional_text(&self, column: usize) -> Result<Option<String>, StoreError>;
    fn id(&self, column: usize) -> Result<Uuid, StoreError>;
    fn optional_id(&self, column: usize) -> Result<Option<Uuid>, StoreError>;
    fn time(&self, column: usize) -> Result<DateTime<Utc>, StoreError>;
    fn optional_time(&self, column: usize) -> Result<Option<DateTime<Utc>>, StoreError>;
    fn int(&self, column: usize) -> Result<i64, StoreError>;
    fn optional_int(&self, column: usize) -> Result<Option<i64>, StoreError>;
    fn optional_float(&self, column: usize) -> Result<Option<f64>, StoreError>;
    fn flag(&self, column: usize) -> Result<bool, StoreError>;
    /// A column bound as [`Value::Names`].
    fn names(&self, column: usize) -> Result<Option<Vec<String>>, StoreError>;
    /// A column bound as [`Value::Texts`].
    fn texts(&self, column: usize) -> Result<Vec<String>, StoreError>;
}

/// A row's columns from `.1` on, read as a row of their own: the second
/// shape of a row that joins two.
pub(super) struct Shifted<'r>(pub &'r dyn Columns, pub usize);

impl Columns for Shifted<'_> {
    fn text(&self, column: usize) -> Result<String, StoreError> {
        self.0.text(column + self.1)
    }
    fn optional_text(&self, column: usize) -> Result<Option<String>, StoreError> {
        self.0.optional_text(column + self.1)
    }
    fn id(&self, column: usize) -> Result<Uuid, StoreError> {
        self.0.id(column + self.1)
    }
    fn optional_id(&self, column: usize) -> Result<Option<Uuid>, StoreError> {
        self.0.optional_id(column + self.1)
    }
    fn time(&self, column: usize) -> Result<DateTime<Utc>, StoreError> {
        self.0.time(column + self.1)
    }
    fn optional_time(&self, column: usize) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.0.optional_time(column + self.1)
    }
    fn int(&self, column: usize) -> Result<i64, StoreError> {
        self.0.int(column + self.1)
    }
    fn optional_int(&self, column: usize) -> Result<Option<i64>, StoreError> {
        self.0.optional_int(column + self.1)
    }
    fn optional_float(&self, column: usize) -> Result<Option<f64>, StoreError> {
        self.0.optional_float(column + self.1)
    }
    fn flag(&self, column: usize) -> Result<bool, StoreError> {
        self.0.flag(column + self.1)
    }
    fn names(&self, column: usize) -> Result<Option<Vec<String>>, StoreError> {
        self.0.names(column + self.1)
    }
    fn texts(&self, column: usize) -> Result<Vec<String>, StoreError> {
        self.0.texts(column + self.1)
    }
}

/// Reads one row's shape.
pub(super) type Decode<T> = fn(&dyn Columns) -> Result<T, StoreError>;

/// Where the two engines' SQL differs, outside full-text search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The dialect of `conn`'s engine.
    pub fn of<C: Conn>(_: &C) -> Self {
        C::DIALECT
    }

    /// `?1`, but never earlier than one microsecond after the session's
    /// previous change (see the module docs of `store`): SQLite keeps
    /// times as microseconds.
    pub fn after_previous(self) -> &'static str {
        match self {
            Dialect::Sqlite => "max(?1, updated_at + 1)",
            Dialect::Postgres => "greatest(?1, updated_at + interval '1 microsecond')",
        }
    }
}

/// One connection, in a transaction or reading, for work of several
/// statements that decide from each other's rows (a conditional write and
/// its re-read). That work is written once, as `async` functions over a
/// `Conn`; SQLite's statements never wait, so its engine runs them to the
/// end at once on its own connection.
pub(super) trait Conn {
    const DIALECT: Dialect;

    /// The first row, if any.
    async fn first<T>(
        &mut self,
        statement: &Statement<'_>,
        decode: Decode<T>,
    ) -> Result<Option<T>, StoreError>;

    /// Every row.
    async fn all<T>(
        &mut self,
        statement: &Statement<'_>,
        decode: Decode<T>,
    ) -> Result<Vec<T>, StoreError>;

    /// The rows it changed.
    async fn execute(&mut self, statement: &Statement<'_>) -> Result<u64, StoreError>;
}

/// Statements run by one engine. Every call is one statement, or one
/// transaction that holds the write lock from its first statement (SQLite's
/// `BEGIN IMMEDIATE`; on PostgreSQL, row locks), so concurrent callers in any
/// process cannot interleave.
#[async_trait]
pub(super) trait Engine: Send + Sync + 'static {
    fn dialect(&self) -> Dialect;

    /// One row found by key, or none.
    async fn lookup<T: Send>(
        &self,
        statement: Statement<'_>,
        decode: Decode<T>,
    ) -> Result<Option<T>, StoreError>;

    /// Every row; for reads whose cost depends on the data.
    async fn fetch_all<T: Send + 'static>(
        &self,
        statement: Statement<'_>,
        decode: Decode<T>,
    ) -> Result<Vec<T>, StoreError>;

    /// One writing statement; the rows it changed.
    async fn execute(&self, statement: Statement<'_>) -> Result<u64, StoreError>;

    /// One writing statement with `returning`: the row it returned, if any.
    async fn execute_returning<T: Send>(
        &self,
        statement: Statement<'_>,
        decode: Decode<T>,
    ) -> Result<Option<T>, StoreError>;

    /// Runs `steps` in one transaction. When a step meant to change exactly
    /// one row does not, everything is rolled back and the answer is false.
    async fn transaction(&self, steps: &[TxStep<'_>]) -> Result<bool, StoreError>;

    /// In one transaction: `prepare` (which makes sure the row exists), then
    /// `read` of that row, locked until the end; `decide` chooses from what
    /// it read a result and a statement to commit, or none to change nothing.
    async fn read_then_write<'a, T, R>(
        &self,
        prepare: Statement<'a>,
        read: Statement<'a>,
        decode: Decode<T>,
        decide: &(dyn Fn(Option<T>) -> (R, Option<Statement<'a>>) + Sync),
    ) -> Result<R, StoreError>
    where
        T: Send,
        R: Send;
}

/// A statement of a [`Engine::transaction`].
#[derive(Debug, Clone, PartialEq)]
pub(super) struct TxStep<'a> {
    pub statement: Statement<'a>,
    /// It must change exactly one row, or the transaction is undone.
    pub one_row: bool,
}

impl<'a> TxStep<'a> {
    pub fn any(statement: Statement<'a>) -> Self {
        TxStep {
            statement,
            one_row: false,
        }
    }

    pub fn one_row(statement: Statement<'a>) -> Self {
        TxStep {
            statement,
            one_row: true,
        }
    }
}

/// The work of [`Engine::transaction`], the same on both engines: false
/// when a step meant to change exactly one row did not (the caller then
/// rolls back).
pub(super) async fn run_steps(
    conn: &mut impl Conn,
    steps: &[TxStep<'_>],
) -> Result<bool, StoreError> {
    for step in steps {
        let changed = conn.execute(&step.statement).await?;
        if step.one_row && changed != 1 {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The work of [`Engine::read_then_write`], the same on both engines: its
/// result, and whether there is a write to commit. SQLite's transaction
/// already holds the write lock; PostgreSQL locks the row read (`for
/// update`) until the commit, so concurrent callers queue there.
pub(super) async fn read_then_write<'a, T, R>(
    conn: &mut impl Conn,
    prepare: Statement<'a>,
    read: Statement<'a>,
    decode: Decode<T>,
    decide: &(dyn Fn(Option<T>) -> (R, Option<Statement<'a>>) + Sync),
) -> Result<(R, bool), StoreError> {
    conn.execute(&prepare).await?;
    let read = match Dialect::of(conn) {
        Dialect::Sqlite => read,
        Dialect::Postgres => Statement {
            sql: format!("{} for update", read.sql).into(),
            ..read
        },
    };
    let (result, write) = decide(conn.first(&read, decode).await?);
    let Some(write) = write else {
        return Ok((result, false));
    };
    conn.execute(&write).await?;
    Ok((result, true))
}

/// A stored value the schema should have made impossible.
pub(super) fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Database(DatabaseError::Corrupt(format!(
        "stored {what} {value:?} is not valid"
    )))
}
