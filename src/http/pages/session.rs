//! The details page and the workspace page of one session.

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use uuid::Uuid;

use super::layout::{Layout, Notice, PageError, parse_id, render};
use super::similar::SimilarList;
use super::view::{CardView, Names, Person, Stamp};
use crate::domain::{
    Event, EventKind, FieldError, Outcome, Session, Status, Step, ValidationErrors,
};
use crate::http::AppState;
use crate::http::auth::SignedInUser;
use crate::http::state::Viewer;

/// One line of the timeline: who did what, when, through which surface.
pub struct EventView {
    pub at: Stamp,
    pub actor: Person,
    pub via: &'static str,
    pub what: String,
    /// Text the line keeps folded away: a generated summary, which a reopen
    /// removes from the session but never from its timeline.
    pub kept_text: Option<String>,
}

impl EventView {
    fn new(
        event: &Event,
        steps: &[Step],
        now: chrono::DateTime<chrono::Utc>,
        names: &Names,
    ) -> Self {
        let step = |id| {
            steps
                .iter()
                .find(|s| s.id == id)
                .map(|s| format!("step {} ({})", s.position, s.text))
                .unwrap_or_else(|| "a step".into())
        };
        let what = match &event.kind {
            EventKind::Created => "prepared the session".into(),
            EventKind::Started => "started the session".into(),
            EventKind::NoteAdded { text } => format!("noted: {text}"),
            EventKind::StepChecked { step_id, finding } => match finding {
                Some(f) => format!("checked {}: {f}", step(*step_id)),
                None => format!("checked {}", step(*step_id)),
            },
            EventKind::StepUnchecked { step_id } => format!("unchecked {}", step(*step_id)),
            EventKind::Completed {
                outcome,
                outcome_notes,
            } => match outcome_notes {
                Some(notes) => format!("closed it as {}: {notes}", outcome.label()),
                None => format!("closed it as {}", outcome.label()),
            },
            EventKind::Reopened => "reopened the session".into(),
            EventKind::StepAdded { text, .. } => format!("added a step: {text}"),
            EventKind::StepReworded { previous, text, .. } => {
                format!("reworded a step from “{previous}” to “{text}”")
            }
            EventKind::StepSkipped { step_id } => format!("skipped {}", step(*step_id)),
            EventKind::NoteCorrected { text, .. } => format!("corrected a note: {text}"),
            EventKind::Edited { title, steps, .. } => match steps.len() {
                1 => format!("edited the session: “{title}”, 1 step"),
                n => format!("edited the session: “{title}”, {n} steps"),
            },
            EventKind::SummaryGenerated { summarizer, .. } => {
                format!("generated the summary ({summarizer})")
            }
            EventKind::OwnerChanged { from, to } => {
                let (from, to) = (names.person(from), names.person(to));
                format!(
                    "gave the session to {} ({}), from {} ({})",
                    to.name, to.username, from.name, from.username
                )
            }
        };
        let kept_text = match &event.kind {
            EventKind::SummaryGenerated { summary, .. } => Some(summary.clone()),
            _ => None,
        };
        EventView {
            at: Stamp::new(event.at, now),
            actor: names.person(&event.actor),
            via: event.via.label(),
            what,
            kept_text,
        }
    }
}

/// A note in the workspace's stream.
pub struct NoteView {
    /// The note's timeline event: what a correction names.
    pub id: Uuid,
    pub at: Stamp,
    pub actor: Person,
    /// The latest text, after any correction.
    pub text: String,
    pub corrected: bool,
    /// Written by the viewer, who alone may correct it.
    pub mine: bool,
}

/// A step of the workspace checklist.
pub struct StepView {
    pub id: Uuid,
    pub position: u32,
    pub text: String,
    pub checked: Option<Stamp>,
    pub finding: Option<String>,
    pub skipped: bool,
}

#[derive(Template)]
#[template(path = "session.html")]
struct DetailsPage {
    layout: Layout,
    card: CardView,
    session: Session,
    /// Who closed it, when it is closed.
    closed_by: Option<Person>,
    /// For an admin: the accounts the session may be given to.
    new_owners: Vec<OwnerOption>,
    events: Vec<EventView>,
    summary_error: Option<String>,
    similar: SimilarList,
    /// The Reopen button asked: a reopen discards the summary from the page.
    ask_reopen: bool,
}

/// One account of the admin's Reassign form.
pub struct OwnerOption {
    pub username: String,
    pub label: String,
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct DetailsParams {
    reopen: Option<String>,
    /// Set by the redirect after the edit form saved.
    edited: Option<String>,
    /// Set by the redirect after an admin gave the session to another owner.
    reassigned: Option<String>,
}

#[derive(Template)]
#[template(path = "work.html")]
pub struct WorkPage {
    layout: Layout,
    card: CardView,
    session: Session,
    steps: Vec<StepView>,
    notes: Vec<NoteView>,
    outcomes: &'static [Outcome],
    /// What the engineer typed into a form that was refused, kept for them.
    kept: Kept,
    errors: ValidationErrors,
    similar: SimilarList,
}

/// Input of a refused workspace form, shown again beside its message.
#[derive(Default)]
pub struct Kept {
    pub note: String,
    pub outcome: String,
    pub outcome_notes: String,
    pub finding_step: Option<Uuid>,
    pub finding: String,
}

impl WorkPage {
    /// The error of `field`, in the words the API uses for it.
    fn error(&self, field: &str) -> Option<String> {
        self.errors
            .0
            .iter()
            .find(|e| e.field == field)
            .map(FieldError::sentence)
    }

    /// The finding's error, beside the step it was typed for.
    fn finding_error(&self, step: &StepView) -> Option<String> {
        self.kept
            .finding_step
            .filter(|id| *id == step.id)
            .and_then(|_| self.error("finding"))
    }

    fn is_chosen(&self, outcome: &Outcome) -> bool {
        self.kept.outcome == outcome.as_str()
    }

    fn finding_for(&self, step: &StepView) -> &str {
        match self.kept.finding_step {
            Some(id) if id == step.id => &self.kept.finding,
            _ => "",
        }
    }
}

#[tracing::instrument(skip_all, fields(session = %id))]
pub async fn details(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    Path(id): Path<String>,
    query: Result<Query<DetailsParams>, QueryRejection>,
) -> Result<Response, PageError> {
    let Query(q) = query.unwrap_or_default();
    let ask_reopen = q.reopen.is_some();
    let id = parse_id(&id)?;
    let notice = match (q.edited, q.reassigned) {
        (Some(_), _) => Some(Notice::info("Changes saved")),
        (None, Some(_)) => Some(Notice::info("Owner changed")),
        (None, None) => None,
    };
    details_page_asking(&state, &viewer, id, notice, None, ask_reopen).await
}

/// The details page, with a toast or a summary error when an action just ran.
pub async fn details_page(
    state: &AppState,
    viewer: &SignedInUser,
    id: Uuid,
    notice: Option<Notice>,
    summary_error: Option<String>,
) -> Result<Response, PageError> {
    details_page_asking(state, viewer, id, notice, summary_error, false).await
}

async fn details_page_asking(
    state: &AppState,
    viewer: &SignedInUser,
    id: Uuid,
    notice: Option<Notice>,
    summary_error: Option<String>,
    ask_reopen: bool,
) -> Result<Response, PageError> {
    let session = state.sessions.get(id).await?;
    let events = state.sessions.events(id).await?;
    let now = state.sessions.now();
    // One read of the accounts names everyone on the page.
    let users = state.accounts.users().await.unwrap_or_default();
    let names = Names::of(&users);
    let similar = SimilarList::of_session(state, id, &names).await;
    let actor = viewer.user.actor();
    let new_owners = if actor.is_admin() {
        users
            .iter()
            .filter(|u| !u.is_disabled() && u.username.as_str() != session.owner)
            .map(|u| OwnerOption {
                username: u.username.as_str().to_string(),
                label: match u.display_name.as_str() {
                    name if name == u.username.as_str() => name.to_string(),
                    name => format!("{name} ({})", u.username),
                },
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut layout = Layout::signed_in(session.title.clone(), viewer);
    layout.notice = notice;
    render(&DetailsPage {
        layout,
        card: CardView::new(&session, now, &actor, &names),
        closed_by: session.completed_by.as_deref().map(|by| names.person(by)),
        new_owners,
        events: events
            .iter()
            .map(|e| EventView::new(e, &session.steps, now, &names))
            .collect(),
        session,
        summary_error,
        similar,
        ask_reopen,
    })
}

#[tracing::instrument(skip_all, fields(session = %id))]
pub async fn work(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = parse_id(&id)?;
    let (kept, errors) = (Kept::default(), ValidationErrors::default());
    work_page(&state, &viewer, id, kept, errors, None).await
}

/// The workspace; a completed session has nothing left to work on, so its
/// workspace is its details page.
pub async fn work_page(
    state: &AppState,
    viewer: &SignedInUser,
    id: Uuid,
    kept: Kept,
    errors: ValidationErrors,
    notice: Option<Notice>,
) -> Result<Response, PageError> {
    let session = state.sessions.get(id).await?;
    let actor = viewer.user.actor();
    // Nothing is left to work on in a completed session, and only its owner
    // (or an admin) works on one: everyone else reads the details.
    if session.status() == Status::Completed || !actor.may_write(&session.owner) {
        return Ok(Redirect::to(&format!("/sessions/{id}")).into_response());
    }
    let events = state.sessions.events(id).await?;
    let now = state.sessions.now();
    let names = Names::of(&state.accounts.users().await.unwrap_or_default());
    let similar = SimilarList::of_session(state, id, &names).await;
    let mut notes: Vec<NoteView> = Vec::new();
    for e in &events {
        match &e.kind {
            EventKind::NoteAdded { text } => notes.push(NoteView {
                id: e.id,
                at: Stamp::new(e.at, now),
                actor: names.person(&e.actor),
                text: text.clone(),
                corrected: false,
                mine: e.actor == viewer.user.username.as_str(),
            }),
            EventKind::NoteCorrected { note_id, text } => {
                if let Some(note) = notes.iter_mut().find(|n| n.id == *note_id) {
                    note.text = text.clone();
                    note.corrected = true;
                }
            }
            _ => {}
        }
    }
    let steps = session
        .steps
        .iter()
        .map(|s| StepView {
            id: s.id,
            position: s.position,
            text: s.text.clone(),
            checked: s.checked_at.map(|t| Stamp::new(t, now)),
            finding: s.finding.clone(),
            skipped: s.skipped_at.is_some(),
        })
        .collect();
    let mut layout = Layout::signed_in(format!("Workspace · {}", session.title), viewer);
    layout.notice = notice;
    render(&WorkPage {
        layout,
        card: CardView::new(&session, now, &actor, &names),
        session,
        steps,
        notes,
        outcomes: &Outcome::ALL,
        kept,
        errors,
        similar,
    })
}
