//! Every lifecycle action is declared once, by the event it records: the
//! service builds only that event, the store derives its conditional write
//! from it (see `store::writes`), and the timeline renders it.

use super::{EventKind, Status};

/// What an action requires of the session before it may happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// There is no session yet: the action creates it.
    NoSession,
    /// The session is in this status.
    Status(Status),
    /// The session still has the owner the action names, and the new owner
    /// is an enabled account (a reassignment).
    Owner,
}

impl EventKind {
    pub fn requirement(&self) -> Requirement {
        match self {
            EventKind::Created => Requirement::NoSession,
            EventKind::Started | EventKind::Edited { .. } => Requirement::Status(Status::Prepared),
            EventKind::Reopened | EventKind::SummaryGenerated { .. } => {
                Requirement::Status(Status::Completed)
            }
            EventKind::Completed { .. }
            | EventKind::NoteAdded { .. }
            | EventKind::NoteCorrected { .. }
            | EventKind::StepChecked { .. }
            | EventKind::StepUnchecked { .. }
            | EventKind::StepAdded { .. }
            | EventKind::StepReworded { .. }
            | EventKind::StepSkipped { .. } => Requirement::Status(Status::Active),
            EventKind::OwnerChanged { .. } => Requirement::Owner,
        }
    }

    /// The only status from which this action may happen; `None` when its
    /// requirement is not a status.
    pub fn required_status(&self) -> Option<Status> {
        match self.requirement() {
            Requirement::Status(status) => Some(status),
            Requirement::NoSession | Requirement::Owner => None,
        }
    }

    /// What the action is called in messages ("only an active session can be completed").
    pub fn verb(&self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::Started => "started",
            EventKind::Edited { .. } => "edited",
            EventKind::Completed { .. } => "completed",
            EventKind::Reopened => "reopened",
            EventKind::SummaryGenerated { .. } => "summarized",
            EventKind::OwnerChanged { .. } => "reassigned",
            EventKind::NoteAdded { .. } | EventKind::NoteCorrected { .. } => "given notes",
            EventKind::StepChecked { .. }
            | EventKind::StepUnchecked { .. }
            | EventKind::StepAdded { .. }
            | EventKind::StepReworded { .. }
            | EventKind::StepSkipped { .. } => "worked on",
        }
    }
}
