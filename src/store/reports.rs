//! Reports computed by the database (see `domain::report`): counts, medians
//! and percentiles in SQL, so a report never loads the sessions it covers.
//! Written once for both engines; only the percentiles differ. PostgreSQL
//! has `percentile_cont`. SQLite has no percentile function: for the whole
//! range, each percentile reads the two durations around `p × (n − 1)`
//! with LIMIT/OFFSET on the ordered durations and interpolates between
//! them, as `percentile_cont` does; per week, window functions number each
//! duration within its week (`row_number`, with the week's size from the
//! same window) and pick the same two values. (One window over the whole
//! range measured three times slower than the LIMIT/OFFSET reads at
//! 100,000 sessions.)

use async_trait::async_trait;
use chrono::{Days, NaiveDate};

use super::StoreError;
use super::engine::{Columns, Dialect, Engine, Statement};
use crate::domain::{CustomerRow, Outcome, ReportQuery, ReportRows, TimeToClose};

#[async_trait]
pub trait ReportStore: Send + Sync {
    async fn report(&self, query: &ReportQuery) -> Result<ReportRows, StoreError>;
}

const DAY_MICROS: i64 = 86_400_000_000;

/// The week of a time column, counted from the Monday before the epoch
/// (1970-01-01 was a Thursday, 3 days after a Monday); see [`monday`].
fn week_of(dialect: Dialect, column: &str) -> String {
    match dialect {
        // Times are microseconds.
        Dialect::Sqlite => format!("(({column} / {DAY_MICROS} + 3) / 7)"),
        Dialect::Postgres => {
            format!("cast(floor((extract(epoch from {column}) / 86400 + 3) / 7) as bigint)")
        }
    }
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

/// SQLite: the `p`-quantile of `v` over rows numbered `i` (from 0) in sets
/// of `n`, as an aggregate over one set, in seconds.
fn sqlite_percentile(p: f64) -> String {
    let lower = format!("cast({p} * (n - 1) as integer)");
    let low = format!("max(case when i = {lower} then v end)");
    let high = format!("max(case when i = {lower} + 1 then v end)");
    let fraction = format!("({p} * (max(n) - 1) - cast({p} * (max(n) - 1) as integer))");
    format!("(({low} + coalesce(({high} - {low}) * {fraction}, 0)) / 1e6)")
}

/// SQLite: the `p`-quantile, in seconds, of the durations `v` of the
/// materialized set `d` whose size is `k.n`.
fn sqlite_percentile_of_set(p: f64) -> String {
    let position = format!("{p} * (k.n - 1)");
    format!(
        "(select (min(v) + (max(v) - min(v)) * ({position} - cast({position} as integer))) / 1e6 \
         from (select v from d order by v limit 2 \
               offset (select cast({p} * (count(*) - 1) as integer) from d)))"
    )
}

/// PostgreSQL: seconds from opening to closing, for `percentile_cont`.
const PG_DURATION: &str = "extract(epoch from completed_at - created_at)::float8";

fn pg_percentile(p: f64) -> String {
    format!("percentile_cont({p}) within group (order by {PG_DURATION})")
}

/// `{select} from sessions where <column in the range and the filters>{tail}`.
fn over_range<'q>(select: &str, column: &str, tail: &str, query: &'q ReportQuery) -> Statement<'q> {
    let mut sql = Statement::new(select);
    let (start, end) = (sql.bind(query.start()), sql.bind(query.end()));
    sql.push(&format!(
        " from sessions where {column} >= {start} and {column} < {end}"
    ));
    if let Some(owner) = &query.owner {
        let owner = sql.bind(owner.as_str());
        sql.push(&format!(" and owner = {owner}"));
    }
    if let Some(customer) = &query.customer {
        let customer = sql.bind(customer.as_str());
        sql.push(&format!(" and customer = {customer}"));
    }
    sql.push(tail);
    sql
}

/// [`over_range`] on SQLite with the range's durations numbered: `d` has
/// each session's week `w`, duration `v`, number `i` within its week and
/// the week's size `n`.
fn sqlite_numbered_weeks<'q>(query: &'q ReportQuery) -> Statement<'q> {
    let week = week_of(Dialect::Sqlite, "completed_at");
    let mut numbered = over_range(
        &format!(
            "with d as (select {week} as w, completed_at - created_at as v, \
             row_number() over week - 1 as i, \
             count(*) over (week rows between unbounded preceding and unbounded following) as n"
        ),
        "completed_at",
        &format!(" window week as (partition by {week} order by completed_at - created_at))"),
        query,
    );
    numbered.push(&format!(
        " select w, max(n), {} from d group by w order by w",
        sqlite_percentile(0.5)
    ));
    numbered
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

#[async_trait]
impl<E: Engine> ReportStore for E {
    async fn report(&self, query: &ReportQuery) -> Result<ReportRows, StoreError> {
        let dialect = self.dialect();
        let outcome_counts = over_range(
            "select outcome, count(*)",
            "completed_at",
            " group by outcome",
            query,
        );
        let outcome_count = |row: &dyn Columns| Ok((row.text(0)?, row.int(1)?));
        let outcomes = self
            .fetch_all(outcome_counts, outcome_count)
            .await?
            .into_iter()
            .filter_map(|(outcome, n)| Outcome::parse(&outcome).map(|o| (o, count(n))))
            .collect();

        let ttc_statement = match dialect {
            Dialect::Sqlite => {
                let mut ttc = over_range(
                    "with d as materialized (select completed_at - created_at as v",
                    "completed_at",
                    "), k as (select count(*) as n from d)",
                    query,
                );
                ttc.push(&format!(
                    " select k.n, {}, {} from k",
                    sqlite_percentile_of_set(0.5),
                    sqlite_percentile_of_set(0.9)
                ));
                ttc
            }
            Dialect::Postgres => over_range(
                &format!(
                    "select count(*), {}, {}",
                    pg_percentile(0.5),
                    pg_percentile(0.9)
                ),
                "completed_at",
                "",
                query,
            ),
        };
        let time_to_close = |row: &dyn Columns| {
            Ok(TimeToClose {
                count: count(row.optional_int(0)?.unwrap_or(0)),
                median_seconds: row.optional_float(1)?,
                p90_seconds: row.optional_float(2)?,
            })
        };
        let time_to_close = self
            .fetch_all(ttc_statement, time_to_close)
            .await?
            .pop()
            .unwrap_or_default();

        let week = week_of(dialect, "created_at");
        let opened = over_range(
            &format!("select {week} as w, count(*)"),
            "created_at",
            " group by w order by w",
            query,
        );
        let week_count = |row: &dyn Columns| Ok((monday(row.int(0)?), count(row.int(1)?)));
        let opened = self.fetch_all(opened, week_count).await?;

        let closed = match dialect {
            Dialect::Sqlite => sqlite_numbered_weeks(query),
            Dialect::Postgres => over_range(
                &format!(
                    "select {} as w, count(*), {}",
                    week_of(dialect, "completed_at"),
                    pg_percentile(0.5)
                ),
                "completed_at",
                " group by w order by w",
                query,
            ),
        };
        let week_closed = |row: &dyn Columns| {
            Ok((
                monday(row.int(0)?),
                count(row.int(1)?),
                row.optional_float(2)?,
            ))
        };
        let closed = self.fetch_all(closed, week_closed).await?;

        let customers = over_range(
            "select customer, count(*), sum(case when outcome = 'escalated' then 1 else 0 end)",
            "created_at",
            &format!(
                " and customer is not null group by customer \
                 order by count(*) desc, customer limit {}",
                ReportQuery::TOP_CUSTOMERS
            ),
            query,
        );
        let customer = |row: &dyn Columns| {
            Ok(CustomerRow {
                customer: row.text(0)?,
                sessions: count(row.int(1)?),
                escalated: count(row.optional_int(2)?.unwrap_or(0)),
            })
        };
        let top_customers = self.fetch_all(customers, customer).await?;

        Ok(ReportRows {
            outcomes,
            time_to_close,
            opened,
            closed,
            top_customers,
        })
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
