//! Prepare a session: the form at /sessions/new. The plan's steps are edited
//! in the form itself (add, remove, move); each edit is a submit button the
//! server handles, so it all works without script, and app.js makes the same
//! edits in place when it runs.

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use serde::Deserialize;

use super::layout::{Layout, PageError, render};
use super::similar::SimilarList;
use crate::domain::{NewSession, RunbookQuery, Surface, ValidationErrors};
use crate::http::AppState;
use crate::http::auth::SignedInUser;
use crate::http::state::Viewer;
use crate::service::ServiceError;

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
    runbooks: RunbookChooser,
    /// Past sessions like the one being written, each plan offered for copying.
    similar: SimilarList,
    /// The prepared session this form edits; none for a new session.
    edit_of: Option<uuid::Uuid>,
}

/// The runbooks New session offers; choosing one (a plain link, so it works
/// without script) fills the plan and the problem.
#[derive(Default)]
struct RunbookChooser {
    /// What the list is filtered by.
    q: String,
    options: Vec<RunbookOption>,
    /// The runbook the form was filled from.
    chosen: Option<String>,
}

struct RunbookOption {
    id: String,
    name: String,
    /// The name lowercased, for app.js to filter by as the engineer types.
    key: String,
    steps: usize,
}

/// `/sessions/new?runbook=<id>` fills the form from a runbook;
/// `runbook_q` filters the runbooks offered.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct FormParams {
    runbook: String,
    runbook_q: String,
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
            runbooks: RunbookChooser::default(),
            similar: SimilarList::default(),
            edit_of: None,
        }
    }

    fn with_similar(self, similar: SimilarList) -> Self {
        PreparePage { similar, ..self }
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

pub async fn form(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    query: Result<Query<FormParams>, QueryRejection>,
) -> Result<Response, PageError> {
    let p = query.map(|Query(p)| p).unwrap_or_default();
    let mut form = PrepareForm {
        steps: vec![String::new()],
        ..PrepareForm::default()
    };
    let mut chosen = None;
    if let Ok(id) = uuid::Uuid::parse_str(p.runbook.trim()) {
        // An unknown or retired runbook leaves the form empty, as it was.
        if let Ok(runbook) = state.sessions.runbook(id).await {
            if !runbook.is_retired() {
                form.problem = runbook.problem;
                form.steps = runbook.steps;
                chosen = Some(runbook.name);
            }
        }
    }
    let query = RunbookQuery::parse(Some(&p.runbook_q), None, None).unwrap_or_default();
    let options = state
        .sessions
        .runbooks(&query)
        .await?
        .into_iter()
        .map(|r| RunbookOption {
            id: r.id.to_string(),
            key: r.name.to_lowercase(),
            name: r.name,
            steps: r.steps.len(),
        })
        .collect();
    let mut page = PreparePage::new(form, ValidationErrors::default(), &viewer);
    page.runbooks = RunbookChooser {
        q: p.runbook_q,
        options,
        chosen,
    };
    render(&page)
}

/// What a press of one of the form's buttons asks for.
enum Intent {
    Prepare {
        start: bool,
    },
    AddStep,
    RemoveStep(usize),
    MoveUp(usize),
    MoveDown(usize),
    /// Add the plan of this past session to the form's.
    CopyPlan(uuid::Uuid),
}

impl Intent {
    fn parse(value: &str) -> Intent {
        let row = |rest: &str| rest.parse::<usize>().ok();
        match value.split_once('-') {
            Some(("remove", n)) if row(n).is_some() => Intent::RemoveStep(row(n).unwrap_or(0)),
            Some(("up", n)) if row(n).is_some() => Intent::MoveUp(row(n).unwrap_or(0)),
            Some(("down", n)) if row(n).is_some() => Intent::MoveDown(row(n).unwrap_or(0)),
            Some(("copy", id)) if uuid::Uuid::parse_str(id).is_ok() => {
                Intent::CopyPlan(uuid::Uuid::parse_str(id).unwrap_or_default())
            }
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
    if let Intent::CopyPlan(id) = Intent::parse(&form.intent) {
        copy_plan(&state, &mut form, id).await?;
    } else if let Some(start) = edit_plan(&mut form) {
        return prepare(state, &viewer, form, start).await;
    }
    let similar = SimilarList::of_text(&state, &similar_text(&form)).await?;
    render(&PreparePage::new(form, ValidationErrors::default(), &viewer).with_similar(similar))
}

/// Adds a similar past session's plan to the form's (a session gone since it
/// was offered leaves the plan as it is).
async fn copy_plan(
    state: &AppState,
    form: &mut PrepareForm,
    id: uuid::Uuid,
) -> Result<(), PageError> {
    let copied = match state.sessions.get(id).await {
        Ok(past) => past.steps,
        Err(ServiceError::NotFound) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let steps = &mut form.steps;
    steps.retain(|s| !s.trim().is_empty());
    steps.extend(copied.into_iter().map(|s| s.text));
    if steps.is_empty() {
        steps.push(String::new());
    }
    Ok(())
}

/// What the form says about the problem, to find similar sessions by.
fn similar_text(form: &PrepareForm) -> String {
    [&form.title, &form.problem, &form.customer]
        .map(String::as_str)
        .join("\n")
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
            let similar = SimilarList::of_text(&state, &similar_text(&form)).await?;
            let page = render(&PreparePage::new(form, errors, viewer).with_similar(similar))?;
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
