//! `/api/runbooks`: named, reusable plans. Anyone signed in may create one;
//! its creator or an admin may edit or retire it.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::bodies::ListBody;
use super::schema::StepTextSchema;
use super::timestamp;
use crate::domain::{Runbook, RunbookDraft, RunbookQuery};
use crate::http::error::ProblemDetails;
use crate::http::extract::{ApiJson, parse_id};
use crate::http::state::CurrentActor;
use crate::http::{ApiError, AppState};
use crate::service::RunbookError;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_runbooks, create_runbook))
        .routes(routes!(get_runbook, update_runbook))
        .routes(routes!(retire_runbook))
        .routes(routes!(save_plan_as_runbook))
}

const TAG: &str = "runbooks";

impl From<RunbookError> for ApiError {
    fn from(error: RunbookError) -> Self {
        match error {
            RunbookError::NotFound => ApiError::NotFound("No runbook has this id.".into()),
            RunbookError::Forbidden { created_by } => ApiError::Forbidden(format!(
                "Only the runbook's creator ({created_by}) or an admin can change it."
            )),
            RunbookError::Invalid(errors) => ApiError::Validation(errors),
            refused @ (RunbookError::NoPlan | RunbookError::PlanTooLong { .. }) => {
                ApiError::StateConflict(refused.to_string())
            }
            RunbookError::Session(error) => error.into(),
        }
    }
}

/// A named, reusable plan with an optional problem template.
#[derive(Serialize, ToSchema)]
#[schema(as = Runbook)]
pub struct RunbookBody<'a> {
    id: Uuid,
    name: &'a str,
    /// The problem template; empty when there is none.
    problem: &'a str,
    /// The plan, in order.
    steps: &'a [String],
    created_by: &'a str,
    /// The session whose plan it was saved from.
    source_session_id: Option<Uuid>,
    #[serde(serialize_with = "timestamp::serialize")]
    created_at: DateTime<Utc>,
    #[serde(serialize_with = "timestamp::serialize")]
    updated_at: DateTime<Utc>,
    /// When it was retired: no longer offered for new sessions.
    #[serde(serialize_with = "timestamp::serialize_option")]
    retired_at: Option<DateTime<Utc>>,
}

impl<'a> From<&'a Runbook> for RunbookBody<'a> {
    fn from(r: &'a Runbook) -> Self {
        RunbookBody {
            id: r.id,
            name: &r.name,
            problem: &r.problem,
            steps: &r.steps,
            created_by: &r.created_by,
            source_session_id: r.source_session_id,
            created_at: r.created_at,
            updated_at: r.updated_at,
            retired_at: r.retired_at,
        }
    }
}

/// A runbook to create.
#[derive(Deserialize, Default, ToSchema)]
#[schema(example = json!({"name": "VPN tunnel drops", "problem": "The tunnel to … drops every hour.", "steps": ["Check the rekey timer", "Compare the peers' lifetimes"]}))]
pub struct CreateRunbook {
    /// 1–200 characters, not all spaces.
    #[schema(required, value_type = String, max_length = 200, pattern = "^[^\\u0000]*[^\\u0000\\t\\n\\x0B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000][^\\u0000]*$")]
    pub name: Option<String>,
    /// The problem template: at most 10,000 characters.
    #[schema(max_length = 10000, pattern = "^[^\\u0000]*$")]
    pub problem: Option<String>,
    /// The plan: 1–100 steps of 1–500 characters each.
    #[schema(required, min_items = 1, max_items = 100, value_type = Vec<StepTextSchema>)]
    #[serde(default)]
    pub steps: Vec<String>,
}

/// The name of a runbook saved from a session's plan.
#[derive(Deserialize, Default, ToSchema)]
#[schema(example = json!({"name": "VPN rekey mismatch"}))]
pub struct SavePlan {
    /// 1–200 characters, not all spaces.
    #[schema(required, value_type = String, max_length = 200, pattern = "^[^\\u0000]*[^\\u0000\\t\\n\\x0B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000][^\\u0000]*$")]
    pub name: Option<String>,
}

/// A runbook's new name, problem template and steps.
#[derive(Deserialize, Default, ToSchema)]
#[schema(example = json!({"name": "VPN tunnel drops", "problem": "", "steps": ["Check the rekey timer"]}))]
pub struct UpdateRunbook {
    /// 1–200 characters, not all spaces.
    #[schema(required, value_type = String, max_length = 200, pattern = "^[^\\u0000]*[^\\u0000\\t\\n\\x0B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000][^\\u0000]*$")]
    pub name: Option<String>,
    /// The problem template: at most 10,000 characters.
    #[schema(max_length = 10000, pattern = "^[^\\u0000]*$")]
    pub problem: Option<String>,
    /// The plan: 1–100 steps of 1–500 characters each.
    #[schema(required, min_items = 1, max_items = 100, value_type = Vec<StepTextSchema>)]
    #[serde(default)]
    pub steps: Vec<String>,
}

/// Filters of the runbook list; an empty value means "any".
#[derive(Deserialize, Default, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct RunbookParams {
    /// Words that must all appear in the name (anywhere, any case).
    #[param(max_length = 200, pattern = "^[^\\u0000]*$")]
    pub q: Option<String>,
    /// List retired runbooks too.
    #[param(value_type = Option<bool>)]
    pub include_retired: Option<String>,
    /// At most this many, 50 unless given.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
}

fn parse_runbook_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::NotFound("No runbook has this id.".into()))
}

fn runbook_json(runbook: &Runbook) -> Response {
    Json(RunbookBody::from(runbook)).into_response()
}

/// Runbooks by name; active ones unless `include_retired` is true.
#[utoipa::path(get, path = "/runbooks", tag = TAG, params(RunbookParams), responses(
    (status = 200, description = "The runbooks, by name.", body = ListBody<RunbookBody>),
    (status = 422, description = "A filter has an invalid value.", body = ProblemDetails, content_type = "application/problem+json"),
))]
#[tracing::instrument(skip_all)]
async fn list_runbooks(
    State(state): State<AppState>,
    query: Result<Query<RunbookParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(p) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let query = RunbookQuery::parse(
        p.q.as_deref(),
        p.include_retired.as_deref(),
        p.limit.as_deref(),
    )?;
    let runbooks = state.sessions.runbooks(&query).await?;
    let body = ListBody {
        items: runbooks.iter().map(RunbookBody::from).collect(),
        next_cursor: None,
    };
    Ok(Json(body).into_response())
}

fn created(runbook: &Runbook) -> Response {
    let location = format!("/api/runbooks/{}", runbook.id);
    (
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(RunbookBody::from(runbook)),
    )
        .into_response()
}

/// Creates a runbook.
#[utoipa::path(post, path = "/runbooks", tag = TAG, request_body = CreateRunbook, responses(
    (status = 201, description = "The new runbook.", body = RunbookBody,
        headers(("Location" = String, description = "The new runbook's address."))),
))]
#[tracing::instrument(skip_all)]
async fn create_runbook(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ApiJson(body): ApiJson<CreateRunbook>,
) -> Result<Response, ApiError> {
    let draft = RunbookDraft::parse(body.name.as_deref(), body.problem.as_deref(), &body.steps)?;
    let runbook = state.sessions.create_runbook(&actor, draft, None).await?;
    Ok(created(&runbook))
}

/// Saves a session's plan (its steps, in order) and problem as a new runbook.
#[utoipa::path(post, path = "/sessions/{id}/runbook", tag = TAG, params(("id" = Uuid, Path, description = "The session's id.")), request_body = SavePlan, responses(
    (status = 201, description = "The new runbook.", body = RunbookBody,
        headers(("Location" = String, description = "The new runbook's address."))),
    (status = 404, description = "No session has this id.", body = ProblemDetails, content_type = "application/problem+json"),
    (status = 409, description = "The session has no plan to save, or more steps than a runbook holds.", body = ProblemDetails, content_type = "application/problem+json"),
    (status = 422, description = "The name is invalid.", body = ProblemDetails, content_type = "application/problem+json"),
))]
#[tracing::instrument(skip_all, fields(session = %id))]
async fn save_plan_as_runbook(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<SavePlan>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let name = body.name.as_deref().unwrap_or_default();
    let runbook = state
        .sessions
        .save_plan_as_runbook(&actor, id, name)
        .await?;
    Ok(created(&runbook))
}

/// One runbook, retired or not.
#[utoipa::path(get, path = "/runbooks/{id}", tag = TAG, params(("id" = Uuid, Path, description = "The runbook's id.")), responses(
    (status = 200, description = "The runbook.", body = RunbookBody),
    (status = 404, description = "No runbook has this id.", body = ProblemDetails, content_type = "application/problem+json"),
))]
async fn get_runbook(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let runbook = state.sessions.runbook(parse_runbook_id(&id)?).await?;
    Ok(runbook_json(&runbook))
}

/// Replaces a runbook's name, problem template and steps (its creator or an admin).
#[utoipa::path(put, path = "/runbooks/{id}", tag = TAG, params(("id" = Uuid, Path, description = "The runbook's id.")), request_body = UpdateRunbook, responses(
    (status = 200, description = "The runbook as it now is.", body = RunbookBody),
    (status = 403, description = "Only the runbook's creator or an admin may change it.", body = ProblemDetails, content_type = "application/problem+json"),
    (status = 404, description = "No runbook has this id.", body = ProblemDetails, content_type = "application/problem+json"),
))]
#[tracing::instrument(skip_all, fields(runbook = %id))]
async fn update_runbook(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateRunbook>,
) -> Result<Response, ApiError> {
    let id = parse_runbook_id(&id)?;
    let draft = RunbookDraft::parse(body.name.as_deref(), body.problem.as_deref(), &body.steps)?;
    let runbook = state.sessions.update_runbook(&actor, id, draft).await?;
    Ok(runbook_json(&runbook))
}

/// Retires a runbook (its creator or an admin): it is no longer offered.
/// Retiring a retired runbook changes nothing.
#[utoipa::path(post, path = "/runbooks/{id}/retire", tag = TAG, params(("id" = Uuid, Path, description = "The runbook's id.")), responses(
    (status = 200, description = "The retired runbook.", body = RunbookBody),
    (status = 403, description = "Only the runbook's creator or an admin may retire it.", body = ProblemDetails, content_type = "application/problem+json"),
    (status = 404, description = "No runbook has this id.", body = ProblemDetails, content_type = "application/problem+json"),
))]
#[tracing::instrument(skip_all, fields(runbook = %id))]
async fn retire_runbook(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let runbook = state
        .sessions
        .retire_runbook(&actor, parse_runbook_id(&id)?)
        .await?;
    Ok(runbook_json(&runbook))
}
