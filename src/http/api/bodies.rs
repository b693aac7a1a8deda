//! What the API sends and accepts. Field names are part of the contract.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::schema::{CursorSchema, StatusSchema, StepTextSchema};
use super::timestamp;

use crate::domain::{Event, EventKind, Outcome, Session, Status, Step, Surface};

/// A troubleshooting session with its plan.
#[derive(Serialize, ToSchema)]
#[schema(as = Session)]
pub struct SessionBody<'a> {
    id: Uuid,
    title: &'a str,
    problem: &'a str,
    reference: Option<&'a str>,
    customer: Option<&'a str>,
    owner: &'a str,
    #[schema(value_type = StatusSchema)]
    status: &'static str,
    #[serde(serialize_with = "timestamp::serialize")]
    created_at: DateTime<Utc>,
    #[serde(serialize_with = "timestamp::serialize")]
    updated_at: DateTime<Utc>,
    #[serde(serialize_with = "timestamp::serialize_option")]
    started_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "timestamp::serialize_option")]
    completed_at: Option<DateTime<Utc>>,
    completed_by: Option<&'a str>,
    outcome: Option<Outcome>,
    outcome_label: Option<&'static str>,
    outcome_notes: Option<&'a str>,
    summary: Option<&'a str>,
    steps: Vec<StepBody<'a>>,
}

/// One check of a session's plan.
#[derive(Serialize, ToSchema)]
#[schema(as = Step)]
struct StepBody<'a> {
    id: Uuid,
    position: u32,
    text: &'a str,
    #[serde(serialize_with = "timestamp::serialize_option")]
    checked_at: Option<DateTime<Utc>>,
    finding: Option<&'a str>,
    /// Skipped while working; checking or unchecking the step clears it.
    #[serde(serialize_with = "timestamp::serialize_option")]
    skipped_at: Option<DateTime<Utc>>,
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
            skipped_at: s.skipped_at,
        }
    }
}

/// One entry of a session's timeline.
#[derive(Serialize, ToSchema)]
#[schema(as = Event)]
pub struct EventBody<'a> {
    id: Uuid,
    session_id: Uuid,
    #[serde(serialize_with = "timestamp::serialize")]
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
#[derive(Serialize, ToSchema)]
pub struct ListBody<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// A session to prepare. Texts are trimmed; blank optional texts mean none.
#[derive(Deserialize, Default, ToSchema)]
#[schema(example = json!({"title": "Disk full on db01", "problem": "Writes fail with ENOSPC.", "reference": "INC-1042", "customer": "Acme", "steps": ["Check df -h", "Rotate the logs"], "start": true}))]
pub struct CreateSession {
    /// At most 200 characters, not all spaces.
    #[schema(required, value_type = String, max_length = 200, pattern = "^[^\\u0000]*[^\\u0000\\t\\n\\x0B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000][^\\u0000]*$")]
    pub title: Option<String>,
    /// The problem as reported: at most 10,000 characters.
    #[schema(max_length = 10000, pattern = "^[^\\u0000]*$")]
    pub problem: Option<String>,
    /// A ticket or case reference: at most 200 characters.
    #[schema(max_length = 200, pattern = "^[^\\u0000]*$")]
    pub reference: Option<String>,
    /// At most 200 characters.
    #[schema(max_length = 200, pattern = "^[^\\u0000]*$")]
    pub customer: Option<String>,
    /// The plan: at most 100 steps of 1–500 characters each.
    #[schema(max_items = 100, value_type = Vec<StepTextSchema>)]
    #[serde(default)]
    pub steps: Vec<String>,
    /// Start the session right away ("Prepare and start").
    #[serde(default)]
    pub start: bool,
}

/// How a session ended.
#[derive(Deserialize, Default, ToSchema)]
#[schema(example = json!({"outcome": "resolved", "outcome_notes": "Rotated the logs."}))]
pub struct CompleteSession {
    #[schema(required, value_type = Outcome)]
    pub outcome: Option<String>,
    /// At most 4,000 characters.
    #[schema(max_length = 4000, pattern = "^[^\\u0000]*$")]
    pub outcome_notes: Option<String>,
}

/// A note added while working.
#[derive(Deserialize, Default, ToSchema)]
#[schema(example = json!({"text": "The logs take 40 GB."}))]
pub struct AddNote {
    /// At most 10,000 characters, not all spaces.
    #[schema(required, value_type = String, max_length = 10000, pattern = "^[^\\u0000]*[^\\u0000\\t\\n\\x0B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000][^\\u0000]*$")]
    pub text: Option<String>,
}

/// What checking a step found.
#[derive(Deserialize, Default, ToSchema)]
#[schema(example = json!({"finding": "93% used"}))]
pub struct CheckStep {
    /// At most 4,000 characters.
    #[schema(max_length = 4000, pattern = "^[^\\u0000]*$")]
    pub finding: Option<String>,
}

/// Filters of the session list; an empty value means "any".
#[derive(Deserialize, Default, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only sessions with this status.
    #[param(value_type = Option<StatusSchema>)]
    pub status: Option<String>,
    /// Only sessions that ended with this outcome.
    #[param(value_type = Option<Outcome>)]
    pub outcome: Option<String>,
    /// Only sessions of this owner (a username).
    #[param(pattern = "^[^\\u0000]*$")]
    pub owner: Option<String>,
    /// Words that must all appear (as prefixes) in what a session says:
    /// title, reference, customer, problem, plan, findings, notes, outcome
    /// notes, summary, or the owner's username or display name.
    pub q: Option<String>,
    /// Where the previous page ended: its `next_cursor`. Any other value of
    /// this shape is read as a position too; any other value gets 400.
    #[param(value_type = Option<CursorSchema>, inline)]
    pub cursor: Option<String>,
    /// Sessions per page, 25 unless given.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
}
