//! `GET /api/reports`: outcomes and time to close over a range of days.
//! Everyone signed in may read it, over anyone's sessions.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::{Outcome, Report, ReportQuery};
use crate::http::error::ProblemDetails;
use crate::http::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_report))
}

/// Which sessions a report covers; an empty value means the default.
#[derive(Deserialize, Default, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct ReportParams {
    /// The first day (UTC), `YYYY-MM-DD`; 89 days before `to` unless given.
    #[param(value_type = Option<NaiveDate>)]
    pub from: Option<String>,
    /// The last day (UTC), `YYYY-MM-DD`, on or after `from` and at most
    /// 3,660 days after it; today unless given.
    #[param(value_type = Option<NaiveDate>)]
    pub to: Option<String>,
    /// Only sessions of this owner (a username).
    #[param(pattern = "^[^\\u0000]*$")]
    pub owner: Option<String>,
    /// Only sessions of this customer (exactly as written on them).
    #[param(max_length = 200, pattern = "^[^\\u0000]*$")]
    pub customer: Option<String>,
}

impl ReportParams {
    pub fn parse(&self, today: NaiveDate) -> Result<ReportQuery, crate::domain::ValidationErrors> {
        ReportQuery::parse(
            self.from.as_deref(),
            self.to.as_deref(),
            self.owner.as_deref(),
            self.customer.as_deref(),
            today,
        )
    }
}

/// Outcomes and time to close of the sessions of a range of days.
#[derive(Serialize, ToSchema)]
#[schema(as = Report)]
pub struct ReportBody {
    /// The first day covered.
    from: NaiveDate,
    /// The last day covered.
    to: NaiveDate,
    /// Sessions closed in the range, per outcome: all six, zeros included.
    outcomes: Vec<OutcomeCountBody>,
    time_to_close: TimeToCloseBody,
    /// Every week (from Monday) the range touches, oldest first.
    by_week: Vec<WeekBody>,
    /// The customers with the most sessions opened in the range (at most 10).
    top_customers: Vec<CustomerBody>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = OutcomeCount)]
struct OutcomeCountBody {
    outcome: Outcome,
    label: &'static str,
    count: u64,
}

/// Seconds from opening (preparing) to closing, of the sessions closed in
/// the range; interpolated percentiles, null when none was closed.
#[derive(Serialize, ToSchema)]
#[schema(as = TimeToClose)]
struct TimeToCloseBody {
    median_seconds: Option<f64>,
    p90_seconds: Option<f64>,
    count: u64,
}

#[derive(Serialize, ToSchema)]
#[schema(as = ReportWeek)]
struct WeekBody {
    /// The week's Monday.
    week: NaiveDate,
    /// Sessions opened (prepared) that week, within the range.
    opened: u64,
    /// Sessions closed that week, within the range.
    closed: u64,
    /// The median time to close of the sessions closed that week.
    median_seconds: Option<f64>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = ReportCustomer)]
struct CustomerBody {
    customer: String,
    /// Sessions opened in the range.
    sessions: u64,
    /// Of those, how many ended escalated.
    escalated: u64,
}

impl From<&Report> for ReportBody {
    fn from(r: &Report) -> Self {
        ReportBody {
            from: r.query.from,
            to: r.query.to,
            outcomes: r
                .outcomes
                .iter()
                .map(|o| OutcomeCountBody {
                    outcome: o.outcome,
                    label: o.outcome.label(),
                    count: o.count,
                })
                .collect(),
            time_to_close: TimeToCloseBody {
                median_seconds: r.time_to_close.median_seconds,
                p90_seconds: r.time_to_close.p90_seconds,
                count: r.time_to_close.count,
            },
            by_week: r
                .by_week
                .iter()
                .map(|w| WeekBody {
                    week: w.week,
                    opened: w.opened,
                    closed: w.closed,
                    median_seconds: w.median_seconds,
                })
                .collect(),
            top_customers: r
                .top_customers
                .iter()
                .map(|c| CustomerBody {
                    customer: c.customer.clone(),
                    sessions: c.sessions,
                    escalated: c.escalated,
                })
                .collect(),
        }
    }
}

/// Outcomes, time to close, sessions per week and top customers, computed
/// by the database.
#[utoipa::path(get, path = "/reports", tag = "reports", params(ReportParams), responses(
    (status = 200, description = "The report.", body = ReportBody),
    (status = 400, description = "The query does not parse.", body = ProblemDetails, content_type = "application/problem+json"),
    (status = 422, description = "A date is not `YYYY-MM-DD`, `from` is after `to`, or another filter is invalid.", body = ProblemDetails, content_type = "application/problem+json"),
))]
#[tracing::instrument(skip_all)]
async fn get_report(
    State(state): State<AppState>,
    query: Result<Query<ReportParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(p) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let query = p.parse(state.sessions.today())?;
    let report = state.sessions.report(query).await?;
    Ok(Json(ReportBody::from(&report)).into_response())
}
