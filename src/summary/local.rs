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

/// A text on one line (a list item of the summary), whole.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn with_period(text: &str) -> String {
    let text = one_line(text);
    if text.ends_with(['.', '!', '?', '…']) {
        text
    } else {
        format!("{text}.")
    }
}

/// The problem's first sentence for the headline, marked with an ellipsis
/// when the problem goes on: the summary never drops text silently.
fn headline_problem(problem: &str) -> String {
    let first = first_sentence(problem);
    let rest = problem.trim()[first.len()..].trim();
    if rest.is_empty() {
        with_period(first)
    } else {
        format!("{} …", with_period(first))
    }
}

/// Whether the title already names the customer, whole or by its first word
/// ("Checkout slow for Northwind" names "Northwind Traders").
fn title_names(title: &str, customer: &str) -> bool {
    let words = |text: &str| -> Vec<String> {
        text.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    };
    let title = words(title);
    let customer = words(customer);
    let Some(first) = customer.first() else {
        return true;
    };
    title
        .windows(customer.len())
        .any(|w| w == customer.as_slice())
        || title.contains(first)
}

fn write_summary(input: &SummaryInput<'_>) -> String {
    let session = input.session;
    let mut out = String::new();

    let customer = session
        .customer
        .as_deref()
        .filter(|c| !title_names(&session.title, c));
    let subject = match (customer, &session.reference) {
        (Some(c), Some(r)) => format!(" for {c} ({r})"),
        (Some(c), None) => format!(" for {c}"),
        (None, Some(r)) => format!(" ({r})"),
        (None, None) => String::new(),
    };
    if session.problem.trim().is_empty() {
        let _ = writeln!(out, "{}{subject}.", session.title);
    } else {
        let problem = headline_problem(&session.problem);
        let _ = writeln!(out, "{}{subject}: {problem}", session.title);
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
                    let _ = writeln!(out, "- {}: {}", one_line(&step.text), with_period(finding));
                }
                None => {
                    let _ = writeln!(out, "- {}", with_period(&step.text));
                }
            }
        }
    }

    let notes: Vec<&str> = input.notes().collect();
    if !notes.is_empty() {
        let _ = writeln!(out, "\nNotes:");
        for note in notes {
            let _ = writeln!(out, "- {}", with_period(note));
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
            skipped_at: None,
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
            "VPN drops every hour for ACME (INC-4711): Users lose the tunnel at :00. …\n\
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

    fn note(session: &Session, text: &str) -> Event {
        Event {
            id: Uuid::now_v7(),
            session_id: session.id,
            at: session.created_at,
            actor: "dana".into(),
            via: Surface::Workspace,
            kind: EventKind::NoteAdded { text: text.into() },
        }
    }

    #[tokio::test]
    async fn notes_and_findings_of_several_sentences_are_kept_whole() {
        let (mut session, _) = session();
        session.steps[0].finding =
            Some("Pool at 20 of 20. Waits of 2.3 s at p95.\nGateway logs agree.".into());
        let events = vec![
            note(
                &session,
                "Raised pool to 60 as a stopgap; p95 back to 420 ms. Proper fix needs release 2.14.1.",
            ),
            note(
                &session,
                "Vendor confirmed the bug!\n\nTicket VND-88 is open",
            ),
        ];
        let input = SummaryInput {
            session: &session,
            events: &events,
        };
        let summary = LocalSummarizer.summarize(&input).await.unwrap();
        assert!(
            summary.contains(
                "- Raised pool to 60 as a stopgap; p95 back to 420 ms. Proper fix needs release 2.14.1.\n"
            ),
            "{summary}"
        );
        assert!(
            summary.contains("- Vendor confirmed the bug! Ticket VND-88 is open.\n"),
            "{summary}"
        );
        assert!(
            summary.contains(
                "- Check tunnel logs: Pool at 20 of 20. Waits of 2.3 s at p95. Gateway logs agree.\n"
            ),
            "{summary}"
        );
    }

    #[tokio::test]
    async fn a_shortened_problem_is_marked_and_a_title_naming_the_customer_is_not_repeated() {
        let (mut session, events) = session();
        session.title = "Checkout times out for Northwind".into();
        session.customer = Some("Northwind Traders".into());
        session.reference = None;
        session.problem = "Checkout fails at peak. Started after 2.14.".into();
        let input = SummaryInput {
            session: &session,
            events: &events,
        };
        let summary = LocalSummarizer.summarize(&input).await.unwrap();
        let headline = summary.lines().next().unwrap();
        assert_eq!(
            headline,
            "Checkout times out for Northwind: Checkout fails at peak. …"
        );

        session.problem = "One sentence only".into();
        session.title = "Checkout times out".into();
        let input = SummaryInput {
            session: &session,
            events: &events,
        };
        let summary = LocalSummarizer.summarize(&input).await.unwrap();
        assert_eq!(
            summary.lines().next().unwrap(),
            "Checkout times out for Northwind Traders: One sentence only."
        );
    }

    #[test]
    fn a_title_names_a_customer_by_its_whole_name_or_its_first_word() {
        assert!(title_names("Slow pages for ACME Corp", "ACME Corp"));
        assert!(title_names("Northwind checkout", "Northwind Traders"));
        assert!(!title_names("Checkout slow", "Northwind Traders"));
        assert!(!title_names("Northwinds are strong", "Northwind Traders"));
    }
}
