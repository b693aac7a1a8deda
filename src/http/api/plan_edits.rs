//! Changing the plan and the notes while working on an active session: add,
//! reword or skip a step, and correct one's own note. Each is recorded in
//! the timeline; on any other status each is a 409.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::bodies::{AddNote, EventBody, SessionBody};
use crate::domain::{NoteText, StepText, ValidationErrors};
use crate::http::error::ProblemDetails;
use crate::http::extract::{ApiJson, Via, parse_id};
use crate::http::state::CurrentActor;
use crate::http::{ApiError, AppState};

const TAG: &str = "sessions";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(add_step))
        .routes(routes!(reword_step))
        .routes(routes!(skip_step))
        .routes(routes!(correct_note))
}

/// A step's text.
#[derive(Deserialize, Default, ToSchema)]
#[schema(example = json!({"text": "Check the backup job"}))]
pub struct StepTextBody {
    /// 1–500 characters, not all spaces.
    #[schema(required, value_type = String, max_length = 500, pattern = "^[^\\u0000]*[^\\u0000\\t\\n\\x0B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000][^\\u0000]*$")]
    pub text: Option<String>,
}

fn step_text(body: &StepTextBody) -> Result<StepText, ApiError> {
    StepText::parse(body.text.as_deref().unwrap_or_default())
        .map_err(|m| ValidationErrors::single("text", m).into())
}

/// Adds a step at the end of an active session's plan.
#[utoipa::path(post, path = "/sessions/{id}/steps", tag = TAG, params(("id" = Uuid, Path, description = "The session's id.")), request_body = StepTextBody, responses(
    (status = 201, description = "The session with its new step last.", body = SessionBody),
    (status = 409, description = "The session is not active.", body = ProblemDetails, content_type = "application/problem+json"),
))]
#[tracing::instrument(skip_all, fields(session = %id))]
async fn add_step(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Via(via): Via,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<StepTextBody>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let text = step_text(&body)?;
    let session = state.sessions.add_step(&actor, via, id, text).await?;
    Ok((StatusCode::CREATED, Json(SessionBody::from(&session))).into_response())
}

/// Rewords a step of an active session; the timeline keeps both texts.
#[utoipa::path(put, path = "/sessions/{id}/steps/{step_id}", tag = TAG, params(("id" = Uuid, Path, description = "The session's id."), ("step_id" = Uuid, Path, description = "The step's id.")), request_body = StepTextBody, responses(
    (status = 200, description = "The session.", body = SessionBody),
    (status = 409, description = "The session is not active.", body = ProblemDetails, content_type = "application/problem+json"),
))]
#[tracing::instrument(skip_all, fields(session = %id))]
async fn reword_step(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Via(via): Via,
    Path((id, step_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<StepTextBody>,
) -> Result<Response, ApiError> {
    let (id, step_id) = (parse_id(&id)?, parse_id(&step_id)?);
    let text = step_text(&body)?;
    let session = state
        .sessions
        .reword_step(&actor, via, id, step_id, text)
        .await?;
    Ok(Json(SessionBody::from(&session)).into_response())
}

/// Skips a step of an active session: it is not to be checked. Checking or
/// unchecking it later clears the skip.
#[utoipa::path(post, path = "/sessions/{id}/steps/{step_id}/skip", tag = TAG, params(("id" = Uuid, Path, description = "The session's id."), ("step_id" = Uuid, Path, description = "The step's id.")), responses(
    (status = 200, description = "The session.", body = SessionBody),
    (status = 409, description = "The session is not active.", body = ProblemDetails, content_type = "application/problem+json"),
))]
#[tracing::instrument(skip_all, fields(session = %id))]
async fn skip_step(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Via(via): Via,
    Path((id, step_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (id, step_id) = (parse_id(&id)?, parse_id(&step_id)?);
    let session = state.sessions.skip_step(&actor, via, id, step_id).await?;
    Ok(Json(SessionBody::from(&session)).into_response())
}

/// Corrects a note of an active session; only its author may. The note's
/// own event keeps the first text; the correction is a new event.
#[utoipa::path(put, path = "/sessions/{id}/notes/{note_id}", tag = TAG, params(("id" = Uuid, Path, description = "The session's id."), ("note_id" = Uuid, Path, description = "The note's id (its timeline event's id).")), request_body = AddNote, responses(
    (status = 200, description = "The correction, as an event of the timeline.", body = EventBody),
    (status = 409, description = "The session is not active.", body = ProblemDetails, content_type = "application/problem+json"),
))]
#[tracing::instrument(skip_all, fields(session = %id))]
async fn correct_note(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Via(via): Via,
    Path((id, note_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<AddNote>,
) -> Result<Response, ApiError> {
    let (id, note_id) = (parse_id(&id)?, parse_id(&note_id)?);
    let text = NoteText::parse(body.text.as_deref().unwrap_or_default())
        .map_err(|m| ValidationErrors::single("text", m))?;
    let event = state
        .sessions
        .correct_note(&actor, via, id, note_id, text)
        .await?;
    Ok(Json(EventBody::from(&event)).into_response())
}
