//! The session lifecycle as pure data and rules: no I/O, no HTTP, no SQL.

mod account;
mod action;
mod actor;
mod duration;
mod event;
mod list;
mod list_match;
mod outcome;
mod report;
mod runbook;
mod session;
mod similar;
mod throttle;
mod validation;
mod webhook;

pub use account::{ApiToken, DisplayName, Password, Role, TokenName, User, Username};
pub use action::Requirement;
pub use actor::Actor;
pub use duration::human_duration;
#[cfg(test)]
pub(crate) use event::every_kind;
pub use event::{Event, EventKind, Surface};
pub use list::{Cursor, ListQuery, ListQueryError, Page, SearchTerms};
pub use outcome::{Outcome, OutcomeKind};
pub use report::{
    CustomerRow, OutcomeCount, Report, ReportQuery, ReportRows, TimeToClose, WeekRow, monday_of,
};
pub use runbook::{Runbook, RunbookDraft, RunbookQuery};
pub use session::{Session, Status, Step};
pub use similar::{
    MATCH_BUDGET, MATCH_END, MATCH_START, MAX_TERMS, SimilarLimit, SimilarQuery, SimilarText,
    SimilarityWords, Snippet, SnippetPiece, choose_terms,
};
pub use throttle::{Attempt, Throttle, ThrottlePolicy};
pub use validation::{
    FieldError, Finding, NewSession, NoteText, OutcomeNotes, Problem, ShortText, StepText, Title,
    ValidationErrors,
};
pub use webhook::{
    AttemptAnswer, Delivery, DeliveryState, DueDelivery, WEBHOOK_EVENTS, Webhook, WebhookEvents,
    WebhookUrl, delivery_id,
};
