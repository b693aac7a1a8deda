//! Reports on SQLite. SQLite has no percentile function. For the whole
//! range, each percentile reads the two durations around `p × (n − 1)` with
//! LIMIT/OFFSET on the ordered durations and interpolates between them, as
//! `percentile_cont` does. Per week, window functions number each duration
//! within its week (`row_number`, with the week's size from the same window)
//! and pick the same two values. (One window over the whole range measured
//! three times slower than the LIMIT/OFFSET reads at 100,000 sessions.)

use async_trait::async_trait;
use chrono::{Days, NaiveDate};
use rusqlite::types::Value;
use rusqlite::{Connection, params_from_iter};

use super::{SqliteStore, micros};
use crate::domain::{CustomerRow, Outcome, ReportQuery, ReportRows, TimeToClose};
use crate::store::{ReportStore, StoreError};

const DAY_MICROS: i64 = 86_400_000_000;

/// The week of a time column (microseconds): weeks counted from the Monday
/// before the epoch (1970-01-01 was a Thursday, 3 days after a Monday).
fn week_of(column: &str) -> String {
    format!("(({column} / {DAY_MICROS} + 3) / 7)")
}

fn monday(week: i64) -> NaiveDate {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid date");
    let day = week * 7 - 3;
    if day >= 0 {
        epoch + Days::new(day as u64)
    } else {
        epoch - Days::new(day.unsigned_abs())
    }
}

/// The `p`-quantile of `v` over rows numbered `i` (from 0) in sets of `n`,
/// as an aggregate over one set, in seconds.
fn percentile(p: f64) -> String {
    let lower = format!("cast({p} * (n - 1) as integer)");
    let low = format!("max(case when i = {lower} then v end)");
    let high = format!("max(case when i = {lower} + 1 then v end)");
    let fraction = format!("({p} * (max(n) - 1) - cast({p} * (max(n) - 1) as integer))");
    format!("(({low} + coalesce(({high} - {low}) * {fraction}, 0)) / 1e6)")
}

/// The `p`-quantile, in seconds, of the durations `v` of the materialized
/// set `d` whose size is `k.n`: the two values around `p × (n − 1)` in order.
fn percentile_of_set(p: f64) -> String {
    let position = format!("{p} * (k.n - 1)");
    format!(
        "(select (min(v) + (max(v) - min(v)) * ({position} - cast({position} as integer))) / 1e6 \
         from (select v from d order by v limit 2 \
               offset (select cast({p} * (count(*) - 1) as integer) from d)))"
    )
}

/// ` and …` conditions and their values for the owner and customer filters.
fn filters(query: &ReportQuery) -> (String, Vec<Value>) {
    let mut sql = String::new();
    let mut params = Vec::new();
    if let Some(owner) = &query.owner {
        sql.push_str(" and owner = ?");
        params.push(Value::Text(owner.clone()));
    }
    if let Some(customer) = &query.customer {
        sql.push_str(" and customer = ?");
        params.push(Value::Text(customer.clone()));
    }
    (sql, params)
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn report(conn: &Connection, query: &ReportQuery) -> Result<ReportRows, StoreError> {
    let (filter, filter_params) = filters(query);
    let range = |column: &str| format!("{column} >= ? and {column} < ?{filter}");
    let params = || {
        let mut all = vec![
            Value::Integer(micros(query.start())),
            Value::Integer(micros(query.end())),
        ];
        all.extend(filter_params.iter().cloned());
        params_from_iter(all)
    };
    let closed_in_range = range("completed_at");
    let opened_in_range = range("created_at");

    let outcomes = conn
        .prepare_cached(&format!(
            "select outcome, count(*) from sessions where {closed_in_range} group by outcome"
        ))?
        .query_map(params(), |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })?
        .filter_map(|row| match row {
            Ok((outcome, n)) => Outcome::parse(&outcome).map(|o| Ok((o, count(n)))),
            Err(e) => Some(Err(e)),
        })
        .collect::<Result<Vec<_>, _>>()?;

    let time_to_close = conn
        .prepare_cached(&format!(
            "with d as materialized (select completed_at - created_at as v \
               from sessions where {closed_in_range}), \
             k as (select count(*) as n from d) \
             select k.n, {}, {} from k",
            percentile_of_set(0.5),
            percentile_of_set(0.9)
        ))?
        .query_row(params(), |r| {
            Ok(TimeToClose {
                count: count(r.get::<_, Option<i64>>(0)?.unwrap_or(0)),
                median_seconds: r.get(1)?,
                p90_seconds: r.get(2)?,
            })
        })?;

    let opened = conn
        .prepare_cached(&format!(
            "select {week} as w, count(*) from sessions where {opened_in_range} \
             group by w order by w",
            week = week_of("created_at")
        ))?
        .query_map(params(), |r| Ok((monday(r.get(0)?), count(r.get(1)?))))?
        .collect::<Result<Vec<_>, _>>()?;

    let week = week_of("completed_at");
    let closed = conn
        .prepare_cached(&format!(
            "with d as (select {week} as w, completed_at - created_at as v, \
               row_number() over week - 1 as i, \
               count(*) over (week rows between unbounded preceding and unbounded following) as n \
             from sessions where {closed_in_range} \
             window week as (partition by {week} order by completed_at - created_at)) \
             select w, max(n), {} from d group by w order by w",
            percentile(0.5)
        ))?
        .query_map(params(), |r| {
            Ok((
                monday(r.get(0)?),
                count(r.get(1)?),
                r.get::<_, Option<f64>>(2)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;

    let top_customers = conn
        .prepare_cached(&format!(
            "select customer, count(*), sum(outcome = 'escalated') from sessions \
             where {opened_in_range} and customer is not null \
             group by customer order by count(*) desc, customer limit {}",
            ReportQuery::TOP_CUSTOMERS
        ))?
        .query_map(params(), |r| {
            Ok(CustomerRow {
                customer: r.get(0)?,
                sessions: count(r.get(1)?),
                escalated: count(r.get::<_, Option<i64>>(2)?.unwrap_or(0)),
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;

    Ok(ReportRows {
        outcomes,
        time_to_close,
        opened,
        closed,
        top_customers,
    })
}

#[async_trait]
impl ReportStore for SqliteStore {
    async fn report(&self, query: &ReportQuery) -> Result<ReportRows, StoreError> {
        let query = query.clone();
        // Its cost grows with the range: on a blocking thread.
        self.db.read(move |conn| report(conn, &query)).await
    }
}

#[cfg(test)]
mod tests {
    use super::monday;

    #[test]
    fn week_numbers_map_to_their_mondays() {
        assert_eq!(monday(0).to_string(), "1969-12-29");
        assert_eq!(monday(1).to_string(), "1970-01-05");
        // 2026-03-02 is a Monday, day 20,514 of the epoch.
        assert_eq!(monday((20_514 + 3) / 7).to_string(), "2026-03-02");
    }
}
