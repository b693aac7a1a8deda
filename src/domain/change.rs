use uuid::Uuid;

use super::{Outcome, Status, Step};

/// One state change of a session. The store applies it as a single
/// conditional write, guarded by `required_status`.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Start,
    Complete {
        outcome: Outcome,
        notes: Option<String>,
        by: String,
    },
    Reopen,
    /// A note touches only the session's activity time; its text lives in the event.
    AddNote,
    CheckStep {
        step_id: Uuid,
        finding: Option<String>,
    },
    UncheckStep {
        step_id: Uuid,
    },
    SetSummary {
        text: String,
    },
    /// A step appended to the plan while working.
    AddStep {
        step_id: Uuid,
        text: String,
    },
    RewordStep {
        step_id: Uuid,
        text: String,
    },
    /// Not to be checked; checking or unchecking it later clears this.
    SkipStep {
        step_id: Uuid,
    },
    /// A note's correction lives in its event, like the note itself.
    CorrectNote,
    /// A prepared session's fields and plan, replaced whole: nothing has
    /// been checked yet, so the new plan loses nothing.
    Edit {
        title: String,
        problem: String,
        reference: Option<String>,
        customer: Option<String>,
        steps: Vec<Step>,
    },
    /// The session passes from one owner to another, in any status. Guarded
    /// by its owner rather than its status: it happens only if `from` still
    /// owns it and `to` is an enabled account when the write runs.
    Reassign {
        from: String,
        to: String,
    },
}

impl Change {
    /// The only status from which this change may happen; `None` when
    /// any status will do (a reassignment).
    pub fn required_status(&self) -> Option<Status> {
        match self {
            Change::Start | Change::Edit { .. } => Some(Status::Prepared),
            Change::Reopen | Change::SetSummary { .. } => Some(Status::Completed),
            Change::Complete { .. }
            | Change::AddNote
            | Change::CheckStep { .. }
            | Change::UncheckStep { .. }
            | Change::AddStep { .. }
            | Change::RewordStep { .. }
            | Change::SkipStep { .. }
            | Change::CorrectNote => Some(Status::Active),
            Change::Reassign { .. } => None,
        }
    }

    /// What the action is called in messages ("only an active session can be completed").
    pub fn verb(&self) -> &'static str {
        match self {
            Change::Start => "started",
            Change::Edit { .. } => "edited",
            Change::Complete { .. } => "completed",
            Change::Reopen => "reopened",
            Change::SetSummary { .. } => "summarized",
            Change::Reassign { .. } => "reassigned",
            Change::AddNote | Change::CorrectNote => "given notes",
            Change::CheckStep { .. }
            | Change::UncheckStep { .. }
            | Change::AddStep { .. }
            | Change::RewordStep { .. }
            | Change::SkipStep { .. } => "worked on",
        }
    }
}
