//! Session History: the list of cards, and the card fragment that script
//! swaps in. Its forms (start, close, undo) post to the lifecycle's one route
//! per action (`actions.rs`), which comes back here.

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use uuid::Uuid;

use super::filters::{Choice, Filters, HistoryParams};
use super::layout::{Layout, Notice, PageError, Undo, parse_id, render};
use super::owners::{self, OwnerChoice};
use super::view::{CardView, Escaped, Names};
use crate::domain::{ListQuery, Outcome, Username};
use crate::http::AppState;
use crate::http::auth::SignedInUser;
use crate::http::state::Viewer;

#[derive(Template)]
#[template(path = "history.html")]
struct HistoryPage {
    layout: Layout,
    filters: Filters,
    statuses: Vec<Choice>,
    outcome_choices: Vec<Choice>,
    cards: Vec<CardView>,
    outcomes: &'static [Outcome],
    back: Escaped,
    csrf: Escaped,
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
    back: Escaped,
    csrf: Escaped,
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
        (None, Some(_)) => Some(Notice::info(REOPENED)),
        _ if p.deleted.is_some() => Some(Notice::info("Prepared session deleted")),
        _ => None,
    };
    let owner = filters.owner.clone();
    let mut response = history(&state, &viewer, filters, p.cursor.as_deref(), notice).await?;
    if chosen {
        owners::remember(&mut response, &owner, state.secure_cookies);
    }
    Ok(response)
}

/// The toast after an Undo: the card itself shows the session active again.
const REOPENED: &str = "Session reopened";

/// The history view `params` name (the remembered owner when they name
/// none), with `notice` in its toast region and `status`: what a form post
/// that came from here shows when it was refused.
pub(super) async fn with_notice(
    state: &AppState,
    viewer: &SignedInUser,
    headers: &HeaderMap,
    mut params: HistoryParams,
    status: StatusCode,
    notice: Notice,
) -> Result<Response, PageError> {
    if params.owner.is_none() {
        params.owner = owners::remembered(headers);
    }
    let mut filters = Filters::from_params(&params);
    filters.owner = filters.owner.for_viewer(&viewer.user.actor());
    let mut response = history(state, viewer, filters, None, Some(notice)).await?;
    *response.status_mut() = status;
    Ok(response)
}

/// The toast after a no-script close, read back from the session itself,
/// with the card's own words; Undo reopens it and comes back to this view.
async fn closed_notice(
    state: &AppState,
    viewer: &SignedInUser,
    filters: &Filters,
    id: &str,
) -> Option<Notice> {
    let id = Uuid::parse_str(id).ok()?;
    let session = state.sessions.get(id).await.ok()?;
    let names = owner_names(state, &session.owner).await;
    let card = CardView::new(&session, state.sessions.now(), &viewer.user.actor(), &names);
    Some(Notice {
        text: card.closed_text?,
        error: false,
        undo: Some(Undo {
            action: format!("/sessions/{id}/reopen"),
            next: format!(
                "/sessions{}",
                filters.query_with(&[("reopened", &id.to_string())])
            ),
        }),
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
        back: Escaped::new(&filters.query()),
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
        csrf: Escaped::new(viewer.csrf_token()),
        next_href,
    })
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
        back: Escaped::new(&filters.query()),
        csrf: Escaped::new(viewer.csrf_token()),
    })?;
    response.headers_mut().insert(
        FILTER_HEADER,
        HeaderValue::from_static(if belongs { "match" } else { "no-match" }),
    );
    Ok(response)
}

/// Says whether a card fragment passes the filters it was asked with.
const FILTER_HEADER: HeaderName = HeaderName::from_static("casebook-filter");

/// The owner's display name alone, for a page about one session; a name
/// that cannot be read shows as the username.
async fn owner_names(state: &AppState, owner: &str) -> Names {
    let user = match Username::parse(owner) {
        Ok(username) => state.accounts.user(&username).await.ok(),
        Err(_) => None,
    };
    Names::of(user.as_slice())
}
