//! "Similar past sessions": beside the plan in the workspace, on the
//! details page, and in the new-session form as the engineer types.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::layout::{PageError, render};
use super::view::{Names, Person, Stamp, snippet};
use crate::domain::{Outcome, Session, SimilarLimit, SimilarText};
use crate::http::AppState;
use crate::http::state::Viewer;

/// One similar past session, as the list shows it.
pub struct SimilarView {
    pub id: Uuid,
    pub title: String,
    pub outcome: Option<Outcome>,
    /// The outcome notes, or else the summary's first sentence.
    pub notes: Option<String>,
    pub closed_by: Option<Person>,
    pub closed: Option<Stamp>,
    /// How many steps its plan has (the new-session form offers to copy them).
    pub steps: usize,
}

impl SimilarView {
    const NOTES_CHARS: usize = 200;

    pub fn new(session: &Session, now: DateTime<Utc>, names: &Names) -> Self {
        let notes = session
            .outcome_notes
            .as_deref()
            .or(session.summary.as_deref().map(first_sentence))
            .map(|n| snippet(n, Self::NOTES_CHARS));
        SimilarView {
            id: session.id,
            title: session.title.clone(),
            outcome: session.outcome,
            notes,
            closed_by: session.completed_by.as_deref().map(|by| names.person(by)),
            closed: session.completed_at.map(|t| Stamp::new(t, now)),
            steps: session.steps.len(),
        }
    }

    pub fn list(sessions: &[Session], now: DateTime<Utc>, names: &Names) -> Vec<Self> {
        sessions
            .iter()
            .map(|s| SimilarView::new(s, now, names))
            .collect()
    }
}

/// Up to and including the first full stop, question or exclamation mark
/// that ends a sentence.
fn first_sentence(text: &str) -> &str {
    let text = text.trim();
    let end = text
        .char_indices()
        .find(|&(i, c)| {
            matches!(c, '.' | '!' | '?')
                && text[i + c.len_utf8()..]
                    .chars()
                    .next()
                    .is_none_or(char::is_whitespace)
        })
        .map(|(i, c)| i + c.len_utf8());
    &text[..end.unwrap_or(text.len())]
}

/// What `partials/similar.html` shows.
#[derive(Default)]
pub struct SimilarList {
    pub items: Vec<SimilarView>,
    /// Offer each plan for copying into the form around the list.
    pub copy: bool,
}

impl SimilarList {
    /// The sessions similar to session `id` for its page, people named by
    /// the page's `names`; a failure only leaves the list out, since the
    /// page is about the session itself.
    pub async fn of_session(state: &AppState, id: Uuid, names: &Names) -> SimilarList {
        let items = match state.sessions.similar_to(id, SimilarLimit::DEFAULT).await {
            Ok(sessions) => SimilarView::list(&sessions, state.sessions.now(), names),
            Err(error) => {
                tracing::warn!(%error, "similar sessions left out");
                Vec::new()
            }
        };
        SimilarList { items, copy: false }
    }

    /// The sessions similar to a text, each plan offered for copying.
    pub async fn of_text(state: &AppState, text: &str) -> Result<SimilarList, PageError> {
        let text = SimilarText::parse(Some(text)).unwrap_or_default();
        let sessions = state
            .sessions
            .similar_to_text(text, SimilarLimit::DEFAULT)
            .await?;
        let names = match sessions.is_empty() {
            true => Names::default(),
            false => Names::of(&state.accounts.users().await.unwrap_or_default()),
        };
        Ok(SimilarList {
            items: SimilarView::list(&sessions, state.sessions.now(), &names),
            copy: true,
        })
    }
}

/// The list alone, which the new-session form's script puts beside the
/// problem as it is typed.
#[derive(Template)]
#[template(path = "partials/similar.html")]
struct SimilarFragment {
    similar: SimilarList,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TextQuery {
    text: String,
}

#[tracing::instrument(skip_all)]
pub async fn fragment(
    State(state): State<AppState>,
    Viewer(_viewer): Viewer,
    Query(query): Query<TextQuery>,
) -> Result<Response, PageError> {
    let similar = SimilarList::of_text(&state, &query.text).await?;
    render(&SimilarFragment { similar })
}

#[cfg(test)]
mod tests {
    use super::first_sentence;

    #[test]
    fn the_first_sentence_ends_at_its_stop_not_inside_a_number() {
        assert_eq!(
            first_sentence("Rekey at 3.5 h. Then fine."),
            "Rekey at 3.5 h."
        );
        assert_eq!(first_sentence("No stop at all"), "No stop at all");
        assert_eq!(first_sentence("Fixed! Monitoring."), "Fixed!");
    }
}
