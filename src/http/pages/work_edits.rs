//! The workspace's forms that change the plan or a note while working: add,
//! reword or skip a step, correct one's own note. Without script each posts
//! here and lands back on the workspace; with script app.js sends the same
//! form to the API and swaps in the server's fresh rendering.

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::layout::{Notice, PageError, parse_id};
use super::session::{Kept, work_page};
use super::workspace::{after, to_work};
use crate::domain::{NoteText, StepText, Surface, ValidationErrors};
use crate::http::AppState;
use crate::http::auth::SignedInUser;
use crate::http::state::Viewer;

const VIA: Surface = Surface::Workspace;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TextForm {
    text: String,
}

fn text(body: Result<Form<TextForm>, FormRejection>) -> String {
    body.map(|Form(f)| f.text).unwrap_or_default()
}

/// The workspace again, saying what was wrong with the text as the API
/// says it.
async fn invalid(
    state: &AppState,
    viewer: &SignedInUser,
    id: uuid::Uuid,
    why: String,
) -> Result<Response, PageError> {
    let notice = Notice::error(ValidationErrors::single("text", why).to_string());
    let mut response = work_page(
        state,
        viewer,
        id,
        Kept::default(),
        ValidationErrors::default(),
        Some(notice),
    )
    .await?;
    *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    Ok(response)
}

pub async fn add_step(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    Path(id): Path<String>,
    body: Result<Form<TextForm>, FormRejection>,
) -> Result<Response, PageError> {
    let id = parse_id(&id)?;
    let step = match StepText::parse(&text(body)) {
        Ok(step) => step,
        Err(why) => return invalid(&state, &viewer, id, why).await,
    };
    let actor = viewer.user.actor();
    let result = state.sessions.add_step(&actor, VIA, id, step).await;
    after(&state, &viewer, id, result, to_work(id, "#h-plan")).await
}

pub async fn reword_step(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    Path((id, step_id)): Path<(String, String)>,
    body: Result<Form<TextForm>, FormRejection>,
) -> Result<Response, PageError> {
    let (id, step_id) = (parse_id(&id)?, parse_id(&step_id)?);
    let step = match StepText::parse(&text(body)) {
        Ok(step) => step,
        Err(why) => return invalid(&state, &viewer, id, why).await,
    };
    let actor = viewer.user.actor();
    let result = state
        .sessions
        .reword_step(&actor, VIA, id, step_id, step)
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

pub async fn skip_step(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    Path((id, step_id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let (id, step_id) = (parse_id(&id)?, parse_id(&step_id)?);
    let actor = viewer.user.actor();
    let result = state.sessions.skip_step(&actor, VIA, id, step_id).await;
    after(
        &state,
        &viewer,
        id,
        result,
        to_work(id, &format!("#step-{step_id}")),
    )
    .await
}

pub async fn correct_note(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    Path((id, note_id)): Path<(String, String)>,
    body: Result<Form<TextForm>, FormRejection>,
) -> Result<Response, PageError> {
    let (id, note_id) = (parse_id(&id)?, parse_id(&note_id)?);
    let note = match NoteText::parse(&text(body)) {
        Ok(note) => note,
        Err(why) => return invalid(&state, &viewer, id, why).await,
    };
    let actor = viewer.user.actor();
    let result = state
        .sessions
        .correct_note(&actor, VIA, id, note_id, note)
        .await;
    after(&state, &viewer, id, result, to_work(id, "#notes")).await
}
