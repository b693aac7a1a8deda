//! How sessions look in a terminal: an aligned table for lists and a
//! labelled page for one session.

use std::fmt::Write;

use chrono::{DateTime, Utc};

use super::api::{EventView, SessionView};
use crate::domain::{EventKind, human_duration};

const TITLE_CHARS: usize = 40;

/// "5 min ago", with the domain's own wording for durations.
pub fn ago(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    format!("{} ago", human_duration(now - at))
}

fn when(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    format!("{} ({})", at.format("%Y-%m-%d %H:%M UTC"), ago(at, now))
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let kept: String = text.chars().take(max - 1).collect();
    format!("{kept}…")
}

/// Rows of cells, each column as wide as its widest cell; the last column
/// is not padded so lines carry no trailing spaces.
fn aligned(rows: &[Vec<String>]) -> String {
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == columns {
                line.push_str(cell);
            } else {
                let pad = widths[c] - cell.chars().count();
                let _ = write!(line, "{cell}{}  ", " ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

pub fn session_table(sessions: &[SessionView], now: DateTime<Utc>) -> String {
    let mut rows = vec![
        ["ID", "TITLE", "STATUS", "OUTCOME", "OWNER", "UPDATED"]
            .map(String::from)
            .to_vec(),
    ];
    for s in sessions {
        rows.push(vec![
            s.id.to_string(),
            shorten(&s.title, TITLE_CHARS),
            s.status.label().to_string(),
            s.outcome.map_or("-", |o| o.label()).to_string(),
            s.owner.clone(),
            ago(s.updated_at, now),
        ]);
    }
    aligned(&rows)
}

/// Every field of one session, its plan, and its timeline.
pub fn session_page(s: &SessionView, events: &[EventView], now: DateTime<Utc>) -> String {
    let mut fields: Vec<Vec<String>> = Vec::new();
    let mut field = |name: &str, value: String| fields.push(vec![format!("  {name}"), value]);
    field("id", s.id.to_string());
    field("status", s.status.label().to_string());
    if let Some(outcome) = s.outcome {
        field("outcome", outcome.label().to_string());
    }
    if let Some(notes) = &s.outcome_notes {
        field("notes", notes.clone());
    }
    field("owner", s.owner.clone());
    if let Some(customer) = &s.customer {
        field("customer", customer.clone());
    }
    if let Some(reference) = &s.reference {
        field("reference", reference.clone());
    }
    field("created", when(s.created_at, now));
    if let Some(at) = s.started_at {
        field("started", when(at, now));
    }
    if let Some(at) = s.completed_at {
        let by = s.completed_by.as_deref().unwrap_or("?");
        field("completed", format!("{} by {by}", when(at, now)));
    }
    field("updated", when(s.updated_at, now));

    let mut out = format!("{}\n{}", s.title, aligned(&fields));
    if !s.problem.trim().is_empty() {
        let _ = write!(out, "\nProblem\n{}\n", indented(&s.problem));
    }
    if !s.steps.is_empty() {
        out.push_str("\nPlan\n");
        for step in &s.steps {
            let mark = if step.checked_at.is_some() { "x" } else { " " };
            let _ = write!(out, "  {}. [{mark}] {}", step.position, step.text);
            if let Some(finding) = &step.finding {
                let _ = write!(out, " — {finding}");
            }
            out.push('\n');
        }
    }
    if let Some(summary) = &s.summary {
        let _ = write!(out, "\nSummary\n{}\n", indented(summary));
    }
    if !events.is_empty() {
        out.push_str("\nTimeline\n");
        let rows: Vec<Vec<String>> = events
            .iter()
            .map(|e| {
                vec![
                    format!("  {}", e.at.format("%Y-%m-%d %H:%M:%S UTC")),
                    e.actor.clone(),
                    e.via.as_str().to_string(),
                    describe(&e.kind),
                ]
            })
            .collect();
        out.push_str(&aligned(&rows));
    }
    out
}

fn indented(text: &str) -> String {
    text.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn describe(kind: &EventKind) -> String {
    let one_line = |text: &str| shorten(&text.replace('\n', " "), 80);
    match kind {
        EventKind::Created => "created".into(),
        EventKind::Started => "started".into(),
        EventKind::NoteAdded { text } => format!("note: {}", one_line(text)),
        EventKind::StepChecked { finding, .. } => match finding {
            Some(f) => format!("checked a step: {}", one_line(f)),
            None => "checked a step".into(),
        },
        EventKind::StepUnchecked { .. } => "unchecked a step".into(),
        EventKind::Completed {
            outcome,
            outcome_notes,
        } => match outcome_notes {
            Some(n) => format!("closed as {}: {}", outcome.label(), one_line(n)),
            None => format!("closed as {}", outcome.label()),
        },
        EventKind::Reopened => "reopened".into(),
        EventKind::StepAdded { text, .. } => format!("added a step: {}", one_line(text)),
        EventKind::StepReworded { text, .. } => format!("reworded a step: {}", one_line(text)),
        EventKind::StepSkipped { .. } => "skipped a step".into(),
        EventKind::NoteCorrected { text, .. } => format!("corrected a note: {}", one_line(text)),
        EventKind::Edited { title, steps, .. } => {
            format!("edited: {} ({} steps)", one_line(title), steps.len())
        }
        EventKind::SummaryGenerated { summarizer, .. } => {
            format!("summary generated ({summarizer})")
        }
        EventKind::OwnerChanged { from, to } => format!("gave it to {to} (from {from})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_on_the_widest_cell_without_trailing_spaces() {
        let rows = vec![
            vec!["A".to_string(), "BB".to_string(), "C".to_string()],
            vec!["long é".to_string(), "x".to_string(), String::new()],
        ];
        assert_eq!(aligned(&rows), "A       BB  C\nlong é  x\n");
    }

    #[test]
    fn long_titles_are_shortened_with_an_ellipsis() {
        assert_eq!(shorten("abcdef", 4), "abc…");
        assert_eq!(shorten("abcd", 4), "abcd");
    }
}
