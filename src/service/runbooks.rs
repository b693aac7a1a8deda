//! Runbooks: anyone signed in may create one (from scratch or from a
//! session's plan); its creator and admins may edit or retire it.

use uuid::Uuid;

use super::{ServiceError, SessionService};
use crate::domain::{Actor, NewSession, Runbook, RunbookDraft, RunbookQuery, ValidationErrors};
use crate::store::StoreError;

/// Why a runbook operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum RunbookError {
    #[error("no such runbook")]
    NotFound,
    #[error("only {created_by} or an admin may change this runbook")]
    Forbidden { created_by: String },
    #[error("invalid runbook: {0}")]
    Invalid(ValidationErrors),
    /// The session has no plan to save.
    #[error("This session has no plan: a runbook needs at least one step.")]
    NoPlan,
    /// Steps added while working took the session's plan past what a
    /// runbook holds; the request was fine, the session cannot give it.
    #[error(
        "This session's plan has {steps} steps; a runbook holds at most {max}.",
        max = NewSession::MAX_STEPS
    )]
    PlanTooLong { steps: usize },
    /// Reading the session to save its plan failed (it may not exist).
    #[error(transparent)]
    Session(ServiceError),
}

impl From<StoreError> for RunbookError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => RunbookError::NotFound,
            other => RunbookError::Session(other.into()),
        }
    }
}

impl SessionService {
    pub async fn runbooks(&self, query: &RunbookQuery) -> Result<Vec<Runbook>, RunbookError> {
        Ok(self.store.runbooks(query).await?)
    }

    pub async fn runbook(&self, id: Uuid) -> Result<Runbook, RunbookError> {
        self.store.runbook(id).await?.ok_or(RunbookError::NotFound)
    }

    pub async fn create_runbook(
        &self,
        actor: &Actor,
        draft: RunbookDraft,
        source_session_id: Option<Uuid>,
    ) -> Result<Runbook, RunbookError> {
        let now = self.clock.now();
        let runbook = Runbook {
            id: Uuid::now_v7(),
            name: draft.name.into_inner(),
            problem: draft.problem.into_inner(),
            steps: draft.steps.into_iter().map(|s| s.into_inner()).collect(),
            created_by: actor.username.clone(),
            source_session_id,
            created_at: now,
            updated_at: now,
            retired_at: None,
        };
        self.store.insert_runbook(&runbook).await?;
        Ok(runbook)
    }

    /// Saves the plan of session `id` (its steps, in order) as a runbook
    /// named `name`, with the session's problem as the template.
    pub async fn save_plan_as_runbook(
        &self,
        actor: &Actor,
        id: Uuid,
        name: &str,
    ) -> Result<Runbook, RunbookError> {
        let session = self.get(id).await.map_err(RunbookError::Session)?;
        if session.steps.is_empty() {
            return Err(RunbookError::NoPlan);
        }
        if session.steps.len() > NewSession::MAX_STEPS {
            return Err(RunbookError::PlanTooLong {
                steps: session.steps.len(),
            });
        }
        let steps: Vec<String> = session.steps.into_iter().map(|s| s.text).collect();
        let draft = RunbookDraft::parse(Some(name), Some(&session.problem), &steps)
            .map_err(RunbookError::Invalid)?;
        self.create_runbook(actor, draft, Some(id)).await
    }

    pub async fn update_runbook(
        &self,
        actor: &Actor,
        id: Uuid,
        draft: RunbookDraft,
    ) -> Result<Runbook, RunbookError> {
        let current = self.editable_runbook(actor, id).await?;
        let runbook = Runbook {
            name: draft.name.into_inner(),
            problem: draft.problem.into_inner(),
            steps: draft.steps.into_iter().map(|s| s.into_inner()).collect(),
            updated_at: self.clock.now(),
            ..current
        };
        self.store.update_runbook(&runbook).await?;
        Ok(runbook)
    }

    /// Retires a runbook: it stays readable but is no longer offered.
    /// Retiring a retired runbook changes nothing.
    pub async fn retire_runbook(&self, actor: &Actor, id: Uuid) -> Result<Runbook, RunbookError> {
        let current = self.editable_runbook(actor, id).await?;
        if current.is_retired() {
            return Ok(current);
        }
        let now = self.clock.now();
        let runbook = Runbook {
            updated_at: now,
            retired_at: Some(now),
            ..current
        };
        self.store.update_runbook(&runbook).await?;
        Ok(runbook)
    }

    async fn editable_runbook(&self, actor: &Actor, id: Uuid) -> Result<Runbook, RunbookError> {
        // The creator never changes, so this check cannot go stale.
        let runbook = self.runbook(id).await?;
        if !runbook.may_edit(actor) {
            return Err(RunbookError::Forbidden {
                created_by: runbook.created_by,
            });
        }
        Ok(runbook)
    }
}
