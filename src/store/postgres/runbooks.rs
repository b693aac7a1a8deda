use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use super::PostgresStore;
use crate::domain::{Runbook, RunbookQuery};
use crate::store::StoreError;
use crate::store::runbooks::{RunbookStore, name_patterns};

const COLUMNS: &str = "id, name, problem, steps, created_by, source_session_id, created_at, \
     updated_at, retired_at";

#[derive(sqlx::FromRow)]
struct RunbookRow {
    id: Uuid,
    name: String,
    problem: String,
    steps: Vec<String>,
    created_by: String,
    source_session_id: Option<Uuid>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    retired_at: Option<DateTime<Utc>>,
}

impl From<RunbookRow> for Runbook {
    fn from(r: RunbookRow) -> Self {
        Runbook {
            id: r.id,
            name: r.name,
            problem: r.problem,
            steps: r.steps,
            created_by: r.created_by,
            source_session_id: r.source_session_id,
            created_at: r.created_at,
            updated_at: r.updated_at,
            retired_at: r.retired_at,
        }
    }
}

#[async_trait]
impl RunbookStore for PostgresStore {
    async fn insert_runbook(&self, r: &Runbook) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "insert into runbooks ({COLUMNS}) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .bind(r.id)
        .bind(&r.name)
        .bind(&r.problem)
        .bind(&r.steps)
        .bind(&r.created_by)
        .bind(r.source_session_id)
        .bind(r.created_at)
        .bind(r.updated_at)
        .bind(r.retired_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn runbook(&self, id: Uuid) -> Result<Option<Runbook>, StoreError> {
        let row: Option<RunbookRow> =
            sqlx::query_as(&format!("select {COLUMNS} from runbooks where id = $1"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(Runbook::from))
    }

    async fn runbooks(&self, query: &RunbookQuery) -> Result<Vec<Runbook>, StoreError> {
        let mut sql =
            QueryBuilder::<Postgres>::new(format!("select {COLUMNS} from runbooks where true"));
        if !query.include_retired {
            sql.push(" and retired_at is null");
        }
        for pattern in name_patterns(query) {
            sql.push(" and lower(name) like ")
                .push_bind(pattern)
                .push(" escape '\\'");
        }
        sql.push(" order by name, id limit ")
            .push_bind(i64::from(query.limit));
        let rows: Vec<RunbookRow> = sql.build_query_as().fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(Runbook::from).collect())
    }

    async fn update_runbook(&self, r: &Runbook) -> Result<(), StoreError> {
        let changed = sqlx::query(
            "update runbooks set name = $1, problem = $2, steps = $3, updated_at = $4, \
             retired_at = $5 where id = $6",
        )
        .bind(&r.name)
        .bind(&r.problem)
        .bind(&r.steps)
        .bind(r.updated_at)
        .bind(r.retired_at)
        .bind(r.id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
