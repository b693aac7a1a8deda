//! Reports: how sessions ended and how long closing took, over a range of
//! days. The stores compute the figures in SQL; this module says what is
//! asked and puts the answer in its complete shape (every outcome, every
//! week of the range, zeros included).

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, Utc};

use super::validation::reject_nul;
use super::{Outcome, ShortText, ValidationErrors};

/// Which sessions a report covers: opened or closed from `from` to `to`
/// (whole UTC days, both included), of one owner and one customer if given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportQuery {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub owner: Option<String>,
    pub customer: Option<String>,
}

impl ReportQuery {
    /// Without dates, a report covers the last 90 days, today included.
    pub const DEFAULT_DAYS: u64 = 90;
    /// Ten years: enough for any question, small enough to draw.
    pub const MAX_DAYS: i64 = 3_660;
    /// How many customers the report ranks.
    pub const TOP_CUSTOMERS: u32 = 10;

    /// Parses what a client sent; blank values mean "the default" (dates) or
    /// "any" (owner, customer), as on the history page.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        owner: Option<&str>,
        customer: Option<&str>,
        today: NaiveDate,
    ) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let to = match blank_is_none(to) {
            None => Some(today),
            Some(v) => errors.check("to", parse_date(v)),
        };
        let from = match blank_is_none(from) {
            None => to.map(|to| to - Days::new(Self::DEFAULT_DAYS - 1)),
            Some(v) => errors.check("from", parse_date(v)),
        };
        if let (Some(from), Some(to)) = (from, to) {
            if from > to {
                errors.check::<()>("from", Err(format!("must be on or before {to}")));
            } else if (to - from).num_days() >= Self::MAX_DAYS {
                errors.check::<()>(
                    "to",
                    Err(format!("a report covers at most {} days", Self::MAX_DAYS)),
                );
            }
        }
        let owner = owner.map(str::trim).filter(|o| !o.is_empty());
        if let Some(owner) = owner {
            errors.check("owner", reject_nul(owner));
        }
        let customer = errors.check("customer", ShortText::parse(customer));
        match (from, to, customer) {
            (Some(from), Some(to), Some(customer)) if errors.is_empty() => Ok(Self {
                from,
                to,
                owner: owner.map(str::to_owned),
                customer: customer.into_inner(),
            }),
            _ => Err(errors),
        }
    }

    /// The first instant of the range.
    pub fn start(&self) -> DateTime<Utc> {
        self.from.and_time(NaiveTime::MIN).and_utc()
    }

    /// The first instant after the range.
    pub fn end(&self) -> DateTime<Utc> {
        (self.to + Days::new(1)).and_time(NaiveTime::MIN).and_utc()
    }

    /// The Monday of every week the range touches, in order.
    pub fn weeks(&self) -> Vec<NaiveDate> {
        let mut weeks = Vec::new();
        let mut week = monday_of(self.from);
        while week <= self.to {
            weeks.push(week);
            week = week + Days::new(7);
        }
        weeks
    }
}

fn blank_is_none(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.is_empty())
}

/// `YYYY-MM-DD`, exactly.
fn parse_date(value: &str) -> Result<NaiveDate, String> {
    let shaped = value.len() == 10
        && value.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    shaped
        .then(|| NaiveDate::parse_from_str(value, "%Y-%m-%d").ok())
        .flatten()
        .filter(|d| d.year() >= 1970)
        .ok_or_else(|| format!("{value:?} is not a date: use YYYY-MM-DD"))
}

/// The Monday that starts the (ISO) week of `day`.
pub fn monday_of(day: NaiveDate) -> NaiveDate {
    day - Days::new(u64::from(day.weekday().num_days_from_monday()))
}

/// What the stores compute, before it is put in its complete shape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportRows {
    /// Sessions closed in the range, per outcome (outcomes without any may be left out).
    pub outcomes: Vec<(Outcome, u64)>,
    pub time_to_close: TimeToClose,
    /// Sessions opened in the range, per week (weeks without any may be left out).
    pub opened: Vec<(NaiveDate, u64)>,
    /// Sessions closed in the range per week, with their median time to close.
    pub closed: Vec<(NaiveDate, u64, Option<f64>)>,
    pub top_customers: Vec<CustomerRow>,
}

/// How long sessions closed in the range took from being opened (prepared)
/// to being closed; medians and percentiles interpolate between the two
/// nearest values, as PostgreSQL's `percentile_cont` does.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TimeToClose {
    pub median_seconds: Option<f64>,
    pub p90_seconds: Option<f64>,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutcomeCount {
    pub outcome: Outcome,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WeekRow {
    /// The week's Monday.
    pub week: NaiveDate,
    pub opened: u64,
    pub closed: u64,
    pub median_seconds: Option<f64>,
}

/// Sessions opened in the range for one customer, and how many of them ended escalated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerRow {
    pub customer: String,
    pub sessions: u64,
    pub escalated: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub query: ReportQuery,
    /// Every outcome, in the order users see them.
    pub outcomes: Vec<OutcomeCount>,
    pub time_to_close: TimeToClose,
    /// Every week of the range, oldest first.
    pub by_week: Vec<WeekRow>,
    pub top_customers: Vec<CustomerRow>,
}

impl Report {
    pub fn new(query: ReportQuery, rows: ReportRows) -> Self {
        let outcomes = Outcome::ALL
            .into_iter()
            .map(|outcome| OutcomeCount {
                outcome,
                count: rows
                    .outcomes
                    .iter()
                    .filter(|(o, _)| *o == outcome)
                    .map(|(_, n)| n)
                    .sum(),
            })
            .collect();
        let by_week = query
            .weeks()
            .into_iter()
            .map(|week| {
                let opened = rows.opened.iter().find(|(w, _)| *w == week);
                let closed = rows.closed.iter().find(|(w, _, _)| *w == week);
                WeekRow {
                    week,
                    opened: opened.map_or(0, |(_, n)| *n),
                    closed: closed.map_or(0, |(_, n, _)| *n),
                    median_seconds: closed.and_then(|(_, _, m)| *m),
                }
            })
            .collect();
        Report {
            query,
            outcomes,
            time_to_close: rows.time_to_close,
            by_week,
            top_customers: rows.top_customers,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn without_dates_a_report_covers_the_last_90_days() {
        let q = ReportQuery::parse(None, Some(""), None, None, day("2026-03-31")).unwrap();
        assert_eq!((q.from, q.to), (day("2026-01-01"), day("2026-03-31")));
        assert_eq!(q.start().to_rfc3339(), "2026-01-01T00:00:00+00:00");
        assert_eq!(q.end().to_rfc3339(), "2026-04-01T00:00:00+00:00");
    }

    #[test]
    fn bad_dates_and_reversed_ranges_name_their_fields() {
        let today = day("2026-03-31");
        for bad in [
            "2026-02-30",
            "2026-2-3",
            "yesterday",
            "20260101",
            "1969-12-31",
        ] {
            let errors = ReportQuery::parse(Some(bad), None, None, None, today).unwrap_err();
            assert_eq!(errors.0[0].field, "from", "{bad}");
        }
        let errors = ReportQuery::parse(Some("2026-03-02"), Some("2026-03-01"), None, None, today)
            .unwrap_err();
        assert!(errors.0[0].message.contains("on or before 2026-03-01"));
        let errors = ReportQuery::parse(Some("2000-01-01"), Some("2026-03-01"), None, None, today)
            .unwrap_err();
        assert_eq!(errors.0[0].field, "to");
    }

    #[test]
    fn owner_and_customer_are_trimmed_and_blank_means_any() {
        let today = day("2026-03-31");
        let q = ReportQuery::parse(None, None, Some(" dana "), Some("  "), today).unwrap();
        assert_eq!(q.owner.as_deref(), Some("dana"));
        assert_eq!(q.customer, None);
        assert!(ReportQuery::parse(None, None, Some("a\0"), None, today).is_err());
        assert!(ReportQuery::parse(None, None, None, Some(&"x".repeat(201)), today).is_err());
    }

    #[test]
    fn weeks_start_on_monday_and_cover_the_whole_range() {
        let q = ReportQuery::parse(
            Some("2026-03-04"),
            Some("2026-03-16"),
            None,
            None,
            day("2026-03-31"),
        )
        .unwrap();
        assert_eq!(
            q.weeks(),
            [day("2026-03-02"), day("2026-03-09"), day("2026-03-16")]
        );
    }

    #[test]
    fn a_report_lists_every_outcome_and_every_week_with_zeros() {
        let q = ReportQuery::parse(
            Some("2026-03-02"),
            Some("2026-03-15"),
            None,
            None,
            day("2026-03-31"),
        )
        .unwrap();
        let rows = ReportRows {
            outcomes: vec![(Outcome::Escalated, 3)],
            closed: vec![(day("2026-03-09"), 3, Some(60.0))],
            ..ReportRows::default()
        };
        let report = Report::new(q, rows);
        let counts: Vec<_> = report
            .outcomes
            .iter()
            .map(|o| (o.outcome, o.count))
            .collect();
        assert_eq!(counts.len(), 6);
        assert_eq!(counts[1], (Outcome::Escalated, 3));
        assert_eq!(counts[0], (Outcome::Resolved, 0));
        assert_eq!(report.by_week.len(), 2);
        assert_eq!(report.by_week[0].closed, 0);
        assert_eq!(report.by_week[1].median_seconds, Some(60.0));
    }
}
