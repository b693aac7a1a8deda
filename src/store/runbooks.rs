//! Persistence of runbooks (see `domain::runbook`), written once for both
//! engines (see `store::engine`).

use async_trait::async_trait;
use uuid::Uuid;

use super::StoreError;
use super::engine::{Columns, Engine, Statement, Value, statement};
use crate::domain::{Runbook, RunbookQuery};

#[async_trait]
pub trait RunbookStore: Send + Sync {
    async fn insert_runbook(&self, runbook: &Runbook) -> Result<(), StoreError>;

    async fn runbook(&self, id: Uuid) -> Result<Option<Runbook>, StoreError>;

    /// By name (then id), matching every word of the query anywhere in the
    /// name, case-insensitively.
    async fn runbooks(&self, query: &RunbookQuery) -> Result<Vec<Runbook>, StoreError>;

    /// Stores the name, problem, steps, `updated_at` and `retired_at` of an
    /// existing runbook; `NotFound` when there is none with its id.
    async fn update_runbook(&self, runbook: &Runbook) -> Result<(), StoreError>;
}

/// A macro rather than a constant, so each statement is one literal.
macro_rules! columns {
    () => {
        "id, name, problem, steps, created_by, source_session_id, created_at, updated_at, \
         retired_at"
    };
}

fn runbook(row: &dyn Columns) -> Result<Runbook, StoreError> {
    Ok(Runbook {
        id: row.id(0)?,
        name: row.text(1)?,
        problem: row.text(2)?,
        steps: row.texts(3)?,
        created_by: row.text(4)?,
        source_session_id: row.optional_id(5)?,
        created_at: row.time(6)?,
        updated_at: row.time(7)?,
        retired_at: row.optional_time(8)?,
    })
}

/// The list's statement: a `like` per pattern (see [`name_patterns`]).
fn list_statement<'a>(query: &RunbookQuery, patterns: &'a [String]) -> Statement<'a> {
    let mut sql = String::from(concat!("select ", columns!(), " from runbooks where true"));
    let mut args = Vec::new();
    if !query.include_retired {
        sql.push_str(" and retired_at is null");
    }
    for pattern in patterns {
        args.push(Value::from(pattern.as_str()));
        // LIKE ignores the case of ASCII letters; lower() covers the rest.
        sql.push_str(&format!(
            " and lower(name) like ?{} escape '\\'",
            args.len()
        ));
    }
    args.push(Value::from(query.limit));
    sql.push_str(&format!(" order by name, id limit ?{}", args.len()));
    Statement {
        sql: sql.into(),
        args,
        plan_each_time: false,
    }
}

#[async_trait]
impl<E: Engine> RunbookStore for E {
    async fn insert_runbook(&self, r: &Runbook) -> Result<(), StoreError> {
        self.execute(statement!(
            concat!(
                "insert into runbooks (",
                columns!(),
                ") values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
            ),
            r.id,
            r.name.as_str(),
            r.problem.as_str(),
            Value::Texts(&r.steps),
            r.created_by.as_str(),
            r.source_session_id,
            r.created_at,
            r.updated_at,
            r.retired_at,
        ))
        .await?;
        Ok(())
    }

    async fn runbook(&self, id: Uuid) -> Result<Option<Runbook>, StoreError> {
        let sql = concat!("select ", columns!(), " from runbooks where id = ?1");
        self.lookup(statement!(sql, id), runbook).await
    }

    async fn runbooks(&self, query: &RunbookQuery) -> Result<Vec<Runbook>, StoreError> {
        let patterns = name_patterns(query);
        self.fetch_all(list_statement(query, &patterns), runbook)
            .await
    }

    async fn update_runbook(&self, r: &Runbook) -> Result<(), StoreError> {
        let changed = self
            .execute(statement!(
                "update runbooks set name = ?1, problem = ?2, steps = ?3, updated_at = ?4, \
                 retired_at = ?5 where id = ?6",
                r.name.as_str(),
                r.problem.as_str(),
                Value::Texts(&r.steps),
                r.updated_at,
                r.retired_at,
                r.id,
            ))
            .await?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}

/// `name like ?` patterns for the query's words: `%word%`, with LIKE's own
/// wildcards escaped by `\`.
fn name_patterns(query: &RunbookQuery) -> Vec<String> {
    query
        .name_contains
        .iter()
        .map(|word| {
            let escaped = word
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%{escaped}%")
        })
        .collect()
}
