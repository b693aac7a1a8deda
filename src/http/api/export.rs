//! `GET /api/sessions/export`: every session a list would show, as CSV or
//! JSON Lines, streamed page by page from the store so that memory stays
//! flat however many sessions match.

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use futures_util::{StreamExt, TryStreamExt, stream};
use serde::Deserialize;
use utoipa::{IntoParams, PartialSchema, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::bodies::SessionBody;
use super::schema::StatusSchema;
use crate::domain::Outcome;
use crate::domain::{ListQuery, ListQueryError, Session};
use crate::http::error::ProblemDetails;
use crate::http::{ApiError, AppState};
use crate::service::{ServiceError, SessionService};

/// Sessions read from the store at a time.
const PAGE: u32 = 200;

pub fn router() -> OpenApiRouter<AppState> {
    let mut router = OpenApiRouter::new().routes(routes!(export));
    // A parameter's `value_type` refers to its schema without adding it to
    // the components, which would leave the reference dangling.
    router
        .get_openapi_mut()
        .components
        .get_or_insert_with(Default::default)
        .schemas
        .insert(FormatSchema::name().into_owned(), FormatSchema::schema());
    router
}

/// The list's filters (status, outcome, owner, q) and the format.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
struct ExportParams {
    /// `csv` (the default) or `jsonl`.
    #[param(value_type = Option<FormatSchema>)]
    format: Option<String>,
    /// Only sessions with this status.
    #[param(value_type = Option<StatusSchema>)]
    status: Option<String>,
    /// Only completed sessions with this outcome.
    #[param(value_type = Option<Outcome>)]
    outcome: Option<String>,
    /// Only sessions of this username.
    #[param(pattern = "^[^\\u0000]*$")]
    owner: Option<String>,
    /// Words every exported session contains (prefix match).
    q: Option<String>,
}

/// The export formats, for the document.
#[derive(ToSchema)]
#[schema(as = ExportFormat)]
#[allow(dead_code)]
enum FormatSchema {
    #[schema(rename = "csv")]
    Csv,
    #[schema(rename = "jsonl")]
    Jsonl,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
}

impl Format {
    fn parse(value: Option<&str>) -> Result<Format, ApiError> {
        match value.map(str::trim) {
            None | Some("") | Some("csv") => Ok(Format::Csv),
            Some("jsonl") => Ok(Format::Jsonl),
            Some(other) => Err(ApiError::BadRequest(format!(
                "{other:?} is not an export format: use format=csv or format=jsonl."
            ))),
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Jsonl => "application/x-ndjson",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
        }
    }
}

/// The CSV columns, in order.
pub const CSV_COLUMNS: [&str; 15] = [
    "id",
    "title",
    "status",
    "outcome",
    "owner",
    "reference",
    "customer",
    "created_at",
    "started_at",
    "completed_at",
    // Whole seconds from start to completion, for spreadsheets; empty until completed.
    "duration_seconds",
    "completed_by",
    "outcome_notes",
    "summary",
    "problem",
];

/// Every session the list would show for these filters, streamed.
#[utoipa::path(get, path = "/sessions/export", tag = "sessions", params(ExportParams), responses(
    (status = 200, description = "The sessions, newest first: CSV with a header row, or one list-API session object per line.", content(
        (String = "text/csv"),
        (String = "application/x-ndjson"),
    )),
    (status = 400, description = "The format is not csv or jsonl.", body = ProblemDetails, content_type = "application/problem+json"),
    (status = 422, description = "A filter has an invalid value.", body = ProblemDetails, content_type = "application/problem+json"),
))]
#[tracing::instrument(skip_all)]
async fn export(
    State(state): State<AppState>,
    query: Result<Query<ExportParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(p) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let format = Format::parse(p.format.as_deref())?;
    let mut query = ListQuery::parse(
        p.status.as_deref(),
        p.outcome.as_deref(),
        p.owner.as_deref(),
        p.q.as_deref(),
        None,
        None,
    )
    .map_err(|e| match e {
        ListQueryError::Invalid(errors) => ApiError::Validation(errors),
        ListQueryError::BadCursor => ApiError::BadRequest("Unexpected cursor.".into()),
    })?;
    query.limit = PAGE;
    // JSON lines are the API's session objects, steps included; CSV has no
    // column for them, so they are not read.
    query.with_steps = format == Format::Jsonl;

    let header = match format {
        Format::Csv => Some(Ok(csv_chunk(&[], true))),
        Format::Jsonl => None,
    };
    let pages = pages(state.sessions.clone(), query).map_ok(move |items| match format {
        Format::Csv => csv_chunk(&items, false),
        Format::Jsonl => jsonl_chunk(&items),
    });
    let body = stream::iter(header)
        .chain(pages)
        .inspect_err(|error| tracing::error!(%error, "export stopped early"));

    let filename = format!(
        "attachment; filename=\"casebook-sessions-{}.{}\"",
        state.sessions.now().format("%Y%m%dT%H%MZ"),
        format.extension()
    );
    let mut response = Body::from_stream(body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&filename).expect("the filename is ASCII"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The pages of `query`, one after another, each read when the client has
/// taken the previous one: at most one page is in memory at a time.
fn pages(
    service: SessionService,
    first: ListQuery,
) -> impl futures_util::Stream<Item = Result<Vec<Session>, ServiceError>> + Send {
    stream::try_unfold(Some(first), move |next| {
        let service = service.clone();
        async move {
            let Some(query) = next else {
                return Ok(None);
            };
            let page = service.list(&query).await?;
            let next = page.next.map(|cursor| ListQuery {
                after: Some(cursor),
                ..query
            });
            Ok(Some((page.items, next)))
        }
    })
}

fn time(at: Option<DateTime<Utc>>) -> String {
    at.map(|t| t.to_rfc3339_opts(SecondsFormat::Micros, true))
        .unwrap_or_default()
}

/// The sessions as CSV rows (after the header row when `header`), quoted
/// by the csv crate wherever a value needs it.
fn csv_chunk(items: &[Session], header: bool) -> Bytes {
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::with_capacity(items.len() * 512));
    if header {
        writer.write_record(CSV_COLUMNS).expect("writing to memory");
    }
    for s in items {
        let row = [
            s.id.to_string(),
            s.title.clone(),
            s.status().as_str().to_owned(),
            s.outcome.map(|o| o.as_str().to_owned()).unwrap_or_default(),
            s.owner.clone(),
            s.reference.clone().unwrap_or_default(),
            s.customer.clone().unwrap_or_default(),
            time(Some(s.created_at)),
            time(s.started_at),
            time(s.completed_at),
            s.started_at
                .zip(s.completed_at)
                .map(|(start, end)| (end - start).num_seconds().to_string())
                .unwrap_or_default(),
            s.completed_by.clone().unwrap_or_default(),
            s.outcome_notes.clone().unwrap_or_default(),
            s.summary.clone().unwrap_or_default(),
            s.problem.clone(),
        ];
        for cell in &row {
            writer
                .write_field(formula_safe(cell).as_bytes())
                .expect("writing to memory");
        }
        writer
            .write_record(None::<&[u8]>)
            .expect("writing to memory");
    }
    Bytes::from(writer.into_inner().expect("writing to memory"))
}

/// A cell a spreadsheet would run as a formula (OWASP's list of leading
/// characters) gets a leading `'`, which spreadsheets show as text; every
/// other cell is written as it is. Applied to every column: only the text
/// ones can start that way, and a rule that skips none cannot miss one.
fn formula_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

/// One JSON object per line: the same object the API's list returns.
fn jsonl_chunk(items: &[Session]) -> Bytes {
    let mut out = Vec::with_capacity(items.len() * 1024);
    for s in items {
        serde_json::to_writer(&mut out, &SessionBody::from(s)).expect("sessions serialize");
        out.push(b'\n');
    }
    Bytes::from(out)
}
