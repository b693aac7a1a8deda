//! Each action's conditional write, derived from the event it records (see
//! `domain::action`) and written once for both engines as statements of
//! the engine seam (see `store::engine`).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::engine::{Statement, Value};
use super::{DatabaseError, StoreError, sessions, status_condition};
use crate::domain::{Event, EventKind, Requirement, Step};

/// A value of a write's statements.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Arg<'a> {
    /// The change's effective time: what the session update returned.
    At,
    Id(Uuid),
    Text(Option<&'a str>),
}

impl<'a> Arg<'a> {
    fn value(self, at: DateTime<Utc>) -> Value<'a> {
        match self {
            Arg::At => Value::Time(Some(at)),
            Arg::Id(id) => Value::Id(Some(id)),
            Arg::Text(text) => Value::Text(text),
        }
    }
}

/// An action's writes, run in this order in one transaction.
#[derive(Debug)]
pub(super) struct Write<'a> {
    /// The session row's `set` clause: `?1` is the requested time (see
    /// [`Write::session_update`]), `?2` the session id, then `session_args`.
    set: &'static str,
    /// What the session must be for the write to happen.
    guard: &'static str,
    /// Bound from `?3` on.
    session_args: Vec<Arg<'a>>,
    /// A statement on one step of the session (see [`Write::step`]).
    step: Option<(&'static str, Vec<Arg<'a>>)>,
    event: &'a Event,
    /// A new plan that replaces the steps (an edit).
    pub plan: Option<Vec<Step>>,
}

impl<'a> Write<'a> {
    pub fn of(event: &'a Event) -> Result<Write<'a>, StoreError> {
        let text = |value: &'a str| Arg::Text(Some(value));
        let session = Arg::Id(event.session_id);
        let guard = match event.kind.requirement() {
            Requirement::Status(status) => status_condition(status),
            Requirement::Owner => {
                "owner = ?4 and exists (select 1 from users \
                 where username = ?3 and disabled_at is null)"
            }
            Requirement::NoSession => {
                return Err(StoreError::Database(DatabaseError::NotAChange(
                    event.kind.name(),
                )));
            }
        };
        let mut write = Write {
            set: "updated_at = ?1",
            guard,
            session_args: Vec::new(),
            step: None,
            plan: None,
            event,
        };
        match &event.kind {
            EventKind::Created => unreachable!("refused above"),
            EventKind::Started => write.set = "started_at = ?1, updated_at = ?1",
            EventKind::Completed {
                outcome,
                outcome_notes,
            } => {
                write.set = "completed_at = ?1, updated_at = ?1, outcome = ?3, \
                             outcome_notes = ?4, completed_by = ?5";
                write.session_args = vec![
                    text(outcome.as_str()),
                    Arg::Text(outcome_notes.as_deref()),
                    text(&event.actor),
                ];
            }
            EventKind::Reopened => {
                write.set = "completed_at = null, outcome = null, outcome_notes = null, \
                             completed_by = null, summary = null, updated_at = ?1"
            }
            EventKind::SummaryGenerated { summary, .. } => {
                write.set = "summary = ?3, updated_at = ?1";
                write.session_args = vec![text(summary)];
            }
            EventKind::OwnerChanged { from, to } => {
                write.set = "owner = ?3, updated_at = ?1";
                write.session_args = vec![text(to), text(from)];
            }
            EventKind::Edited {
                title,
                problem,
                reference,
                customer,
                steps,
            } => {
                write.set = "title = ?3, problem = ?4, reference = ?5, customer = ?6, \
                             updated_at = ?1";
                write.session_args = vec![
                    text(title),
                    text(problem),
                    Arg::Text(reference.as_deref()),
                    Arg::Text(customer.as_deref()),
                ];
                write.plan = Some(Step::plan(steps.iter().cloned()));
            }
            // A note and its correction live in their events.
            EventKind::NoteAdded { .. } | EventKind::NoteCorrected { .. } => {}
            EventKind::StepChecked { step_id, finding } => {
                write.step = Some((
                    "update session_steps set checked_at = ?1, finding = ?2, skipped_at = null \
                     where id = ?3 and session_id = ?4",
                    vec![
                        Arg::At,
                        Arg::Text(finding.as_deref()),
                        Arg::Id(*step_id),
                        session,
                    ],
                ));
            }
            EventKind::StepUnchecked { step_id } => {
                write.step = Some((
                    "update session_steps set checked_at = null, finding = null, \
                     skipped_at = null where id = ?1 and session_id = ?2",
                    vec![Arg::Id(*step_id), session],
                ));
            }
            EventKind::StepAdded {
                step_id,
                text: step,
            } => {
                write.step = Some((
                    "insert into session_steps (id, session_id, position, text) \
                     select ?1, ?2, coalesce(max(position), 0) + 1, ?3 \
                     from session_steps where session_id = ?2",
                    vec![Arg::Id(*step_id), session, text(step)],
                ));
            }
            EventKind::StepReworded {
                step_id, text: to, ..
            } => {
                write.step = Some((
                    "update session_steps set text = ?1 where id = ?2 and session_id = ?3",
                    vec![text(to), Arg::Id(*step_id), session],
                ));
            }
            EventKind::StepSkipped { step_id } => {
                write.step = Some((
                    "update session_steps set skipped_at = ?1, checked_at = null, \
                     finding = null where id = ?2 and session_id = ?3",
                    vec![Arg::At, Arg::Id(*step_id), session],
                ));
            }
        }
        Ok(write)
    }

    /// The session row's conditional update, returning the row as it now is
    /// (read by [`sessions::session`], without its steps).
    /// `after_previous` is the engine's "`?1`, but after the previous
    /// change" (see the module docs of `store`).
    pub fn session_update(&self, after_previous: &str) -> Statement<'a> {
        self.session_update_if(after_previous, "true")
    }

    /// [`Write::session_update`], made only if `condition` holds too; its
    /// placeholders are numbered after the update's own (see
    /// [`Write::next_placeholder`]) and bound by the caller.
    pub fn session_update_if(&self, after_previous: &str, condition: &str) -> Statement<'a> {
        let sql = format!(
            "update sessions set {} where id = ?2 and {} and {condition} returning {}",
            self.set.replace("?1", after_previous),
            self.guard,
            sessions::session_returning()
        );
        let requested = self.event.at;
        let fixed = [
            Value::Time(Some(requested)),
            Value::Id(Some(self.event.session_id)),
        ];
        let args = self.session_args.iter().map(|arg| arg.value(requested));
        Statement {
            sql: sql.into(),
            args: fixed.into_iter().chain(args).collect(),
            plan_each_time: false,
        }
    }

    /// The number of the first placeholder after the session update's own.
    pub fn next_placeholder(&self) -> usize {
        self.session_args.len() + 3
    }

    /// Whether the write changes the session's steps (a step's statement,
    /// or a new plan), so that they can be read only after it.
    pub fn touches_steps(&self) -> bool {
        self.step.is_some() || self.plan.is_some()
    }

    /// The statement on one step of the session, with the change's
    /// effective time `at`; it must change a row, or the step is not the
    /// session's.
    pub fn step(&self, at: DateTime<Utc>) -> Option<Statement<'a>> {
        self.step.as_ref().map(|(sql, args)| Statement {
            sql: (*sql).into(),
            args: args.iter().map(|arg| arg.value(at)).collect(),
            plan_each_time: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Surface, every_kind};

    fn event(kind: EventKind) -> Event {
        Event {
            id: Uuid::now_v7(),
            session_id: Uuid::now_v7(),
            at: Utc::now(),
            actor: "dana".into(),
            via: Surface::Api,
            kind,
        }
    }

    /// Every placeholder a statement names is bound, and nothing more.
    fn placeholders(sql: &str) -> usize {
        (1..=9).filter(|n| sql.contains(&format!("?{n}"))).count()
    }

    #[test]
    fn every_write_binds_exactly_the_placeholders_it_names() {
        let kinds = every_kind();
        for kind in kinds {
            if kind == EventKind::Created {
                continue;
            }
            let event = event(kind);
            let write = Write::of(&event).unwrap();
            let update = write.session_update("?1");
            assert_eq!(placeholders(&update.sql), update.args.len(), "{update:?}");
            if let Some(step) = write.step(Utc::now()) {
                assert_eq!(placeholders(&step.sql), step.args.len(), "{step:?}");
            }
        }
    }

    #[test]
    fn an_edit_replaces_the_plan_with_its_texts_in_order() {
        let event = event(EventKind::Edited {
            title: "t".into(),
            problem: "p".into(),
            reference: None,
            customer: None,
            steps: vec!["one".into(), "two".into()],
        });
        let plan = Write::of(&event).unwrap().plan.unwrap();
        let texts: Vec<_> = plan.iter().map(|s| (s.position, s.text.as_str())).collect();
        assert_eq!(texts, [(1, "one"), (2, "two")]);
    }

    #[test]
    fn creation_is_not_a_change() {
        assert!(Write::of(&event(EventKind::Created)).is_err());
    }
}
