//! The workspace's own form posts: notes and steps. Each redirects (303)
//! back to where the engineer was, or shows the page again with the reason
//! and the input kept. (Start, complete and reopen are `actions.rs`, one
//! route each for every page.)

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::layout::{Notice, PageError, parse_id};
use super::session::{Kept, details_page, work_page};
use crate::domain::{Finding, NoteText, Surface, ValidationErrors};
use crate::http::AppState;
use crate::http::auth::SignedInUser;
use crate::http::state::Viewer;
use crate::service::ServiceError;

const VIA: Surface = Surface::Workspace;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NoteForm {
    text: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct FindingForm {
    finding: String,
}

/// A form that does not decode is treated as empty, so it gets the same
/// clear messages as one left blank.
fn form<T: Default>(form: Result<Form<T>, FormRejection>) -> T {
    form.map(|Form(f)| f).unwrap_or_default()
}

pub(super) fn to_work(id: Uuid, anchor: &str) -> Response {
    Redirect::to(&format!("/sessions/{id}/work{anchor}")).into_response()
}

/// The workspace again, with the refused input kept and the reason beside it.
async fn refused(
    state: &AppState,
    viewer: &SignedInUser,
    id: Uuid,
    kept: Kept,
    errors: ValidationErrors,
) -> Result<Response, PageError> {
    let mut response = work_page(state, viewer, id, kept, errors, None).await?;
    *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    Ok(response)
}

/// Where an action lands: `done` on success; on a status conflict the
/// workspace (or the details page of a completed session) saying why.
pub(super) async fn after<T>(
    state: &AppState,
    viewer: &SignedInUser,
    id: Uuid,
    result: Result<T, ServiceError>,
    done: Response,
) -> Result<Response, PageError> {
    match result {
        Ok(_) => Ok(done),
        Err(ServiceError::Conflict(conflict)) => {
            let notice = Notice::error(conflict.detail());
            let mut response = if conflict.current.outcome.is_some() {
                details_page(state, viewer, id, Some(notice), None).await?
            } else {
                work_page(
                    state,
                    viewer,
                    id,
                    Kept::default(),
                    ValidationErrors::default(),
                    Some(notice),
                )
                .await?
            };
            *response.status_mut() = StatusCode::CONFLICT;
            Ok(response)
        }
        Err(e) => Err(e.into()),
    }
}

#[tracing::instrument(skip_all, fields(session = %id))]
pub async fn add_note(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    Path(id): Path<String>,
    body: Result<Form<NoteForm>, FormRejection>,
) -> Result<Response, PageError> {
    let id = parse_id(&id)?;
    let NoteForm { text } = form(body);
    let note = match NoteText::parse(&text) {
        Ok(note) => note,
        Err(why) => {
            let kept = Kept {
                note: text,
                ..Kept::default()
            };
            return refused(
                &state,
                &viewer,
                id,
                kept,
                ValidationErrors::single("text", why),
            )
            .await;
        }
    };
    let result = state
        .sessions
        .add_note(&viewer.user.actor(), VIA, id, note)
        .await;
    after(&state, &viewer, id, result, to_work(id, "#notes")).await
}

#[tracing::instrument(skip_all, fields(session = %id))]
pub async fn check_step(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    Path((id, step_id)): Path<(String, String)>,
    body: Result<Form<FindingForm>, FormRejection>,
) -> Result<Response, PageError> {
    let (id, step_id) = (parse_id(&id)?, parse_id(&step_id)?);
    let FindingForm { finding } = form(body);
    let parsed = match Finding::parse(Some(&finding)) {
        Ok(parsed) => parsed,
        Err(why) => {
            let kept = Kept {
                finding_step: Some(step_id),
                finding,
                ..Kept::default()
            };
            let errors = ValidationErrors::single("finding", why);
            return refused(&state, &viewer, id, kept, errors).await;
        }
    };
    let result = state
        .sessions
        .check_step(&viewer.user.actor(), VIA, id, step_id, parsed)
        .await;
    after(
        &state,
        &viewer,
        id,
        result,
        to_work(id, &format!("#step-{step_id}")),
    )
    .await
}

#[tracing::instrument(skip_all, fields(session = %id))]
pub async fn uncheck_step(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    Path((id, step_id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let (id, step_id) = (parse_id(&id)?, parse_id(&step_id)?);
    let result = state
        .sessions
        .uncheck_step(&viewer.user.actor(), VIA, id, step_id)
        .await;
    after(
        &state,
        &viewer,
        id,
        result,
        to_work(id, &format!("#step-{step_id}")),
    )
    .await
}
