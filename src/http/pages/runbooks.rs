//! The runbooks pages: the list (`/runbooks`), one runbook's form (edit, or
//! read for those who may not edit), a new one, and "Save plan as runbook"
//! from a session's details page. Everything works without script.

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use serde::Deserialize;

use super::layout::{Layout, Notice, PageError, parse_id, render};
use super::view::Stamp;
use crate::domain::{Runbook, RunbookDraft, RunbookQuery, StepText, Title, ValidationErrors};
use crate::http::AppState;
use crate::http::auth::SignedInUser;
use crate::http::state::Viewer;
use crate::service::RunbookError;

impl From<RunbookError> for PageError {
    fn from(error: RunbookError) -> Self {
        match error {
            RunbookError::NotFound => PageError::Refused {
                status: StatusCode::NOT_FOUND,
                heading: "Runbook not found",
                message: "There is no runbook at this address. It may have been mistyped.".into(),
            },
            RunbookError::Forbidden { created_by } => PageError::Refused {
                status: StatusCode::FORBIDDEN,
                heading: "Not yours to change",
                message: format!(
                    "Only the runbook's creator ({created_by}) or an admin can change it."
                ),
            },
            RunbookError::Invalid(errors) => PageError::Refused {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                heading: "Invalid runbook",
                message: errors.to_string(),
            },
            no_plan @ RunbookError::NoPlan => PageError::Refused {
                status: StatusCode::CONFLICT,
                heading: "No plan to save",
                message: no_plan.to_string(),
            },
            too_long @ RunbookError::PlanTooLong { .. } => PageError::Refused {
                status: StatusCode::CONFLICT,
                heading: "Plan too long for a runbook",
                message: too_long.to_string(),
            },
            RunbookError::Session(error) => error.into(),
        }
    }
}

/// One runbook as the list shows it.
pub struct RunbookRow {
    pub id: String,
    pub name: String,
    pub steps: usize,
    pub created_by: String,
    pub updated: Stamp,
    pub retired: bool,
    pub can_edit: bool,
}

impl RunbookRow {
    fn new(r: &Runbook, viewer: &SignedInUser, now: chrono::DateTime<chrono::Utc>) -> Self {
        RunbookRow {
            id: r.id.to_string(),
            name: r.name.clone(),
            steps: r.steps.len(),
            created_by: r.created_by.clone(),
            updated: Stamp::new(r.updated_at, now),
            retired: r.is_retired(),
            can_edit: r.may_edit(&viewer.user.actor()),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListParams {
    q: String,
    retired: String,
    saved: String,
}

#[derive(Template)]
#[template(path = "runbooks.html")]
struct ListPage {
    layout: Layout,
    q: String,
    include_retired: bool,
    rows: Vec<RunbookRow>,
}

#[tracing::instrument(skip_all)]
pub async fn list(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    query: Result<Query<ListParams>, QueryRejection>,
) -> Result<Response, PageError> {
    let p = query.map(|Query(p)| p).unwrap_or_default();
    let include_retired = p.retired == "on";
    // A filter the API would refuse (a NUL) just lists everything.
    let query = RunbookQuery::parse(Some(&p.q), None, Some("200")).unwrap_or_default();
    let query = RunbookQuery {
        include_retired,
        limit: RunbookQuery::MAX_LIMIT,
        ..query
    };
    let runbooks = state.sessions.runbooks(&query).await?;
    let now = state.sessions.now();
    let mut layout = Layout::signed_in("Runbooks", &viewer);
    if !p.saved.is_empty() {
        layout.notice = Some(Notice {
            text: format!("Runbook {} saved", p.saved),
            error: false,
            undo: None,
        });
    }
    render(&ListPage {
        layout,
        q: p.q,
        include_retired,
        rows: runbooks
            .iter()
            .map(|r| RunbookRow::new(r, &viewer, now))
            .collect(),
    })
}

/// The runbook form as posted: steps one per line.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RunbookForm {
    name: String,
    problem: String,
    steps: String,
}

impl RunbookForm {
    fn of(runbook: &Runbook) -> Self {
        RunbookForm {
            name: runbook.name.clone(),
            problem: runbook.problem.clone(),
            steps: runbook.steps.join("\n"),
        }
    }

    /// The non-blank lines of the steps field.
    fn step_lines(&self) -> Vec<String> {
        self.steps
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    fn parse(&self) -> Result<RunbookDraft, ValidationErrors> {
        RunbookDraft::parse(Some(&self.name), Some(&self.problem), &self.step_lines())
    }
}

#[derive(Template)]
#[template(path = "runbook.html")]
struct FormPage {
    layout: Layout,
    heading: String,
    /// Where the form posts; `None` when the viewer may only read.
    action: Option<String>,
    form: RunbookForm,
    errors: ValidationErrors,
    runbook: Option<RunbookRow>,
    name_max: usize,
    step_max: usize,
}

impl FormPage {
    fn error(&self, field: &str) -> Option<String> {
        let messages: Vec<String> = self
            .errors
            .0
            .iter()
            .filter(|e| e.field == field || (field == "steps" && e.field.starts_with("steps[")))
            .map(|e| match e.field.strip_prefix("steps[") {
                Some(rest) => {
                    let line = rest.trim_end_matches(']').parse::<usize>().unwrap_or(0) + 1;
                    format!("Step {line}: {}.", e.message)
                }
                None => format!("{}.", capitalized(&e.message)),
            })
            .collect();
        (!messages.is_empty()).then(|| messages.join(" "))
    }
}

fn capitalized(message: &str) -> String {
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => format!("{}{}", first.to_uppercase(), chars.as_str()),
        None => String::new(),
    }
}

fn form_page(
    viewer: &SignedInUser,
    heading: String,
    action: Option<String>,
    form: RunbookForm,
    errors: ValidationErrors,
    runbook: Option<RunbookRow>,
) -> FormPage {
    FormPage {
        layout: Layout::signed_in(heading.clone(), viewer),
        heading,
        action,
        form,
        errors,
        runbook,
        name_max: Title::MAX_CHARS,
        step_max: StepText::MAX_CHARS,
    }
}

pub async fn new_form(Viewer(viewer): Viewer) -> Result<Response, PageError> {
    render(&form_page(
        &viewer,
        "New runbook".into(),
        Some("/runbooks".into()),
        RunbookForm::default(),
        ValidationErrors::default(),
        None,
    ))
}

#[tracing::instrument(skip_all)]
pub async fn create(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    Form(form): Form<RunbookForm>,
) -> Result<Response, PageError> {
    let draft = match form.parse() {
        Ok(draft) => draft,
        Err(errors) => return invalid(&viewer, "New runbook", "/runbooks".into(), form, errors),
    };
    let actor = viewer.user.actor();
    let runbook = state.sessions.create_runbook(&actor, draft, None).await?;
    Ok(saved(&runbook))
}

fn invalid(
    viewer: &SignedInUser,
    heading: &str,
    action: String,
    form: RunbookForm,
    errors: ValidationErrors,
) -> Result<Response, PageError> {
    let page = render(&form_page(
        viewer,
        heading.into(),
        Some(action),
        form,
        errors,
        None,
    ))?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

fn saved(runbook: &Runbook) -> Response {
    let name = serde_urlencoded::to_string([("saved", runbook.name.as_str())]).unwrap_or_default();
    Redirect::to(&format!("/runbooks?{name}")).into_response()
}

#[tracing::instrument(skip_all, fields(runbook = %id))]
pub async fn show(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = parse_id(&id).map_err(|_| PageError::from(RunbookError::NotFound))?;
    let runbook = state.sessions.runbook(id).await?;
    let row = RunbookRow::new(&runbook, &viewer, state.sessions.now());
    let action = (row.can_edit && !row.retired).then(|| format!("/runbooks/{id}"));
    render(&form_page(
        &viewer,
        runbook.name.clone(),
        action,
        RunbookForm::of(&runbook),
        ValidationErrors::default(),
        Some(row),
    ))
}

#[tracing::instrument(skip_all, fields(runbook = %id))]
pub async fn update(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    Path(id): Path<String>,
    Form(form): Form<RunbookForm>,
) -> Result<Response, PageError> {
    let id = parse_id(&id).map_err(|_| PageError::from(RunbookError::NotFound))?;
    let draft = match form.parse() {
        Ok(draft) => draft,
        Err(errors) => {
            return invalid(
                &viewer,
                "Edit runbook",
                format!("/runbooks/{id}"),
                form,
                errors,
            );
        }
    };
    let actor = viewer.user.actor();
    let runbook = state.sessions.update_runbook(&actor, id, draft).await?;
    Ok(saved(&runbook))
}

#[tracing::instrument(skip_all, fields(runbook = %id))]
pub async fn retire(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = parse_id(&id).map_err(|_| PageError::from(RunbookError::NotFound))?;
    state
        .sessions
        .retire_runbook(&viewer.user.actor(), id)
        .await?;
    Ok(Redirect::to("/runbooks").into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SavePlanForm {
    name: String,
}

/// "Save plan as runbook" on a session's details page: the session's steps
/// and problem under the name given. When that name will not do, the new
/// runbook form comes back filled in, with the reason.
#[tracing::instrument(skip_all, fields(session = %id))]
pub async fn save_plan(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    Path(id): Path<String>,
    Form(form): Form<SavePlanForm>,
) -> Result<Response, PageError> {
    let id = parse_id(&id)?;
    let actor = viewer.user.actor();
    match state
        .sessions
        .save_plan_as_runbook(&actor, id, &form.name)
        .await
    {
        Ok(runbook) => Ok(saved(&runbook)),
        Err(RunbookError::Invalid(errors)) => {
            let session = state.sessions.get(id).await?;
            let form = RunbookForm {
                name: form.name,
                problem: session.problem,
                steps: session
                    .steps
                    .iter()
                    .map(|s| s.text.as_str())
                    .collect::<Vec<_>>()
                    .join("\n"),
            };
            invalid(&viewer, "New runbook", "/runbooks".into(), form, errors)
        }
        Err(other) => Err(other.into()),
    }
}
