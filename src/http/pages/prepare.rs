//! Prepare a session: the form at /sessions/new. The plan's steps are edited
//! in the form itself (add, remove, move); each edit is a submit button the
//! server handles, so it all works without script, and app.js makes the same
//! edits in place when it runs.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use serde::Deserialize;

use super::layout::{Layout, PageError, render};
use crate::domain::{NewSession, Surface, ValidationErrors};
use crate::http::AppState;
use crate::http::auth::SignedInUser;
use crate::http::state::Viewer;

/// The form as posted; `steps` repeats once per plan row.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PrepareForm {
    pub(super) title: String,
    pub(super) problem: String,
    pub(super) reference: String,
    pub(super) customer: String,
    pub(super) steps: Vec<String>,
    pub(super) intent: String,
}

/// One row of the plan editor.
struct StepRow {
    number: usize,
    text: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "prepare.html")]
pub(super) struct PreparePage {
    layout: Layout,
    form: PrepareForm,
    rows: Vec<StepRow>,
    errors: ValidationErrors,
    /// The prepared session this form edits; none for a new session.
    edit_of: Option<uuid::Uuid>,
}

impl PreparePage {
    /// The same form, editing the prepared session `id`.
    pub(super) fn editing(
        id: uuid::Uuid,
        form: PrepareForm,
        errors: ValidationErrors,
        viewer: &SignedInUser,
    ) -> Self {
        let mut page = PreparePage::new(form, errors, viewer);
        page.layout.title = "Edit the session".into();
        page.edit_of = Some(id);
        page
    }

    /// Where the form posts.
    fn action(&self) -> String {
        match self.edit_of {
            Some(id) => format!("/sessions/{id}/edit"),
            None => "/sessions/new".into(),
        }
    }

    fn new(form: PrepareForm, errors: ValidationErrors, viewer: &SignedInUser) -> Self {
        let rows = form
            .steps
            .iter()
            .enumerate()
            .map(|(i, text)| StepRow {
                number: i + 1,
                text: text.clone(),
                error: error_for(&errors, &format!("steps[{i}]")),
            })
            .collect();
        PreparePage {
            layout: Layout::signed_in("Prepare a session", viewer),
            form,
            rows,
            errors,
            edit_of: None,
        }
    }

    /// The message for `field`, shown beside it.
    fn error(&self, field: &str) -> Option<String> {
        error_for(&self.errors, field)
    }
}

fn error_for(errors: &ValidationErrors, field: &str) -> Option<String> {
    errors
        .0
        .iter()
        .find(|e| e.field == field)
        .map(|e| sentence(&e.message))
}

/// "must not be empty" → "Must not be empty."
fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => String::new(),
    }
}

pub async fn form(Viewer(viewer): Viewer) -> Result<Response, PageError> {
    let form = PrepareForm {
        steps: vec![String::new()],
        ..PrepareForm::default()
    };
    render(&PreparePage::new(
        form,
        ValidationErrors::default(),
        &viewer,
    ))
}

/// What a press of one of the form's buttons asks for.
enum Intent {
    Prepare { start: bool },
    AddStep,
    RemoveStep(usize),
    MoveUp(usize),
    MoveDown(usize),
}

impl Intent {
    fn parse(value: &str) -> Intent {
        let row = |rest: &str| rest.parse::<usize>().ok();
        match value.split_once('-') {
            Some(("remove", n)) if row(n).is_some() => Intent::RemoveStep(row(n).unwrap_or(0)),
            Some(("up", n)) if row(n).is_some() => Intent::MoveUp(row(n).unwrap_or(0)),
            Some(("down", n)) if row(n).is_some() => Intent::MoveDown(row(n).unwrap_or(0)),
            _ => match value {
                "add" => Intent::AddStep,
                "start" => Intent::Prepare { start: true },
                _ => Intent::Prepare { start: false },
            },
        }
    }
}

#[tracing::instrument(skip_all)]
pub async fn submit(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    Form(mut form): Form<PrepareForm>,
) -> Result<Response, PageError> {
    match edit_plan(&mut form) {
        Some(start) => prepare(state, &viewer, form, start).await,
        None => render(&PreparePage::new(
            form,
            ValidationErrors::default(),
            &viewer,
        )),
    }
}

/// Applies a plan-editing button (add, remove, move a step) to the form;
/// `Some(start)` when the button asks to submit the form instead.
pub(super) fn edit_plan(form: &mut PrepareForm) -> Option<bool> {
    let steps = &mut form.steps;
    match Intent::parse(&form.intent) {
        Intent::AddStep => steps.push(String::new()),
        Intent::RemoveStep(i) if i < steps.len() => {
            steps.remove(i);
        }
        Intent::MoveUp(i) if i > 0 && i < steps.len() => steps.swap(i - 1, i),
        Intent::MoveDown(i) if i + 1 < steps.len() => steps.swap(i, i + 1),
        Intent::Prepare { start } => return Some(start),
        _ => {}
    }
    None
}

async fn prepare(
    state: AppState,
    viewer: &SignedInUser,
    mut form: PrepareForm,
    start: bool,
) -> Result<Response, PageError> {
    // The editor always offers an empty row; blank rows are not steps.
    form.steps.retain(|s| !s.trim().is_empty());
    let new = NewSession::parse(
        Some(&form.title),
        Some(&form.problem),
        Some(&form.reference),
        Some(&form.customer),
        &form.steps,
    );
    let new = match new {
        Ok(new) => new,
        Err(errors) => {
            if form.steps.is_empty() {
                form.steps.push(String::new());
            }
            let page = render(&PreparePage::new(form, errors, viewer))?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
    };
    let via = Surface::NewSession;
    let actor = viewer.user.actor();
    let session = state.sessions.prepare(&actor, via, new).await?;
    if start {
        state.sessions.start(&actor, via, session.id).await?;
        return Ok(Redirect::to(&format!("/sessions/{}/work", session.id)).into_response());
    }
    Ok(Redirect::to(&format!("/sessions/{}", session.id)).into_response())
}
