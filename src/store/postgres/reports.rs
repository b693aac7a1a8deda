//! Reports on PostgreSQL: `percentile_cont` computes medians and 90th
//! percentiles.

use async_trait::async_trait;
use chrono::NaiveDate;
use sqlx::{PgConnection, Postgres, QueryBuilder};

use super::PostgresStore;
use crate::domain::{CustomerRow, Outcome, ReportQuery, ReportRows, TimeToClose};
use crate::store::{ReportStore, StoreError};

/// Seconds from opening to closing, as a float for `percentile_cont`.
const DURATION: &str = "extract(epoch from completed_at - created_at)::float8";

/// `select … from sessions where <column> in the range and the filters`.
fn over_range<'q>(
    select: &str,
    column: &str,
    query: &'q ReportQuery,
) -> QueryBuilder<'q, Postgres> {
    let mut sql = QueryBuilder::new(select);
    sql.push(format!(" from sessions where {column} >= "))
        .push_bind(query.start())
        .push(format!(" and {column} < "))
        .push_bind(query.end());
    if let Some(owner) = &query.owner {
        sql.push(" and owner = ").push_bind(owner.as_str());
    }
    if let Some(customer) = &query.customer {
        sql.push(" and customer = ").push_bind(customer.as_str());
    }
    sql
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

async fn report(conn: &mut PgConnection, query: &ReportQuery) -> Result<ReportRows, StoreError> {
    let mut sql = over_range("select outcome, count(*)", "completed_at", query);
    sql.push(" group by outcome");
    let outcomes: Vec<(String, i64)> = sql.build_query_as().fetch_all(&mut *conn).await?;
    let outcomes = outcomes
        .into_iter()
        .filter_map(|(o, n)| Outcome::parse(&o).map(|o| (o, count(n))))
        .collect();

    let mut sql = over_range(
        &format!(
            "select count(*), percentile_cont(0.5) within group (order by {DURATION}), \
             percentile_cont(0.9) within group (order by {DURATION})"
        ),
        "completed_at",
        query,
    );
    let (n, median, p90): (i64, Option<f64>, Option<f64>) =
        sql.build_query_as().fetch_one(&mut *conn).await?;
    let time_to_close = TimeToClose {
        median_seconds: median,
        p90_seconds: p90,
        count: count(n),
    };

    let mut sql = over_range(
        "select (date_trunc('week', created_at at time zone 'UTC'))::date as w, count(*)",
        "created_at",
        query,
    );
    sql.push(" group by w order by w");
    let opened: Vec<(NaiveDate, i64)> = sql.build_query_as().fetch_all(&mut *conn).await?;

    let mut sql = over_range(
        &format!(
            "select (date_trunc('week', completed_at at time zone 'UTC'))::date as w, count(*), \
             percentile_cont(0.5) within group (order by {DURATION})"
        ),
        "completed_at",
        query,
    );
    sql.push(" group by w order by w");
    let closed: Vec<(NaiveDate, i64, Option<f64>)> =
        sql.build_query_as().fetch_all(&mut *conn).await?;

    let mut sql = over_range(
        "select customer, count(*), count(*) filter (where outcome = 'escalated')",
        "created_at",
        query,
    );
    sql.push(" and customer is not null group by customer order by count(*) desc, customer limit ")
        .push_bind(i64::from(ReportQuery::TOP_CUSTOMERS));
    let customers: Vec<(String, i64, i64)> = sql.build_query_as().fetch_all(&mut *conn).await?;

    Ok(ReportRows {
        outcomes,
        time_to_close,
        opened: opened.into_iter().map(|(w, n)| (w, count(n))).collect(),
        closed: closed
            .into_iter()
            .map(|(w, n, m)| (w, count(n), m))
            .collect(),
        top_customers: customers
            .into_iter()
            .map(|(customer, n, escalated)| CustomerRow {
                customer,
                sessions: count(n),
                escalated: count(escalated),
            })
            .collect(),
    })
}

#[async_trait]
impl ReportStore for PostgresStore {
    async fn report(&self, query: &ReportQuery) -> Result<ReportRows, StoreError> {
        let mut conn = self.pool.acquire().await?;
        report(&mut conn, query).await
    }
}
