//! Session History: the list of cards, the card fragment that script swaps
//! in, and the form posts that work without script (start, close, undo).

use askama::Template;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::filters::{Choice, Filters, HistoryParams};
use super::layout::{Layout, Notice, PageError, parse_id, render};
use super::owners::{self, OwnerChoice};
use super::view::{CardView, Names};
use crate::domain::{ListQuery, Outcome, OutcomeNotes, Session, Surface, Username};
use crate::http::AppState;
use crate::http::auth::SignedInUser;
use crate::http::state::Viewer;
use crate::service::ServiceError;

#[derive(Template)]
#[template(path = "history.html")]
struct HistoryPage {
    layout: Layout,
    filters: Filters,
    statuses: Vec<Choice>,
    outcome_choices: Vec<Choice>,
    cards: Vec<CardView>,
    outcomes: &'static [Outcome],
    back: String,
    csrf: String,
    next_href: Option<String>,
    export_href: String,
    owner_choices: Vec<OwnerChoice>,
    /// Whose sessions these are, as the owner filter says.
    subtitle: String,
    /// No session exists at all yet: the empty state may suggest sample data.
    database_empty: bool,
}

/// One card alone: what script puts in place of a card that changed.
#[derive(Template)]
#[template(path = "partials/session_card.html")]
struct CardFragment {
    card: CardView,
    outcomes: &'static [Outcome],
    back: String,
    csrf: String,
}

type Params = Result<Query<HistoryParams>, QueryRejection>;

fn params(query: Params) -> HistoryParams {
    // A query that does not parse (say, a repeated key) shows the plain page.
    query.map(|Query(p)| p).unwrap_or_default()
}

#[tracing::instrument(skip_all)]
pub async fn page(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    headers: HeaderMap,
    query: Params,
) -> Result<Response, PageError> {
    let mut p = params(query);
    // A visit that names no owner opens the view chosen last time.
    let chosen = p.owner.is_some();
    if !chosen {
        p.owner = owners::remembered(&headers);
    }
    let mut filters = Filters::from_params(&p);
    filters.owner = filters.owner.for_viewer(&viewer.user.actor());
    let notice = match (&p.closed, &p.reopened) {
        (Some(id), _) => closed_notice(&state, &viewer, &filters, id).await,
        (None, Some(_)) => Some(Notice {
            text: "Session reopened".into(),
            error: false,
            undo: None,
        }),
        _ if p.deleted.is_some() => Some(Notice::info("Prepared session deleted")),
        _ => None,
    };
    let owner = filters.owner.clone();
    let mut response = history(&state, &viewer, filters, p.cursor.as_deref(), notice).await?;
    if chosen {
        owners::remember(&mut response, &owner);
    }
    Ok(response)
}

/// The toast after a no-script close, read back from the session itself.
async fn closed_notice(
    state: &AppState,
    viewer: &SignedInUser,
    filters: &Filters,
    id: &str,
) -> Option<Notice> {
    let id = Uuid::parse_str(id).ok()?;
    let session = state.sessions.get(id).await.ok()?;
    let outcome = session.outcome?;
    let names = owner_names(state, &session.owner).await;
    Some(Notice {
        text: closed_text(&session, &names, viewer, outcome),
        error: false,
        undo: Some(format!("/sessions/{id}/reopen{}", filters.query())),
    })
}

async fn history(
    state: &AppState,
    viewer: &SignedInUser,
    filters: Filters,
    cursor: Option<&str>,
    notice: Option<Notice>,
) -> Result<Response, PageError> {
    let actor = viewer.user.actor();
    let (page, mut found) = state
        .sessions
        .list_with_snippets(&filters.list_query(&actor, cursor))
        .await?;
    let now = state.sessions.now();
    let next_href = page.next.map(|c| {
        let cursor = c.encode();
        format!("/sessions{}", filters.query_with(&[("cursor", &cursor)]))
    });
    let mut layout = Layout::signed_in("Session History", viewer);
    layout.notice = notice;
    // One read of the accounts serves the owner filter and every card's
    // owner. The filter is a convenience: without it, it still works by URL.
    let users = state.accounts.users().await.unwrap_or_default();
    let names = Names::of(&users);
    let (owner_choices, subtitle) = owners::owner_choices(&users, &actor, &filters.owner);
    let database_empty = page.items.is_empty() && {
        let any = ListQuery {
            limit: 1,
            ..ListQuery::default()
        };
        state.sessions.list(&any).await?.items.is_empty()
    };
    render(&HistoryPage {
        owner_choices,
        subtitle,
        database_empty,
        layout,
        statuses: filters.status_choices(),
        outcome_choices: filters.outcome_choices(),
        back: filters.query(),
        export_href: filters.export_href(&actor),
        filters,
        cards: page
            .items
            .iter()
            .map(|s| CardView {
                found: found.remove(&s.id),
                ..CardView::new(s, now, &actor, &names)
            })
            .collect(),
        outcomes: &Outcome::ALL,
        csrf: viewer.csrf_token().to_string(),
        next_href,
    })
}

/// The history page again with an error in its toast region: what a
/// no-script action shows when it could not be done.
async fn refused(
    state: &AppState,
    viewer: &SignedInUser,
    filters: Filters,
    status: StatusCode,
    message: String,
) -> Result<Response, PageError> {
    let mut response = history(state, viewer, filters, None, Some(Notice::error(message))).await?;
    *response.status_mut() = status;
    Ok(response)
}

#[tracing::instrument(skip_all, fields(session = %id))]
pub async fn card(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    Path(id): Path<String>,
    query: Params,
) -> Result<Response, PageError> {
    let session = state.sessions.get(parse_id(&id)?).await?;
    let filters = Filters::from_params(&params(query));
    let actor = viewer.user.actor();
    // Whether the card belongs on the page these filters show: the live
    // page adds or removes a card that changed elsewhere by it.
    let belongs = filters.list_query(&actor, None).admits(&session);
    let names = owner_names(&state, &session.owner).await;
    let mut response = render(&CardFragment {
        card: CardView::new(&session, state.sessions.now(), &actor, &names),
        outcomes: &Outcome::ALL,
        back: filters.query(),
        csrf: viewer.csrf_token().to_string(),
    })?;
    response.headers_mut().insert(
        FILTER_HEADER,
        HeaderValue::from_static(if belongs { "match" } else { "no-match" }),
    );
    Ok(response)
}

/// Says whether a card fragment passes the filters it was asked with.
const FILTER_HEADER: HeaderName = HeaderName::from_static("casebook-filter");

#[derive(Debug, Default, Deserialize)]
pub struct CloseForm {
    outcome: Option<String>,
    outcome_notes: Option<String>,
}

#[tracing::instrument(skip_all, fields(session = %id))]
pub async fn close(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    Path(id): Path<String>,
    query: Params,
    form: Result<Form<CloseForm>, FormRejection>,
) -> Result<Response, PageError> {
    let id = parse_id(&id)?;
    let filters = Filters::from_params(&params(query));
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let outcome = form.outcome.as_deref().and_then(Outcome::parse);
    let notes = OutcomeNotes::parse(form.outcome_notes.as_deref());
    let (outcome, notes) = match (outcome, notes) {
        (Some(outcome), Ok(notes)) => (outcome, notes),
        (None, _) => {
            let message = "The session was not closed: choose an outcome.".to_string();
            return refused(
                &state,
                &viewer,
                filters,
                StatusCode::UNPROCESSABLE_ENTITY,
                message,
            )
            .await;
        }
        (_, Err(why)) => {
            let message = format!("The session was not closed: the notes {why}.");
            return refused(
                &state,
                &viewer,
                filters,
                StatusCode::UNPROCESSABLE_ENTITY,
                message,
            )
            .await;
        }
    };
    let result = state
        .sessions
        .complete(&viewer.user.actor(), Surface::History, id, outcome, notes)
        .await;
    let id = id.to_string();
    back_or_refuse(&state, &viewer, filters, result, &[("closed", &id)]).await
}

#[tracing::instrument(skip_all, fields(session = %id))]
pub async fn start(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    Path(id): Path<String>,
    query: Params,
) -> Result<Response, PageError> {
    let id = parse_id(&id)?;
    let filters = Filters::from_params(&params(query));
    let result = state
        .sessions
        .start(&viewer.user.actor(), Surface::History, id)
        .await;
    back_or_refuse(&state, &viewer, filters, result, &[]).await
}

/// Undo of a close, for the toast's no-script form.
#[tracing::instrument(skip_all, fields(session = %id))]
pub async fn reopen(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    Path(id): Path<String>,
    query: Params,
) -> Result<Response, PageError> {
    let id = parse_id(&id)?;
    let filters = Filters::from_params(&params(query));
    let result = state
        .sessions
        .reopen(&viewer.user.actor(), Surface::History, id)
        .await;
    let id = id.to_string();
    back_or_refuse(&state, &viewer, filters, result, &[("reopened", &id)]).await
}

/// After an action: back to the same view (303, so a reload does not post
/// again), or the view with the reason when the session was not in the
/// status the action needs.
async fn back_or_refuse<T>(
    state: &AppState,
    viewer: &SignedInUser,
    filters: Filters,
    result: Result<T, ServiceError>,
    extra: &[(&str, &str)],
) -> Result<Response, PageError> {
    match result {
        Ok(_) => {
            Ok(Redirect::to(&format!("/sessions{}", filters.query_with(extra))).into_response())
        }
        Err(ServiceError::Conflict(conflict)) => {
            // The API's words: every surface explains a conflict the same way.
            let message = conflict.detail();
            refused(state, viewer, filters, StatusCode::CONFLICT, message).await
        }
        Err(e) => Err(e.into()),
    }
}

/// The owner's display name alone, for a page about one session; a name
/// that cannot be read shows as the username.
async fn owner_names(state: &AppState, owner: &str) -> Names {
    let user = match Username::parse(owner) {
        Ok(username) => state.accounts.user(&username).await.ok(),
        Err(_) => None,
    };
    Names::of(user.as_slice())
}

/// The toast of a close names the session, and its owner (by display name)
/// when that is someone else. app.js words it the same way.
fn closed_text(
    session: &Session,
    names: &Names,
    viewer: &SignedInUser,
    outcome: Outcome,
) -> String {
    let whose = if viewer.user.username.as_str() == session.owner {
        String::new()
    } else {
        format!(" ({}’s session)", names.person(&session.owner).name)
    };
    let title = &session.title;
    format!("Session closed as {}: “{title}”{whose}", outcome.label())
}
