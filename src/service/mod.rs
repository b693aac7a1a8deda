//! The lifecycle operations. The service decides what happens (which change,
//! which event, by whom, when); the store makes it durable.

mod accounts;
mod auto_close;
mod clock;
mod error;
mod live;
mod reports;
mod runbooks;
mod similar;
mod webhooks;

use std::sync::Arc;

use uuid::Uuid;

use crate::domain::{
    Actor, Event, EventKind, Finding, ListQuery, NewSession, NoteText, Outcome, OutcomeNotes, Page,
    Session, Status, Step, StepText, Surface, User,
};
use crate::metrics::Metrics;
use crate::store::{SessionStore, StoreError};
use crate::summary::{LocalSummarizer, Summarizer, SummaryInput};

pub use accounts::{
    AccountError, AccountPolicy, AccountService, AuthError, LoginSession, NewUser, Secret,
    SignedIn, TOKEN_PREFIX, UserChange,
};
pub use auto_close::{AutoClose, AutoCloseRun, SYSTEM_ACTOR};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Conflict, INTERNAL, ServiceError, UNAVAILABLE};
pub use live::{BACKLOG, Live, Replay, STREAM_BUFFER, SessionChange};
pub use runbooks::RunbookError;
pub use webhooks::{
    DELIVERIES_SHOWN, DeliveryWorker, RenderPayload, SECRET_PREFIX, SIGNATURE_PREFIX, WebhookError,
    WebhookService, WebhookSettings, sign,
};

#[derive(Clone)]
pub struct SessionService {
    store: Arc<dyn SessionStore>,
    clock: Arc<dyn Clock>,
    summarizer: Arc<dyn Summarizer>,
    /// Where closures are counted; none outside a server (seeding, tools).
    metrics: Option<Arc<Metrics>>,
    /// Where changes are announced to live streams; none outside a server.
    live: Option<Live>,
    /// Document frequencies for similar sessions (see `similar`).
    term_counts: Arc<similar::TermCounts>,
}

impl SessionService {
    pub fn new(store: Arc<dyn SessionStore>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            summarizer: Arc::new(LocalSummarizer),
            metrics: None,
            live: None,
            term_counts: Arc::default(),
        }
    }

    /// Every change is announced to `live`'s streams.
    pub fn with_live(self, live: Live) -> Self {
        Self {
            live: Some(live),
            ..self
        }
    }

    pub fn live(&self) -> Option<&Live> {
        self.live.as_ref()
    }

    /// Closures are counted in `metrics`.
    pub fn with_metrics(self, metrics: Arc<Metrics>) -> Self {
        Self {
            metrics: Some(metrics),
            ..self
        }
    }

    /// Summaries come from `summarizer` instead of the local default.
    pub fn with_summarizer(self, summarizer: Arc<dyn Summarizer>) -> Self {
        Self { summarizer, ..self }
    }

    pub fn store(&self) -> &Arc<dyn SessionStore> {
        &self.store
    }

    pub fn metrics(&self) -> Option<&Arc<Metrics>> {
        self.metrics.as_ref()
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// Replaces a prepared session's fields and plan.
    #[tracing::instrument(skip_all, fields(session = %id))]
    pub async fn edit(
        &self,
        actor: &Actor,
        via: Surface,
        id: Uuid,
        edited: NewSession,
    ) -> Result<Session, ServiceError> {
        let (title, problem) = (edited.title.into_inner(), edited.problem.into_inner());
        let (reference, customer) = (edited.reference.into_inner(), edited.customer.into_inner());
        let kind = EventKind::Edited {
            title,
            problem,
            reference,
            customer,
            steps: edited.steps.into_iter().map(StepText::into_inner).collect(),
        };
        self.apply(actor, via, id, kind).await
    }

    /// Deletes a prepared session: nothing was done in it yet, so nothing
    /// of its history is lost. A started session is a conflict.
    #[tracing::instrument(skip_all, fields(session = %id))]
    pub async fn delete(&self, actor: &Actor, id: Uuid) -> Result<(), ServiceError> {
        let session = self.get(id).await?;
        if !actor.may_write(&session.owner) {
            return Err(ServiceError::Forbidden {
                owner: session.owner,
            });
        }
        self.store.delete_prepared(id).await.map_err(|e| match e {
            StoreError::WrongStatus(current) => ServiceError::Conflict(Conflict {
                attempted: "deleted",
                required: Status::Prepared,
                current,
            }),
            other => other.into(),
        })?;
        tracing::info!(by = %actor.username, "prepared session deleted");
        Ok(())
    }

    /// Prepares a session owned by `actor`.
    #[tracing::instrument(skip_all, fields(owner = %actor.username))]
    pub async fn prepare(
        &self,
        actor: &Actor,
        via: Surface,
        new: NewSession,
    ) -> Result<Session, ServiceError> {
        let now = self.clock.now();
        let steps = Step::plan(new.steps.into_iter().map(StepText::into_inner));
        let session = Session {
            id: Uuid::now_v7(),
            title: new.title.into_inner(),
            problem: new.problem.into_inner(),
            reference: new.reference.into_inner(),
            customer: new.customer.into_inner(),
            owner: actor.username.clone(),
            created_at: now,
            updated_at: now,
            started_at: None,
            completed_at: None,
            completed_by: None,
            outcome: None,
            outcome_notes: None,
            summary: None,
            steps,
        };
        let event = self.event(session.id, actor, via, EventKind::Created);
        self.store
            .insert(&session, &event)
            .await
            .map_err(|e| match e {
                // Owners are accounts: the database refuses any other name.
                StoreError::UnknownOwner => ServiceError::UnknownOwner {
                    username: actor.username.clone(),
                },
                other => other.into(),
            })?;
        self.announce();
        Ok(session)
    }

    /// Gives a session, in any status, to another owner: for admins only,
    /// and never to a disabled account. The write happens only if the
    /// session still has the owner read here and `to` is still enabled, so
    /// two admins racing get one winner. Giving it to its owner changes
    /// nothing and records nothing.
    #[tracing::instrument(skip_all, fields(session = %id, to = %to.username))]
    pub async fn reassign(
        &self,
        actor: &Actor,
        via: Surface,
        id: Uuid,
        to: &User,
    ) -> Result<Session, ServiceError> {
        if !actor.is_admin() {
            return Err(ServiceError::NotAdmin);
        }
        let to_name = to.username.as_str();
        if to.is_disabled() {
            return Err(ServiceError::OwnerDisabled {
                username: to_name.to_owned(),
            });
        }
        let session = self.get(id).await?;
        if session.owner == to_name {
            return Ok(session);
        }
        let from = session.owner;
        let kind = EventKind::OwnerChanged {
            from: from.clone(),
            to: to_name.to_owned(),
        };
        let event = self.event(id, actor, via, kind);
        let session = self.store.apply(&event).await.map_err(|e| match e {
            StoreError::WrongStatus(now) if now.owner != from => {
                ServiceError::OwnerChanged { owner: now.owner }
            }
            // Still the same owner: `to` was disabled meanwhile.
            StoreError::WrongStatus(_) => ServiceError::OwnerDisabled {
                username: to_name.to_owned(),
            },
            other => other.into(),
        })?;
        tracing::info!(by = %actor.username, %from, "session reassigned");
        self.announce();
        Ok(session)
    }

    pub async fn start(
        &self,
        actor: &Actor,
        via: Surface,
        id: Uuid,
    ) -> Result<Session, ServiceError> {
        self.apply(actor, via, id, EventKind::Started).await
    }

    pub async fn complete(
        &self,
        actor: &Actor,
        via: Surface,
        id: Uuid,
        outcome: Outcome,
        notes: OutcomeNotes,
    ) -> Result<Session, ServiceError> {
        let kind = EventKind::Completed {
            outcome,
            outcome_notes: notes.into_inner(),
        };
        let session = self.apply(actor, via, id, kind).await?;
        if let Some(metrics) = &self.metrics {
            metrics.count_closure(outcome, via);
        }
        Ok(session)
    }

    pub async fn reopen(
        &self,
        actor: &Actor,
        via: Surface,
        id: Uuid,
    ) -> Result<Session, ServiceError> {
        self.apply(actor, via, id, EventKind::Reopened).await
    }

    /// Adds a note to an active session and returns it as its timeline event.
    pub async fn add_note(
        &self,
        actor: &Actor,
        via: Surface,
        id: Uuid,
        text: NoteText,
    ) -> Result<Event, ServiceError> {
        let event = self.event(
            id,
            actor,
            via,
            EventKind::NoteAdded {
                text: text.into_inner(),
            },
        );
        let session = self.write(actor, &event).await?;
        // The store may have moved the time later to keep the timeline in
        // commit order (see `store`); the note took effect when the session
        // was last updated.
        Ok(Event {
            at: session.updated_at,
            ..event
        })
    }

    pub async fn check_step(
        &self,
        actor: &Actor,
        via: Surface,
        id: Uuid,
        step_id: Uuid,
        finding: Finding,
    ) -> Result<Session, ServiceError> {
        let kind = EventKind::StepChecked {
            step_id,
            finding: finding.into_inner(),
        };
        self.apply(actor, via, id, kind).await
    }

    pub async fn uncheck_step(
        &self,
        actor: &Actor,
        via: Surface,
        id: Uuid,
        step_id: Uuid,
    ) -> Result<Session, ServiceError> {
        self.apply(actor, via, id, EventKind::StepUnchecked { step_id })
            .await
    }

    /// Appends a step to an active session's plan.
    pub async fn add_step(
        &self,
        actor: &Actor,
        via: Surface,
        id: Uuid,
        text: StepText,
    ) -> Result<Session, ServiceError> {
        let kind = EventKind::StepAdded {
            step_id: Uuid::now_v7(),
            text: text.into_inner(),
        };
        self.apply(actor, via, id, kind).await
    }

    /// Rewords a step of an active session; the timeline keeps both texts.
    pub async fn reword_step(
        &self,
        actor: &Actor,
        via: Surface,
        id: Uuid,
        step_id: Uuid,
        text: StepText,
    ) -> Result<Session, ServiceError> {
        // NOTE: the earlier text is read first; two rewordings racing may
        // both name the same earlier text, and the later one wins.
        let previous = self
            .get(id)
            .await?
            .steps
            .into_iter()
            .find(|s| s.id == step_id)
            .ok_or(ServiceError::StepNotFound)?
            .text;
        let kind = EventKind::StepReworded {
            step_id,
            previous,
            text: text.into_inner(),
        };
        self.apply(actor, via, id, kind).await
    }

    pub async fn skip_step(
        &self,
        actor: &Actor,
        via: Surface,
        id: Uuid,
        step_id: Uuid,
    ) -> Result<Session, ServiceError> {
        self.apply(actor, via, id, EventKind::StepSkipped { step_id })
            .await
    }

    /// Corrects a note of an active session, for its author only; the
    /// note's own event keeps the first text. Returns the correction's event.
    pub async fn correct_note(
        &self,
        actor: &Actor,
        via: Surface,
        id: Uuid,
        note_id: Uuid,
        text: NoteText,
    ) -> Result<Event, ServiceError> {
        // A note's author never changes, so reading it first decides nothing
        // a concurrent write could make stale.
        let note = self
            .events(id)
            .await?
            .into_iter()
            .find(|e| e.id == note_id && matches!(e.kind, EventKind::NoteAdded { .. }))
            .ok_or(ServiceError::NoteNotFound)?;
        if note.actor != actor.username {
            return Err(ServiceError::NotNoteAuthor { author: note.actor });
        }
        let kind = EventKind::NoteCorrected {
            note_id,
            text: text.into_inner(),
        };
        let event = self.event(id, actor, via, kind);
        let session = self.write(actor, &event).await?;
        Ok(Event {
            at: session.updated_at,
            ..event
        })
    }

    /// Generates (or regenerates) the summary of a completed session.
    #[tracing::instrument(skip_all, fields(session = %id))]
    pub async fn summarize(
        &self,
        actor: &Actor,
        via: Surface,
        id: Uuid,
    ) -> Result<Session, ServiceError> {
        let session = self.get(id).await?;
        if !actor.may_write(&session.owner) {
            return Err(ServiceError::Forbidden {
                owner: session.owner,
            });
        }
        // Checked first only to spare a needless summarizer call; the write
        // below is conditional all the same.
        let summarizing = EventKind::SummaryGenerated {
            summarizer: String::new(),
            summary: String::new(),
        };
        if let Some(required) = summarizing.required_status()
            && session.status() != required
        {
            return Err(ServiceError::Conflict(Conflict {
                attempted: summarizing.verb(),
                required,
                current: Box::new(session),
            }));
        }
        let events = self.store.events(id).await?;
        let input = SummaryInput {
            session: &session,
            events: &events,
        };
        let summary = self
            .summarizer
            .summarize(&input)
            .await
            .map_err(|e| ServiceError::Summary(e.to_string()))?;
        let kind = EventKind::SummaryGenerated {
            summarizer: self.summarizer.name(),
            summary,
        };
        self.apply(actor, via, id, kind).await
    }

    pub async fn get(&self, id: Uuid) -> Result<Session, ServiceError> {
        self.store.get(id).await?.ok_or(ServiceError::NotFound)
    }

    pub async fn list(&self, query: &ListQuery) -> Result<Page<Session>, ServiceError> {
        Ok(self.store.list(query).await?)
    }

    /// Fills in the steps of sessions listed without them.
    pub async fn load_steps(&self, sessions: &mut [Session]) -> Result<(), ServiceError> {
        Ok(self.store.load_steps(sessions).await?)
    }

    /// The timeline, oldest first. Every session has at least its `created`
    /// event, so an empty timeline means there is no such session.
    pub async fn events(&self, id: Uuid) -> Result<Vec<Event>, ServiceError> {
        let events = self.store.events(id).await?;
        if events.is_empty() {
            return Err(ServiceError::NotFound);
        }
        Ok(events)
    }

    async fn apply(
        &self,
        actor: &Actor,
        via: Surface,
        id: Uuid,
        kind: EventKind,
    ) -> Result<Session, ServiceError> {
        let event = self.event(id, actor, via, kind);
        self.write(actor, &event).await
    }

    /// Makes the change `event` records; a wrong status becomes a conflict
    /// that says what was attempted and how the session is now.
    async fn write(&self, actor: &Actor, event: &Event) -> Result<Session, ServiceError> {
        if !actor.is_admin() {
            // NOTE: read first; only an admin's reassignment changes an
            // owner, and a write racing one is judged by the owner before it.
            let owner = self.get(event.session_id).await?.owner;
            if !actor.may_write(&owner) {
                return Err(ServiceError::Forbidden { owner });
            }
        }
        let session =
            self.store
                .apply(event)
                .await
                .map_err(|e| match (e, event.kind.required_status()) {
                    (StoreError::WrongStatus(current), Some(required)) => {
                        ServiceError::Conflict(Conflict {
                            attempted: event.kind.verb(),
                            required,
                            current,
                        })
                    }
                    (other, _) => other.into(),
                })?;
        self.announce();
        Ok(session)
    }

    /// Every change passes here once committed; returns at once (see `live`).
    fn announce(&self) {
        if let Some(live) = &self.live {
            live.written();
        }
    }

    fn event(&self, session_id: Uuid, actor: &Actor, via: Surface, kind: EventKind) -> Event {
        Event {
            id: Uuid::now_v7(),
            session_id,
            at: self.clock.now(),
            actor: actor.username.clone(),
            via,
            kind,
        }
    }
}
