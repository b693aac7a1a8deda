//! The session lifecycle's form posts: one route per action (start,
//! complete, reopen, summarize), whichever page offers it. Every form sends `next`,
//! the page to come back to (a path on Casebook, checked as the sign-in's
//! `next` is), and `via`, the page it is on, for the timeline. Done, the
//! action redirects there (303, so a reload does not post again); refused,
//! that page is shown with the reason in the service's own words (the
//! API's `detail`) and what was typed kept. With script, app.js sends the
//! same forms to the JSON API instead.

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::filters::HistoryParams;
use super::history;
use super::layout::{Notice, PageError, parse_id};
use super::session::{Kept, details_page, work_page};
use crate::domain::{Outcome, OutcomeNotes, Surface, ValidationErrors};
use crate::http::AppState;
use crate::http::auth::SignedInUser;
use crate::http::security::redirect;
use crate::http::state::Viewer;
use crate::service::ServiceError;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ActionForm {
    next: String,
    via: String,
    outcome: Option<String>,
    outcome_notes: Option<String>,
}

/// The page a form came from (or leads to), as the route understands it.
#[derive(Debug, PartialEq)]
enum Page {
    History(String),
    Workspace(Uuid),
    Details(Uuid),
}

/// Where an action sends the browser: `location` when it is done, and the
/// page that explains a refusal.
#[derive(Debug, PartialEq)]
struct Next {
    location: String,
    page: Page,
}

impl Next {
    /// `next` as the form sent it: a path on Casebook, with an optional
    /// `#fragment`. Anything else (another site, nothing) is the session's
    /// details page.
    fn parse(raw: &str, session: Uuid) -> Next {
        let (target, fragment) = match raw.split_once('#') {
            Some((target, fragment)) => (target, Some(fragment)),
            None => (raw, None),
        };
        let fragment = fragment
            .filter(|f| {
                !f.is_empty()
                    && f.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            })
            .map(|f| format!("#{f}"))
            .unwrap_or_default();
        let Some(local) = redirect::local_path(target) else {
            return Next {
                location: format!("/sessions/{session}"),
                page: Page::Details(session),
            };
        };
        let (path, query) = local.split_once('?').unwrap_or((&local, ""));
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let id = |raw: &str| Uuid::parse_str(raw).ok();
        let page = match segments[..] {
            ["sessions"] => Page::History(query.to_string()),
            ["sessions", raw, "work"] => id(raw).map_or(Page::Details(session), Page::Workspace),
            ["sessions", raw] => id(raw).map_or(Page::Details(session), Page::Details),
            _ => Page::Details(session),
        };
        Next {
            location: format!("{local}{fragment}"),
            page,
        }
    }

    /// The surface a form without a (known) `via` came through: the page it
    /// returns to.
    fn surface(&self) -> Surface {
        match self.page {
            Page::History(_) => Surface::History,
            Page::Workspace(_) => Surface::Workspace,
            Page::Details(_) => Surface::Details,
        }
    }
}

fn read(form: Result<Form<ActionForm>, FormRejection>, id: Uuid) -> (ActionForm, Next, Surface) {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let next = Next::parse(&form.next, id);
    let via = Surface::parse_client(&form.via).unwrap_or_else(|| next.surface());
    (form, next, via)
}

/// The page the form came from, saying why the action was not done.
async fn refused(
    state: &AppState,
    viewer: &SignedInUser,
    headers: &HeaderMap,
    next: Next,
    status: StatusCode,
    problem: Problem,
) -> Result<Response, PageError> {
    let message = problem.message();
    let mut response = match next.page {
        Page::History(query) => {
            let params: HistoryParams = serde_urlencoded::from_str(&query).unwrap_or_default();
            return history::with_notice(
                state,
                viewer,
                headers,
                params,
                status,
                Notice::error(message),
            )
            .await;
        }
        // A completed session has no workspace: its details say why.
        Page::Workspace(id) if !problem.closed() => {
            let (kept, errors) = match problem {
                Problem::Invalid { kept, errors } => (kept, errors),
                Problem::Refused(_) => (Kept::default(), ValidationErrors::default()),
            };
            let notice = errors.is_empty().then(|| Notice::error(message));
            work_page(state, viewer, id, kept, errors, notice).await?
        }
        Page::Workspace(id) | Page::Details(id) => {
            details_page(state, viewer, id, Some(Notice::error(message)), None).await?
        }
    };
    // (The workspace of a session completed meanwhile redirects to it.)
    if response.status() == StatusCode::OK {
        *response.status_mut() = status;
    }
    Ok(response)
}

/// Why an action was not done.
enum Problem {
    /// The input was invalid: shown beside its fields, and kept.
    Invalid {
        kept: Kept,
        errors: ValidationErrors,
    },
    /// The service refused (the session's status, mostly).
    Refused(ServiceError),
}

impl Problem {
    fn message(&self) -> String {
        match self {
            Problem::Invalid { errors, .. } => errors.to_string(),
            Problem::Refused(error) => error.detail(),
        }
    }

    /// The session is completed now.
    fn closed(&self) -> bool {
        matches!(self, Problem::Refused(ServiceError::Conflict(c)) if c.current.outcome.is_some())
    }
}

/// Back to `next` when done; its page with the reason on a status conflict.
async fn done_or_refused<T>(
    state: &AppState,
    viewer: &SignedInUser,
    headers: &HeaderMap,
    next: Next,
    result: Result<T, ServiceError>,
) -> Result<Response, PageError> {
    match result {
        Ok(_) => Ok(Redirect::to(&next.location).into_response()),
        Err(error @ ServiceError::Conflict(_)) => {
            let problem = Problem::Refused(error);
            refused(state, viewer, headers, next, StatusCode::CONFLICT, problem).await
        }
        Err(e) => Err(e.into()),
    }
}

#[tracing::instrument(skip_all, fields(session = %id))]
pub async fn start(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    Path(id): Path<String>,
    headers: HeaderMap,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Result<Response, PageError> {
    let id = parse_id(&id)?;
    let (_, next, via) = read(form, id);
    let result = state.sessions.start(&viewer.user.actor(), via, id).await;
    done_or_refused(&state, &viewer, &headers, next, result).await
}

#[tracing::instrument(skip_all, fields(session = %id))]
pub async fn complete(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    Path(id): Path<String>,
    headers: HeaderMap,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Result<Response, PageError> {
    let id = parse_id(&id)?;
    let (form, next, via) = read(form, id);
    let mut errors = ValidationErrors::default();
    let outcome = errors.check("outcome", Outcome::parse_required(form.outcome.as_deref()));
    let notes = errors.check(
        "outcome_notes",
        OutcomeNotes::parse(form.outcome_notes.as_deref()),
    );
    let (Some(outcome), Some(notes)) = (outcome, notes) else {
        let kept = Kept {
            outcome: form.outcome.unwrap_or_default(),
            outcome_notes: form.outcome_notes.unwrap_or_default(),
            ..Kept::default()
        };
        let problem = Problem::Invalid { kept, errors };
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        return refused(&state, &viewer, &headers, next, status, problem).await;
    };
    let result = state
        .sessions
        .complete(&viewer.user.actor(), via, id, outcome, notes)
        .await;
    done_or_refused(&state, &viewer, &headers, next, result).await
}

#[tracing::instrument(skip_all, fields(session = %id))]
pub async fn reopen(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    Path(id): Path<String>,
    headers: HeaderMap,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Result<Response, PageError> {
    let id = parse_id(&id)?;
    let (_, next, via) = read(form, id);
    let result = state.sessions.reopen(&viewer.user.actor(), via, id).await;
    done_or_refused(&state, &viewer, &headers, next, result).await
}

/// Generates (or regenerates) a completed session's summary, from its
/// details page. A summarizer that fails is explained where the summary goes.
#[tracing::instrument(skip_all, fields(session = %id))]
pub async fn summarize(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    Path(id): Path<String>,
    headers: HeaderMap,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Result<Response, PageError> {
    let id = parse_id(&id)?;
    let (_, next, via) = read(form, id);
    match state
        .sessions
        .summarize(&viewer.user.actor(), via, id)
        .await
    {
        Err(error @ ServiceError::Summary(_)) => {
            let message = error.detail();
            let mut response = details_page(&state, &viewer, id, None, Some(message)).await?;
            *response.status_mut() = StatusCode::BAD_GATEWAY;
            Ok(response)
        }
        result => done_or_refused(&state, &viewer, &headers, next, result).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0190b3c8-0000-7000-8000-000000000001";

    fn next(raw: &str) -> Next {
        Next::parse(raw, Uuid::parse_str(ID).unwrap())
    }

    #[test]
    fn next_names_the_page_to_come_back_to() {
        let history = next("/sessions?status=active&closed=x");
        assert_eq!(history.location, "/sessions?status=active&closed=x");
        assert_eq!(history.page, Page::History("status=active&closed=x".into()));
        let work = next(&format!("/sessions/{ID}/work#summary"));
        assert_eq!(work.location, format!("/sessions/{ID}/work#summary"));
        assert_eq!(work.surface(), Surface::Workspace);
        assert_eq!(next(&format!("/sessions/{ID}")).surface(), Surface::Details);
    }

    #[test]
    fn anything_but_a_path_on_casebook_is_the_sessions_details() {
        let details = format!("/sessions/{ID}");
        for raw in [
            "",
            "//evil.example/sessions",
            "https://evil.example/",
            "/\\evil.example",
        ] {
            assert_eq!(next(raw).location, details, "{raw:?}");
        }
        // A fragment is kept only when it is a plain anchor.
        assert_eq!(next("/sessions#x\"y").location, "/sessions");
        // Another page on Casebook is fine to go to; a refusal is explained
        // on the session's details.
        let elsewhere = next("/runbooks");
        assert_eq!(elsewhere.location, "/runbooks");
        assert_eq!(elsewhere.page, Page::Details(Uuid::parse_str(ID).unwrap()));
    }
}
