//! Editing and deleting a prepared session from its details page: the New
//! session form, filled in, posting to `/sessions/{id}/edit`; and a delete
//! that asks first. Once the session has started, both say why not. And an
//! admin's Reassign form, which gives a session in any status to another
//! owner (`/sessions/{id}/owner`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;

use super::layout::{Notice, PageError, parse_id, render};
use super::prepare::{PrepareForm, PreparePage, edit_plan};
use super::session::details_page;
use crate::domain::{NewSession, Session, Status, Surface, Username, ValidationErrors};
use crate::http::AppState;
use crate::http::auth::SignedInUser;
use crate::http::state::Viewer;
use crate::service::{AccountError, ServiceError};

const VIA: Surface = Surface::Details;

/// The session, if the viewer may change it.
async fn writable(
    state: &AppState,
    viewer: &SignedInUser,
    id: uuid::Uuid,
) -> Result<Session, PageError> {
    let session = state.sessions.get(id).await?;
    if !viewer.user.actor().may_write(&session.owner) {
        return Err(PageError::Forbidden(session.owner));
    }
    Ok(session)
}

/// The details page saying why the session can no longer change.
async fn refused(
    state: &AppState,
    viewer: &SignedInUser,
    id: uuid::Uuid,
    error: ServiceError,
) -> Result<Response, PageError> {
    let ServiceError::Conflict(conflict) = error else {
        return Err(error.into());
    };
    let notice = Notice::error(conflict.detail());
    let mut response = details_page(state, viewer, id, Some(notice), None).await?;
    *response.status_mut() = StatusCode::CONFLICT;
    Ok(response)
}

pub async fn form(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = parse_id(&id)?;
    let session = writable(&state, &viewer, id).await?;
    if session.status() != Status::Prepared {
        return Ok(Redirect::to(&format!("/sessions/{id}")).into_response());
    }
    let mut steps: Vec<String> = session.steps.into_iter().map(|s| s.text).collect();
    steps.push(String::new());
    let form = PrepareForm {
        title: session.title,
        problem: session.problem,
        reference: session.reference.unwrap_or_default(),
        customer: session.customer.unwrap_or_default(),
        steps,
        ..PrepareForm::default()
    };
    render(&PreparePage::editing(
        id,
        form,
        ValidationErrors::default(),
        &viewer,
    ))
}

#[tracing::instrument(skip_all, fields(session = %id))]
pub async fn submit(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    Path(id): Path<String>,
    Form(mut form): Form<PrepareForm>,
) -> Result<Response, PageError> {
    let id = parse_id(&id)?;
    if edit_plan(&mut form).is_none() {
        let errors = ValidationErrors::default();
        return render(&PreparePage::editing(id, form, errors, &viewer));
    }
    // The editor always offers an empty row; blank rows are not steps.
    form.steps.retain(|s| !s.trim().is_empty());
    let edited = match NewSession::parse(
        Some(&form.title),
        Some(&form.problem),
        Some(&form.reference),
        Some(&form.customer),
        &form.steps,
    ) {
        Ok(edited) => edited,
        Err(errors) => {
            if form.steps.is_empty() {
                form.steps.push(String::new());
            }
            let page = render(&PreparePage::editing(id, form, errors, &viewer))?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
    };
    let actor = viewer.user.actor();
    match state.sessions.edit(&actor, VIA, id, edited).await {
        Ok(_) => Ok(Redirect::to(&format!("/sessions/{id}?edited")).into_response()),
        Err(e) => refused(&state, &viewer, id, e).await,
    }
}

#[tracing::instrument(skip_all, fields(session = %id))]
pub async fn delete(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = parse_id(&id)?;
    match state.sessions.delete(&viewer.user.actor(), id).await {
        Ok(()) => Ok(Redirect::to("/sessions?deleted").into_response()),
        Err(e) => refused(&state, &viewer, id, e).await,
    }
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct OwnerForm {
    owner: String,
}

/// The details page saying why the owner stayed.
async fn not_reassigned(
    state: &AppState,
    viewer: &SignedInUser,
    id: uuid::Uuid,
    status: StatusCode,
    why: String,
) -> Result<Response, PageError> {
    let notice = Notice::error(format!("The owner was not changed: {why}"));
    let mut response = details_page(state, viewer, id, Some(notice), None).await?;
    *response.status_mut() = status;
    Ok(response)
}

/// An admin gives the session to another account; the details page says
/// so, or why not (in the service's words, as the API says them).
#[tracing::instrument(skip_all, fields(session = %id))]
pub async fn reassign(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    Path(id): Path<String>,
    form: Result<Form<OwnerForm>, axum_extra::extract::FormRejection>,
) -> Result<Response, PageError> {
    let id = parse_id(&id)?;
    let actor = viewer.user.actor();
    if !actor.is_admin() {
        return Err(PageError::AdminOnly);
    }
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let refuse = |status, why| not_reassigned(&state, &viewer, id, status, why);
    let username = match Username::parse(&form.owner) {
        Ok(username) => username,
        Err(_) => {
            let why = "choose the account to give it to.".to_string();
            return refuse(StatusCode::UNPROCESSABLE_ENTITY, why).await;
        }
    };
    let to = match state.accounts.user(&username).await {
        Ok(user) => user,
        Err(AccountError::UserNotFound) => {
            let error = ServiceError::UnknownOwner {
                username: username.to_string(),
            };
            return refuse(StatusCode::UNPROCESSABLE_ENTITY, format!("{error}.")).await;
        }
        Err(AccountError::Unavailable(e)) => return Err(PageError::Unavailable(e.into())),
        Err(e) => return Err(PageError::Internal(e.into())),
    };
    match state.sessions.reassign(&actor, VIA, id, &to).await {
        Ok(_) => Ok(Redirect::to(&format!("/sessions/{id}?reassigned")).into_response()),
        Err(e @ ServiceError::OwnerDisabled { .. }) => {
            refuse(StatusCode::UNPROCESSABLE_ENTITY, format!("{e}.")).await
        }
        Err(e @ ServiceError::OwnerChanged { .. }) => {
            refuse(StatusCode::CONFLICT, e.to_string()).await
        }
        Err(e) => Err(e.into()),
    }
}
