use std::fmt::Write;

use async_trait::async_trait;

use super::{Summarizer, SummaryError, SummaryInput};
use crate::domain::human_duration;

/// Writes a summary from the session's own data, with no outside service.
/// The same session always gives the same text.
pub struct LocalSummarizer;

#[async_trait]
impl Summarizer for LocalSummarizer {
    fn name(&self) -> String {
        "local".into()
    }

    async fn summarize(&self, input: &SummaryInput<'_>) -> Result<String, SummaryError> {
        Ok(write_summary(input))
    }
}

/// The first sentence of a text: up to a `.`, `!` or `?` that ends a word
/// (so "firmware 9.1" stays whole), or the first line break.
fn first_sentence(text: &str) -> &str {
    let text = text.trim();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let next_is_space = chars.peek().is_none_or(|(_, n)| n.is_whitespace());
        if c == '\n' {
            return text[..i].trim_end();
        }
        if matches!(c, '.' | '!' | '?') && next_is_space {
            return &text[..i + c.len_utf8()];
        }
    }
    text
}

fn with_period(text: &str) -> String {
    let text = text.trim();
    if text.ends_with(['.', '!', '?']) {
        text.to_string()
    } else {
        format!("{text}.")
    }
}

fn write_summary(input: &SummaryInput<'_>) -> String {
    let session = input.session;
    let mut out = String::new();

    let subject = match (&session.customer, &session.reference) {
        (Some(c), Some(r)) => format!(" for {c} ({r})"),
        (Some(c), None) => format!(" for {c}"),
        (None, Some(r)) => format!(" ({r})"),
        (None, None) => String::new(),
    };
    let problem = first_sentence(&session.problem);
    if problem.is_empty() {
        let _ = writeln!(out, "{}{subject}.", session.title);
    } else {
        let _ = writeln!(out, "{}{subject}: {}", session.title, with_period(problem));
    }

    let checked: Vec<_> = session
        .steps
        .iter()
        .filter(|s| s.checked_at.is_some())
        .collect();
    if !session.steps.is_empty() {
        let _ = writeln!(
            out,
            "\nChecked {} of {} planned steps:",
            checked.len(),
            session.steps.len()
        );
        for step in &checked {
            match &step.finding {
                Some(finding) => {
                    let _ = writeln!(out, "- {}: {}", step.text, with_period(finding));
                }
                None => {
                    let _ = writeln!(out, "- {}.", step.text.trim_end_matches('.'));
                }
            }
        }
    }

    let notes: Vec<&str> = input.notes().collect();
    if !notes.is_empty() {
        let _ = writeln!(out, "\nNotes:");
        for note in notes {
            let _ = writeln!(out, "- {}", with_period(first_sentence(note)));
        }
    }

    if let Some(outcome) = session.outcome {
        let _ = write!(out, "\nOutcome: {}", outcome.label());
        if let Some(duration) = session
            .started_at
            .zip(session.completed_at)
            .map(|(s, c)| c - s)
        {
            let _ = write!(out, " after {}", human_duration(duration));
        }
        match &session.outcome_notes {
            Some(notes) => {
                let _ = writeln!(out, ". {}", with_period(notes));
            }
            None => {
                let _ = writeln!(out, ".");
            }
        }
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Event, EventKind, Outcome, Session, Step, Surface};
    use chrono::{DateTime, Duration};
    use uuid::Uuid;

    fn session() -> (Session, Vec<Event>) {
        let start = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let step = |position, text: &str, finding: Option<&str>, checked: bool| Step {
            id: Uuid::now_v7(),
            position,
            text: text.into(),
            checked_at: checked.then_some(start),
            finding: finding.map(Into::into),
        };
        let session = Session {
            id: Uuid::now_v7(),
            title: "VPN drops every hour".into(),
            problem: "Users lose the tunnel at :00. It started Monday.".into(),
            reference: Some("INC-4711".into()),
            customer: Some("ACME".into()),
            owner: "dana".into(),
            created_at: start,
            updated_at: start,
            started_at: Some(start),
            completed_at: Some(start + Duration::minutes(72)),
            completed_by: Some("dana".into()),
            outcome: Some(Outcome::Workaround),
            outcome_notes: Some("Raised the rekey timer".into()),
            summary: None,
            steps: vec![
                step(1, "Check tunnel logs", Some("rekey failures at :00"), true),
                step(2, "Compare timers", Some("3600 s vs 28800 s"), true),
                step(3, "Call the vendor", None, false),
            ],
        };
        let note = Event {
            id: Uuid::now_v7(),
            session_id: session.id,
            at: start,
            actor: "dana".into(),
            via: Surface::Workspace,
            kind: EventKind::NoteAdded {
                text: "Peer runs firmware 9.1".into(),
            },
        };
        (session, vec![note])
    }

    #[test]
    fn first_sentences_end_at_a_sentence_mark_or_a_line() {
        assert_eq!(first_sentence("Runs 9.1 now. Then more."), "Runs 9.1 now.");
        assert_eq!(first_sentence("One line\nsecond"), "One line");
        assert_eq!(first_sentence("No end"), "No end");
        assert_eq!(first_sentence("Why? Because."), "Why?");
    }

    #[tokio::test]
    async fn the_local_summary_tells_the_problem_findings_notes_outcome_and_duration() {
        let (session, events) = session();
        let input = SummaryInput {
            session: &session,
            events: &events,
        };
        let summary = LocalSummarizer.summarize(&input).await.unwrap();
        assert_eq!(
            summary,
            "VPN drops every hour for ACME (INC-4711): Users lose the tunnel at :00.\n\
             \n\
             Checked 2 of 3 planned steps:\n\
             - Check tunnel logs: rekey failures at :00.\n\
             - Compare timers: 3600 s vs 28800 s.\n\
             \n\
             Notes:\n\
             - Peer runs firmware 9.1.\n\
             \n\
             Outcome: Workaround after 1 h 12 min. Raised the rekey timer."
        );
        assert_eq!(
            LocalSummarizer.summarize(&input).await.unwrap(),
            summary,
            "deterministic"
        );
    }
}
