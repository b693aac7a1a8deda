//! What the API sends and accepts. Field names are part of the contract.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{Event, EventKind, Outcome, Page, Session, Status, Step, Surface};

#[derive(Serialize)]
pub struct SessionBody<'a> {
    id: Uuid,
    title: &'a str,
    problem: &'a str,
    reference: Option<&'a str>,
    customer: Option<&'a str>,
    owner: &'a str,
    status: &'static str,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
    completed_by: Option<&'a str>,
    outcome: Option<Outcome>,
    outcome_label: Option<&'static str>,
    outcome_notes: Option<&'a str>,
    summary: Option<&'a str>,
    steps: Vec<StepBody<'a>>,
}

#[derive(Serialize)]
struct StepBody<'a> {
    id: Uuid,
    position: u32,
    text: &'a str,
    checked_at: Option<DateTime<Utc>>,
    finding: Option<&'a str>,
}

impl<'a> From<&'a Session> for SessionBody<'a> {
    fn from(s: &'a Session) -> Self {
        SessionBody {
            id: s.id,
            title: &s.title,
            problem: &s.problem,
            reference: s.reference.as_deref(),
            customer: s.customer.as_deref(),
            owner: &s.owner,
            status: Status::as_str(s.status()),
            created_at: s.created_at,
            updated_at: s.updated_at,
            started_at: s.started_at,
            completed_at: s.completed_at,
            completed_by: s.completed_by.as_deref(),
            outcome: s.outcome,
            outcome_label: s.outcome.map(Outcome::label),
            outcome_notes: s.outcome_notes.as_deref(),
            summary: s.summary.as_deref(),
            steps: s.steps.iter().map(StepBody::from).collect(),
        }
    }
}

impl<'a> From<&'a Step> for StepBody<'a> {
    fn from(s: &'a Step) -> Self {
        StepBody {
            id: s.id,
            position: s.position,
            text: &s.text,
            checked_at: s.checked_at,
            finding: s.finding.as_deref(),
        }
    }
}

#[derive(Serialize)]
pub struct EventBody<'a> {
    id: Uuid,
    session_id: Uuid,
    at: DateTime<Utc>,
    actor: &'a str,
    via: Surface,
    /// `kind` and what changed, flattened.
    #[serde(flatten)]
    change: &'a EventKind,
}

impl<'a> From<&'a Event> for EventBody<'a> {
    fn from(e: &'a Event) -> Self {
        EventBody {
            id: e.id,
            session_id: e.session_id,
            at: e.at,
            actor: &e.actor,
            via: e.via,
            change: &e.kind,
        }
    }
}

/// `{ "items": [...], "next_cursor": ... }`, the shape of every list.
#[derive(Serialize)]
pub struct ListBody<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<'a> From<&'a Page<Session>> for ListBody<SessionBody<'a>> {
    fn from(page: &'a Page<Session>) -> Self {
        ListBody {
            items: page.items.iter().map(SessionBody::from).collect(),
            next_cursor: page.next.map(|c| c.encode()),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CreateSession {
    pub title: Option<String>,
    pub problem: Option<String>,
    pub reference: Option<String>,
    pub customer: Option<String>,
    pub steps: Vec<String>,
    /// Start the session right away ("Prepare and start").
    pub start: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CompleteSession {
    pub outcome: Option<String>,
    pub outcome_notes: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct AddNote {
    pub text: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CheckStep {
    pub finding: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ListParams {
    pub status: Option<String>,
    pub outcome: Option<String>,
    pub owner: Option<String>,
    pub q: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<String>,
}
