use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::value::RawValue;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::bodies::{
    AddNote, CheckStep, CompleteSession, CreateSession, EventBody, ListBody, ListParams,
    SessionBody,
};
use super::session_edits;
use crate::domain::{
    Finding, ListQuery, ListQueryError, NewSession, NoteText, Outcome, OutcomeNotes, Session,
    ValidationErrors,
};
use crate::http::capacity::{self, LearnedCapacity};
use crate::http::error::ProblemDetails;
use crate::http::extract::{ApiJson, Via, parse_id};
use crate::http::state::CurrentActor;
use crate::http::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_sessions, create_session))
        .routes(routes!(
            get_session,
            session_edits::edit_session,
            session_edits::delete_session
        ))
        .routes(routes!(session_edits::reassign_session))
        .routes(routes!(start_session))
        .routes(routes!(complete_session))
        .routes(routes!(reopen_session))
        .routes(routes!(add_note))
        .routes(routes!(list_events))
        .routes(routes!(summarize_session))
        .routes(routes!(check_step))
        .routes(routes!(uncheck_step))
}

const TAG: &str = "sessions";

fn session_json(session: &Session) -> Response {
    Json(SessionBody::from(session)).into_response()
}

/// Sessions, newest first, one page at a time.
#[utoipa::path(get, path = "/sessions", tag = TAG, params(ListParams), responses(
    (status = 200, description = "One page of sessions.", body = ListBody<SessionBody>),
    (status = 400, description = "The cursor is not one this server issued.", body = ProblemDetails, content_type = "application/problem+json"),
    (status = 422, description = "A filter has an invalid value.", body = ProblemDetails, content_type = "application/problem+json"),
))]
#[tracing::instrument(skip_all)]
async fn list_sessions(
    State(state): State<AppState>,
    query: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(p) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let mut query = ListQuery::parse(
        p.status.as_deref(),
        p.outcome.as_deref(),
        p.owner.as_deref(),
        p.q.as_deref(),
        p.cursor.as_deref(),
        p.limit.as_deref(),
    )
    .map_err(|e| match e {
        ListQueryError::BadCursor => ApiError::BadRequest(
            "The cursor is not one this server issued; start again from the first page.".into(),
        ),
        ListQueryError::Invalid(errors) => ApiError::Validation(errors),
    })?;
    // The rows without their steps: most sessions' JSON is kept from an
    // earlier list (see `session_json`), and only the others need steps.
    query.with_steps = false;
    let page = state.sessions.list(&query).await?;
    let mut lookup = state.session_json.lookup(page.items);
    if !lookup.missing.is_empty() {
        state.sessions.load_steps(&mut lookup.missing).await?;
    }
    let items = lookup
        .complete(&state.session_json)
        .map_err(|e| ApiError::Internal(e.into()))?;
    let body = ListBody {
        items: items.iter().map(|json| &**json).collect::<Vec<&RawValue>>(),
        next_cursor: page.next.map(|cursor| cursor.encode()),
    };
    static LIST_BYTES: LearnedCapacity = LearnedCapacity::new();
    capacity::json(&body, &LIST_BYTES).map_err(ApiError::Internal)
}

/// Prepares a session, and starts it when `start` is true.
#[utoipa::path(post, path = "/sessions", tag = TAG, request_body = CreateSession, responses(
    (status = 201, description = "The new session.", body = SessionBody,
        headers(("Location" = String, description = "The new session's address."))),
))]
#[tracing::instrument(skip_all)]
async fn create_session(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Via(via): Via,
    ApiJson(body): ApiJson<CreateSession>,
) -> Result<Response, ApiError> {
    let new = NewSession::parse(
        body.title.as_deref(),
        body.problem.as_deref(),
        body.reference.as_deref(),
        body.customer.as_deref(),
        &body.steps,
    )?;
    let mut session = state.sessions.prepare(&actor, via, new).await?;
    if body.start {
        session = state.sessions.start(&actor, via, session.id).await?;
    }
    let location = format!("/api/sessions/{}", session.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(SessionBody::from(&session)),
    )
        .into_response())
}

/// One session with its plan.
#[utoipa::path(get, path = "/sessions/{id}", tag = TAG, params(("id" = Uuid, Path, description = "The session's id.")), responses(
    (status = 200, description = "The session.", body = SessionBody),
))]
async fn get_session(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let session = state.sessions.get(parse_id(&id)?).await?;
    Ok(session_json(&session))
}

/// Starts a prepared session.
#[utoipa::path(post, path = "/sessions/{id}/start", tag = TAG, params(("id" = Uuid, Path, description = "The session's id.")), responses(
    (status = 200, description = "The session.", body = SessionBody),
    (status = 409, description = "The session's status does not allow this.", body = ProblemDetails, content_type = "application/problem+json"),
))]
#[tracing::instrument(skip_all, fields(session = %id))]
async fn start_session(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Via(via): Via,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let session = state.sessions.start(&actor, via, parse_id(&id)?).await?;
    Ok(session_json(&session))
}

/// Completes an active session with an outcome.
#[utoipa::path(post, path = "/sessions/{id}/complete", tag = TAG, params(("id" = Uuid, Path, description = "The session's id.")), request_body = CompleteSession, responses(
    (status = 200, description = "The session.", body = SessionBody),
    (status = 409, description = "The session's status does not allow this.", body = ProblemDetails, content_type = "application/problem+json"),
))]
#[tracing::instrument(skip_all, fields(session = %id))]
async fn complete_session(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Via(via): Via,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CompleteSession>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let mut errors = ValidationErrors::default();
    let outcome = errors.check("outcome", Outcome::parse_required(body.outcome.as_deref()));
    let notes = errors.check(
        "outcome_notes",
        OutcomeNotes::parse(body.outcome_notes.as_deref()),
    );
    let (Some(outcome), Some(notes)) = (outcome, notes) else {
        return Err(errors.into());
    };
    let session = state
        .sessions
        .complete(&actor, via, id, outcome, notes)
        .await?;
    Ok(session_json(&session))
}

/// Reopens a completed session.
#[utoipa::path(post, path = "/sessions/{id}/reopen", tag = TAG, params(("id" = Uuid, Path, description = "The session's id.")), responses(
    (status = 200, description = "The session.", body = SessionBody),
    (status = 409, description = "The session's status does not allow this.", body = ProblemDetails, content_type = "application/problem+json"),
))]
#[tracing::instrument(skip_all, fields(session = %id))]
async fn reopen_session(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Via(via): Via,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let session = state.sessions.reopen(&actor, via, parse_id(&id)?).await?;
    Ok(session_json(&session))
}

/// Adds a note to an active session's timeline.
#[utoipa::path(post, path = "/sessions/{id}/notes", tag = TAG, params(("id" = Uuid, Path, description = "The session's id.")), request_body = AddNote, responses(
    (status = 201, description = "The note, as an event of the timeline.", body = EventBody),
    (status = 409, description = "The session's status does not allow this.", body = ProblemDetails, content_type = "application/problem+json"),
))]
#[tracing::instrument(skip_all, fields(session = %id))]
async fn add_note(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Via(via): Via,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AddNote>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let text = NoteText::parse(body.text.as_deref().unwrap_or_default())
        .map_err(|m| ValidationErrors::single("text", m))?;
    let event = state.sessions.add_note(&actor, via, id, text).await?;
    Ok((StatusCode::CREATED, Json(EventBody::from(&event))).into_response())
}

/// Generates the summary of a completed session.
#[utoipa::path(post, path = "/sessions/{id}/summary", tag = TAG, params(("id" = Uuid, Path, description = "The session's id.")), responses(
    (status = 200, description = "The session.", body = SessionBody),
    (status = 409, description = "The session's status does not allow this.", body = ProblemDetails, content_type = "application/problem+json"),
    (status = 502, description = "The summarizer failed; the session is unchanged.", body = ProblemDetails, content_type = "application/problem+json"),
))]
#[tracing::instrument(skip_all, fields(session = %id))]
async fn summarize_session(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Via(via): Via,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let session = state
        .sessions
        .summarize(&actor, via, parse_id(&id)?)
        .await?;
    Ok(session_json(&session))
}

/// A session's timeline, oldest first.
#[utoipa::path(get, path = "/sessions/{id}/events", tag = TAG, params(("id" = Uuid, Path, description = "The session's id.")), responses(
    (status = 200, description = "Every event of the session.", body = ListBody<EventBody>),
))]
async fn list_events(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let events = state.sessions.events(parse_id(&id)?).await?;
    let body = ListBody {
        items: events.iter().map(EventBody::from).collect(),
        next_cursor: None,
    };
    Ok(Json(body).into_response())
}

/// Checks a step of an active session's plan, with what it found.
#[utoipa::path(post, path = "/sessions/{id}/steps/{step_id}/check", tag = TAG, params(("id" = Uuid, Path, description = "The session's id."), ("step_id" = Uuid, Path, description = "The step's id.")), request_body = CheckStep, responses(
    (status = 200, description = "The session.", body = SessionBody),
    (status = 409, description = "The session's status does not allow this.", body = ProblemDetails, content_type = "application/problem+json"),
))]
#[tracing::instrument(skip_all, fields(session = %id))]
async fn check_step(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Via(via): Via,
    Path((id, step_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<CheckStep>,
) -> Result<Response, ApiError> {
    let (id, step_id) = (parse_id(&id)?, parse_id(&step_id)?);
    let finding = Finding::parse(body.finding.as_deref())
        .map_err(|m| ValidationErrors::single("finding", m))?;
    let session = state
        .sessions
        .check_step(&actor, via, id, step_id, finding)
        .await?;
    Ok(session_json(&session))
}

/// Unchecks a step of an active session's plan.
#[utoipa::path(post, path = "/sessions/{id}/steps/{step_id}/uncheck", tag = TAG, params(("id" = Uuid, Path, description = "The session's id."), ("step_id" = Uuid, Path, description = "The step's id.")), responses(
    (status = 200, description = "The session.", body = SessionBody),
    (status = 409, description = "The session's status does not allow this.", body = ProblemDetails, content_type = "application/problem+json"),
))]
#[tracing::instrument(skip_all, fields(session = %id))]
async fn uncheck_step(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Via(via): Via,
    Path((id, step_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (id, step_id) = (parse_id(&id)?, parse_id(&step_id)?);
    let session = state
        .sessions
        .uncheck_step(&actor, via, id, step_id)
        .await?;
    Ok(session_json(&session))
}
