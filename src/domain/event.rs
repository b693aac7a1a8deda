use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Outcome;

/// Through which part of Casebook an action was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Surface {
    History,
    Workspace,
    Api,
    /// The New session page, which prepares (and may start) a session.
    NewSession,
    /// Casebook itself, acting on a policy (the stale-session auto-close).
    System,
    /// A session's details page and its edit form.
    Details,
}

impl Surface {
    pub const ALL: [Surface; 6] = [
        Surface::History,
        Surface::Workspace,
        Surface::Api,
        Surface::NewSession,
        Surface::System,
        Surface::Details,
    ];

    /// The surfaces a client may name for its own actions; `system` is
    /// Casebook's alone.
    pub const CLIENT: [Surface; 4] = [
        Surface::History,
        Surface::Workspace,
        Surface::Details,
        Surface::Api,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Surface::History => "history",
            Surface::Workspace => "workspace",
            Surface::Api => "api",
            Surface::NewSession => "new_session",
            Surface::System => "system",
            Surface::Details => "details",
        }
    }

    /// How the timeline names it: "via new session page".
    pub const fn label(self) -> &'static str {
        match self {
            Surface::NewSession => "new session page",
            Surface::Details => "details page",
            other => other.as_str(),
        }
    }

    pub fn parse(value: &str) -> Option<Surface> {
        Surface::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// A surface a client named for its own action: never `system`.
    pub fn parse_client(value: &str) -> Option<Surface> {
        Surface::CLIENT.into_iter().find(|s| s.as_str() == value)
    }
}

/// What happened, with what changed. Serialized with a `kind` tag, which is
/// how the store keeps it and how the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    Created,
    Started,
    NoteAdded {
        text: String,
    },
    StepChecked {
        step_id: Uuid,
        finding: Option<String>,
    },
    StepUnchecked {
        step_id: Uuid,
    },
    Completed {
        outcome: Outcome,
        outcome_notes: Option<String>,
    },
    Reopened,
    /// A step added to the plan while working.
    StepAdded {
        step_id: Uuid,
        text: String,
    },
    /// A step's text changed while working: the text before and after.
    StepReworded {
        step_id: Uuid,
        previous: String,
        text: String,
    },
    StepSkipped {
        step_id: Uuid,
    },
    /// A note corrected by its author; the note's own event keeps the
    /// first text.
    NoteCorrected {
        note_id: Uuid,
        text: String,
    },
    /// A prepared session edited: its fields and plan as they now are.
    Edited {
        title: String,
        problem: String,
        reference: Option<String>,
        customer: Option<String>,
        steps: Vec<String>,
    },
    /// An admin gave the session to another owner (usernames).
    OwnerChanged {
        from: String,
        to: String,
    },
    /// The summary is kept here too, so a later reopen loses nothing.
    SummaryGenerated {
        summarizer: String,
        summary: String,
    },
}

impl EventKind {
    /// Every kind's `name`, in the order the enum declares them.
    pub const NAMES: [&'static str; 14] = [
        "created",
        "started",
        "note_added",
        "step_checked",
        "step_unchecked",
        "completed",
        "reopened",
        "step_added",
        "step_reworded",
        "step_skipped",
        "note_corrected",
        "edited",
        "owner_changed",
        "summary_generated",
    ];

    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::Started => "started",
            EventKind::NoteAdded { .. } => "note_added",
            EventKind::StepChecked { .. } => "step_checked",
            EventKind::StepUnchecked { .. } => "step_unchecked",
            EventKind::Completed { .. } => "completed",
            EventKind::Reopened => "reopened",
            EventKind::Edited { .. } => "edited",
            EventKind::StepAdded { .. } => "step_added",
            EventKind::StepReworded { .. } => "step_reworded",
            EventKind::StepSkipped { .. } => "step_skipped",
            EventKind::NoteCorrected { .. } => "note_corrected",
            EventKind::OwnerChanged { .. } => "owner_changed",
            EventKind::SummaryGenerated { .. } => "summary_generated",
        }
    }
}

/// One entry of a session's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: Uuid,
    pub session_id: Uuid,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub via: Surface,
    pub kind: EventKind,
}

/// One event of every kind, for tests (an edit with a plan of two steps).
#[cfg(test)]
pub(crate) fn every_kind() -> [EventKind; 14] {
    let id = Uuid::nil();
    let text = || String::from("x");
    [
        EventKind::Created,
        EventKind::Started,
        EventKind::NoteAdded { text: text() },
        EventKind::StepChecked {
            step_id: id,
            finding: None,
        },
        EventKind::StepUnchecked { step_id: id },
        EventKind::Completed {
            outcome: Outcome::Resolved,
            outcome_notes: None,
        },
        EventKind::Reopened,
        EventKind::StepAdded {
            step_id: id,
            text: text(),
        },
        EventKind::StepReworded {
            step_id: id,
            previous: text(),
            text: text(),
        },
        EventKind::StepSkipped { step_id: id },
        EventKind::NoteCorrected {
            note_id: id,
            text: text(),
        },
        EventKind::Edited {
            title: text(),
            problem: text(),
            reference: None,
            customer: None,
            steps: vec![text(), text()],
        },
        EventKind::OwnerChanged {
            from: text(),
            to: text(),
        },
        EventKind::SummaryGenerated {
            summarizer: text(),
            summary: text(),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `NAMES` is what webhooks offer to subscribe to: a kind missing from
    /// it could never be delivered.
    #[test]
    fn names_lists_every_kind_once() {
        let names: Vec<&str> = every_kind().iter().map(EventKind::name).collect();
        assert_eq!(names, EventKind::NAMES);
    }

    #[test]
    fn event_kinds_serialize_with_their_name_as_tag() {
        for kind in every_kind() {
            let json = serde_json::to_value(&kind).unwrap();
            assert_eq!(json["kind"], kind.name());
            assert_eq!(serde_json::from_value::<EventKind>(json).unwrap(), kind);
        }
    }
}
