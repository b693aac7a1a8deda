use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{OptionalExtension, Row, params_from_iter};
use uuid::Uuid;

use super::{SqliteStore, bad_column, micros, text, time};
use crate::domain::{Runbook, RunbookQuery};
use crate::store::StoreError;
use crate::store::runbooks::{RunbookStore, name_patterns};

const COLUMNS: &str = "id, name, problem, steps, created_by, source_session_id, created_at, \
     updated_at, retired_at";

fn runbook(row: &Row<'_>) -> rusqlite::Result<Runbook> {
    let steps =
        serde_json::from_str(text(row, 3)?.unwrap_or("[]")).map_err(|e| bad_column(3, e))?;
    Ok(Runbook {
        id: row.get(0)?,
        name: row.get(1)?,
        problem: row.get(2)?,
        steps,
        created_by: row.get(4)?,
        source_session_id: row.get(5)?,
        created_at: time(row.get(6)?),
        updated_at: time(row.get(7)?),
        retired_at: row.get::<_, Option<i64>>(8)?.map(time),
    })
}

fn steps_json(runbook: &Runbook) -> String {
    serde_json::to_string(&runbook.steps).expect("strings serialize")
}

#[async_trait]
impl RunbookStore for SqliteStore {
    async fn insert_runbook(&self, r: &Runbook) -> Result<(), StoreError> {
        self.db
            .write(|conn| {
                conn.prepare_cached(&format!(
                    "insert into runbooks ({COLUMNS}) values (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                ))?
                .execute(rusqlite::params![
                    r.id,
                    r.name,
                    r.problem,
                    steps_json(r),
                    r.created_by,
                    r.source_session_id,
                    micros(r.created_at),
                    micros(r.updated_at),
                    r.retired_at.map(micros),
                ])?;
                Ok(())
            })
            .await
    }

    async fn runbook(&self, id: Uuid) -> Result<Option<Runbook>, StoreError> {
        self.db
            .quick_read(|conn| {
                Ok(conn
                    .prepare_cached(&format!("select {COLUMNS} from runbooks where id = ?"))?
                    .query_row([id], runbook)
                    .optional()?)
            })
            .await
    }

    async fn runbooks(&self, query: &RunbookQuery) -> Result<Vec<Runbook>, StoreError> {
        let mut sql = format!("select {COLUMNS} from runbooks where true");
        let mut params: Vec<Value> = Vec::new();
        if !query.include_retired {
            sql.push_str(" and retired_at is null");
        }
        for pattern in name_patterns(query) {
            // LIKE ignores the case of ASCII letters; lower() covers the rest.
            sql.push_str(" and lower(name) like ? escape '\\'");
            params.push(Value::Text(pattern));
        }
        sql.push_str(" order by name, id limit ?");
        params.push(Value::Integer(i64::from(query.limit)));
        self.db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(&sql)?
                    .query_map(params_from_iter(params), runbook)?
                    .collect::<Result<Vec<_>, _>>()?)
            })
            .await
    }

    async fn update_runbook(&self, r: &Runbook) -> Result<(), StoreError> {
        self.db
            .write(|conn| {
                let changed = conn
                    .prepare_cached(
                        "update runbooks set name = ?, problem = ?, steps = ?, updated_at = ?, \
                         retired_at = ? where id = ?",
                    )?
                    .execute(rusqlite::params![
                        r.name,
                        r.problem,
                        steps_json(r),
                        micros(r.updated_at),
                        r.retired_at.map(micros),
                        r.id,
                    ])?;
                if changed == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            })
            .await
    }
}
