//! The reports page (`/reports`): outcome mix, sessions opened and closed
//! per week, and time to close, each as a server-rendered SVG chart with a
//! table beside it and the table as CSV. The filters live in the URL, as
//! the API's: `from`, `to`, `owner`, `customer`.

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::charts::{self, DurationUnit, OutcomeChart, WeekChart};
use super::layout::{Layout, PageError, render};
use crate::domain::{FieldError, Report, ValidationErrors, human_duration};
use crate::http::AppState;
use crate::http::api::ReportParams;
use crate::http::state::Viewer;

type Params = Result<Query<ReportParams>, QueryRejection>;

fn params(query: Params) -> ReportParams {
    query.map(|Query(p)| p).unwrap_or_default()
}

/// The filters as the form shows them again.
struct FilterValues {
    from: String,
    to: String,
    owner: String,
    customer: String,
}

/// The charts and tables of one report.
struct ReportView {
    outcomes: OutcomeChart,
    outcome_rows: Vec<OutcomeRow>,
    closed_total: u64,
    volume: WeekChart,
    time: WeekChart,
    time_unit: DurationUnit,
    weeks: Vec<WeekRowView>,
    median: String,
    p90: String,
    customers: Vec<CustomerView>,
    /// The same filters, as `?from=…&to=…`, for the CSV links.
    query: String,
    opened_total: u64,
}

struct OutcomeRow {
    label: &'static str,
    count: u64,
    share: String,
}

struct WeekRowView {
    week: String,
    opened: u64,
    closed: u64,
    median: String,
}

struct CustomerView {
    customer: String,
    sessions: u64,
    escalated: u64,
}

#[derive(Template)]
#[template(path = "reports.html")]
struct ReportsPage {
    layout: Layout,
    filters: FilterValues,
    errors: Vec<FieldError>,
    report: Option<ReportView>,
}

/// "3 h 5 min", or "—" when nothing was closed.
fn duration(seconds: Option<f64>) -> String {
    seconds.map_or_else(
        || "—".to_string(),
        |s| human_duration(chrono::Duration::seconds(s.round() as i64)),
    )
}

impl ReportView {
    fn new(report: &Report) -> Self {
        let closed_total: u64 = report.outcomes.iter().map(|o| o.count).sum();
        let (time, time_unit) = charts::time_chart(report);
        let q = &report.query;
        let mut pairs = vec![("from", q.from.to_string()), ("to", q.to.to_string())];
        if let Some(owner) = &q.owner {
            pairs.push(("owner", owner.clone()));
        }
        if let Some(customer) = &q.customer {
            pairs.push(("customer", customer.clone()));
        }
        ReportView {
            outcomes: charts::outcome_chart(report),
            outcome_rows: report
                .outcomes
                .iter()
                .map(|o| OutcomeRow {
                    label: o.outcome.label(),
                    count: o.count,
                    share: if closed_total == 0 {
                        "—".into()
                    } else {
                        format!("{:.0} %", 100.0 * o.count as f64 / closed_total as f64)
                    },
                })
                .collect(),
            closed_total,
            opened_total: report.by_week.iter().map(|w| w.opened).sum(),
            volume: charts::volume_chart(report),
            time,
            time_unit,
            weeks: report
                .by_week
                .iter()
                .map(|w| WeekRowView {
                    week: w.week.to_string(),
                    opened: w.opened,
                    closed: w.closed,
                    median: duration(w.median_seconds),
                })
                .collect(),
            median: duration(report.time_to_close.median_seconds),
            p90: duration(report.time_to_close.p90_seconds),
            customers: report
                .top_customers
                .iter()
                .map(|c| CustomerView {
                    customer: c.customer.clone(),
                    sessions: c.sessions,
                    escalated: c.escalated,
                })
                .collect(),
            query: format!(
                "?{}",
                serde_urlencoded::to_string(&pairs).unwrap_or_default()
            ),
        }
    }
}

/// The report `p` asks for, or why it cannot be made.
async fn report(
    state: &AppState,
    p: &ReportParams,
) -> Result<Result<Report, ValidationErrors>, PageError> {
    match p.parse(state.sessions.today()) {
        Ok(query) => Ok(Ok(state.sessions.report(query).await?)),
        Err(errors) => Ok(Err(errors)),
    }
}

#[tracing::instrument(skip_all)]
pub async fn page(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    query: Params,
) -> Result<Response, PageError> {
    let p = params(query);
    let result = report(&state, &p).await?;
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let mut filters = FilterValues {
        from: text(&p.from),
        to: text(&p.to),
        owner: text(&p.owner),
        customer: text(&p.customer),
    };
    let layout = Layout::signed_in("Reports", &viewer);
    match result {
        Ok(report) => {
            // Show the range the report covers, defaults included.
            filters.from = report.query.from.to_string();
            filters.to = report.query.to.to_string();
            render(&ReportsPage {
                layout,
                filters,
                errors: Vec::new(),
                report: Some(ReportView::new(&report)),
            })
        }
        Err(errors) => {
            let page = render(&ReportsPage {
                layout,
                filters,
                errors: errors.0,
                report: None,
            })?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
    }
}

/// A spreadsheet would run a cell that starts like a formula; a leading
/// apostrophe keeps it text.
fn cell(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    }
}

fn csv_response(
    name: &str,
    header_row: &[&str],
    rows: Vec<Vec<String>>,
) -> Result<Response, PageError> {
    let write = || -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(header_row)?;
        for row in rows {
            writer.write_record(row)?;
        }
        Ok(writer.into_inner().map_err(|e| e.into_error())?)
    };
    let body = write().map_err(|e| PageError::Internal(anyhow::anyhow!(e)))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response())
}

/// A CSV of one table, or the page's error when the filters are invalid.
async fn csv_of(
    state: &AppState,
    query: Params,
    table: impl FnOnce(&Report) -> Result<Response, PageError>,
) -> Result<Response, PageError> {
    let p = params(query);
    match report(state, &p).await? {
        Ok(report) => table(&report),
        Err(errors) => Err(PageError::Refused {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            heading: "Invalid report filters",
            message: errors.to_string(),
        }),
    }
}

fn seconds(value: Option<f64>) -> String {
    value.map(|s| format!("{s:.0}")).unwrap_or_default()
}

pub async fn outcomes_csv(
    State(state): State<AppState>,
    _: Viewer,
    query: Params,
) -> Result<Response, PageError> {
    csv_of(&state, query, |r| {
        let rows = r
            .outcomes
            .iter()
            .map(|o| {
                vec![
                    o.outcome.as_str().to_string(),
                    o.outcome.label().to_string(),
                    o.count.to_string(),
                ]
            })
            .collect();
        csv_response("outcomes.csv", &["outcome", "label", "count"], rows)
    })
    .await
}

pub async fn weeks_csv(
    State(state): State<AppState>,
    _: Viewer,
    query: Params,
) -> Result<Response, PageError> {
    csv_of(&state, query, |r| {
        let rows = r
            .by_week
            .iter()
            .map(|w| {
                vec![
                    w.week.to_string(),
                    w.opened.to_string(),
                    w.closed.to_string(),
                    seconds(w.median_seconds),
                ]
            })
            .collect();
        csv_response(
            "weeks.csv",
            &["week", "opened", "closed", "median_seconds"],
            rows,
        )
    })
    .await
}

pub async fn customers_csv(
    State(state): State<AppState>,
    _: Viewer,
    query: Params,
) -> Result<Response, PageError> {
    csv_of(&state, query, |r| {
        let rows = r
            .top_customers
            .iter()
            .map(|c| {
                vec![
                    cell(&c.customer),
                    c.sessions.to_string(),
                    c.escalated.to_string(),
                ]
            })
            .collect();
        csv_response(
            "customers.csv",
            &["customer", "sessions", "escalated"],
            rows,
        )
    })
    .await
}

pub async fn time_csv(
    State(state): State<AppState>,
    _: Viewer,
    query: Params,
) -> Result<Response, PageError> {
    csv_of(&state, query, |r| {
        let t = &r.time_to_close;
        let rows = vec![vec![
            t.count.to_string(),
            seconds(t.median_seconds),
            seconds(t.p90_seconds),
        ]];
        csv_response(
            "time_to_close.csv",
            &["count", "median_seconds", "p90_seconds"],
            rows,
        )
    })
    .await
}
