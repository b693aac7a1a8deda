use crate::domain::{Session, Status};
use crate::store::StoreError;

/// Why an operation did not happen, in terms every surface can explain.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("no such session")]
    NotFound,
    #[error("no such step in this session")]
    StepNotFound,
    /// Only the session's owner and admins may change it.
    #[error("only {owner} or an admin may change this session")]
    Forbidden { owner: String },
    #[error("no such note in this session")]
    NoteNotFound,
    /// A note is corrected only by the person who wrote it.
    #[error("only {author} may correct this note")]
    NotNoteAuthor { author: String },
    #[error(transparent)]
    Conflict(Conflict),
    /// Only admins give a session to another owner.
    #[error("Only an admin can give a session to another owner.")]
    NotAdmin,
    /// A session's owner must be an account.
    #[error("“{username}” is not an account")]
    UnknownOwner { username: String },
    /// A session is never given to an account that cannot sign in.
    #[error(
        "“{username}” is a disabled account; a session goes only to an account that can sign in"
    )]
    OwnerDisabled { username: String },
    /// Another reassignment came first; `owner` is the session's owner now.
    #[error("Another admin gave this session to {owner} meanwhile; nothing was changed.")]
    OwnerChanged { owner: String },
    /// The summarizer failed; the session is unchanged.
    #[error("{0}")]
    Summary(String),
    #[error("the database is unavailable")]
    Unavailable(#[source] crate::store::DatabaseError),
    #[error(transparent)]
    Internal(anyhow::Error),
}

/// What every surface says when the database cannot be reached.
pub const UNAVAILABLE: &str = "The database is unavailable; try again shortly.";
/// What every surface says of a failure on Casebook's side (which is logged).
pub const INTERNAL: &str = "Something went wrong on our side; it has been logged.";

impl ServiceError {
    /// What a person is told: the one wording of each refusal, the same in
    /// the API's problem `detail` and on the pages.
    pub fn detail(&self) -> String {
        match self {
            ServiceError::NotFound => "No session has this id.".into(),
            ServiceError::StepNotFound => "This session has no step with this id.".into(),
            ServiceError::Forbidden { owner } => {
                format!("Only the session's owner ({owner}) or an admin can change it.")
            }
            ServiceError::NoteNotFound => "This session has no note with this id.".into(),
            ServiceError::NotNoteAuthor { author } => {
                format!("Only {author}, who wrote this note, can correct it.")
            }
            ServiceError::Conflict(conflict) => conflict.detail(),
            ServiceError::Summary(reason) => {
                format!("No summary was generated, and the session is unchanged: {reason}.")
            }
            ServiceError::NotAdmin
            | ServiceError::UnknownOwner { .. }
            | ServiceError::OwnerDisabled { .. }
            | ServiceError::OwnerChanged { .. } => self.to_string(),
            ServiceError::Unavailable(_) => UNAVAILABLE.into(),
            ServiceError::Internal(_) => INTERNAL.into(),
        }
    }
}

/// The session is not in the status an action needs; `current` is how it is now.
#[derive(Debug, thiserror::Error)]
#[error("{}", self.detail())]
pub struct Conflict {
    /// Past participle of the action ("completed").
    pub attempted: &'static str,
    pub required: Status,
    pub current: Box<Session>,
}

impl Conflict {
    pub fn detail(&self) -> String {
        let status = self.current.status();
        let mut detail = format!(
            "This session is {status}; only a{} {} session can be {}.",
            if self.required == Status::Active {
                "n"
            } else {
                ""
            },
            self.required,
            self.attempted
        );
        if let (Some(outcome), Some(by)) = (self.current.outcome, &self.current.completed_by) {
            let when = self
                .current
                .completed_at
                .map(|at| at.format(" at %Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_default();
            detail.push_str(&format!(
                " It was closed as {} by {by}{when}.",
                outcome.label()
            ));
        }
        detail
    }
}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => ServiceError::NotFound,
            StoreError::StepNotFound => ServiceError::StepNotFound,
            StoreError::Unavailable(e) => ServiceError::Unavailable(e),
            StoreError::Database(e) => ServiceError::Internal(e.into()),
            StoreError::Duplicate => {
                ServiceError::Internal(anyhow::anyhow!("a unique key was stored twice"))
            }
            // Callers that write an owner map it with the name first.
            StoreError::UnknownOwner => {
                ServiceError::Internal(anyhow::anyhow!("a session's owner is not an account"))
            }
            // Callers that expect a status conflict map it with context first.
            StoreError::WrongStatus(session) => ServiceError::Internal(anyhow::anyhow!(
                "session {} is unexpectedly {}",
                session.id,
                session.status()
            )),
        }
    }
}
