//! What the templates show: sessions turned into display text (times,
//! durations, snippets) so templates only lay things out.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Utc};
use uuid::Uuid;

use crate::domain::{Actor, Outcome, Session, Snippet, Status, User, human_duration};
use crate::http::time_text::{self, ShortText};

/// How pages name people: by display name, with the username in a tooltip.
/// Built from one read of the accounts for the whole page, never one per
/// card or per line.
#[derive(Default)]
pub struct Names(HashMap<String, String>);

impl Names {
    pub fn of(users: &[User]) -> Self {
        Names(
            users
                .iter()
                .map(|u| {
                    let name = u.display_name.as_str().to_string();
                    (u.username.as_str().to_string(), name)
                })
                .collect(),
        )
    }

    /// `username` as pages show it; a name without an account (Casebook's
    /// own `system`) as it is.
    pub fn person(&self, username: &str) -> Person {
        Person {
            name: self
                .0
                .get(username)
                .cloned()
                .unwrap_or_else(|| username.to_string()),
            username: username.to_string(),
        }
    }
}

/// Someone as a page shows them: `name`, with `username` as its `title`.
pub struct Person {
    pub username: String,
    pub name: String,
}

/// A session's id as pages write it, hyphenated: written once per card
/// rather than at each of the card's ten links and forms, and never escaped
/// (hex digits and hyphens).
#[derive(Clone, Copy)]
pub struct IdText([u8; uuid::fmt::Hyphenated::LENGTH]);

impl From<Uuid> for IdText {
    fn from(id: Uuid) -> Self {
        let mut text = [0; uuid::fmt::Hyphenated::LENGTH];
        id.hyphenated().encode_lower(&mut text);
        IdText(text)
    }
}

impl std::fmt::Display for IdText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Written by `encode_lower`: ASCII.
        f.write_str(std::str::from_utf8(&self.0).map_err(|_| std::fmt::Error)?)
    }
}

impl askama::filters::HtmlSafe for IdText {}

/// Text escaped for HTML once, for a value every card repeats (the form's
/// token, the filters to come back to).
pub struct Escaped(String);

impl Escaped {
    pub fn new(text: &str) -> Self {
        Escaped(
            askama::filters::escape(text, askama::filters::Html)
                .map_or_else(|never| match never {}, |escaped| escaped.to_string()),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Display for Escaped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl askama::filters::HtmlSafe for Escaped {}

/// A moment shown as relative text, with the exact time in a tooltip and in
/// a machine-readable attribute.
pub struct Stamp {
    pub iso: ShortText,
    pub absolute: ShortText,
    pub relative: ShortText,
}

impl Stamp {
    pub fn new(at: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        // The same text as chrono's `to_rfc3339_opts(Secs, true)` and
        // `format("%Y-%m-%d %H:%M UTC")`; chrono words the years it alone
        // can.
        if !time_text::is_plain(&at) {
            return Stamp {
                iso: at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    .as_str()
                    .into(),
                absolute: at.format("%Y-%m-%d %H:%M UTC").to_string().as_str().into(),
                relative: relative(at, now),
            };
        }
        let mut absolute = time_text::date_and_minute(&at, " ");
        absolute.push_str(" UTC");
        Stamp {
            iso: time_text::rfc3339(&at, false),
            absolute,
            relative: relative(at, now),
        }
    }
}

/// One session card.
pub struct CardView {
    pub id: IdText,
    /// Whether the viewer may start, close or resume it.
    pub can_write: bool,
    /// Whether the viewer owns it; otherwise actions name the owner.
    pub owned_by_viewer: bool,
    pub title: String,
    pub reference: Option<String>,
    pub customer: Option<String>,
    pub owner: Person,
    pub status: Status,
    pub created: Stamp,
    pub started: Option<Stamp>,
    pub completed: Option<Stamp>,
    pub duration: Option<String>,
    pub outcome: Option<Outcome>,
    pub notes: Option<String>,
    /// Where a search's words were found, on a search's cards.
    pub found: Option<Snippet>,
    /// What the toast says when this session has just been closed (set on a
    /// completed card): the no-script toast and the script's alike.
    pub closed_text: Option<String>,
}

impl CardView {
    const SNIPPET_CHARS: usize = 140;

    /// The card as `viewer` sees it: actions only where they may act.
    pub fn new(s: &Session, now: DateTime<Utc>, viewer: &Actor, names: &Names) -> Self {
        let mut card = CardView {
            can_write: viewer.may_write(&s.owner),
            owned_by_viewer: viewer.username == s.owner,
            id: s.id.into(),
            title: s.title.clone(),
            reference: s.reference.clone(),
            customer: s.customer.clone(),
            owner: names.person(&s.owner),
            status: s.status(),
            created: Stamp::new(s.created_at, now),
            started: s.started_at.map(|t| Stamp::new(t, now)),
            completed: s.completed_at.map(|t| Stamp::new(t, now)),
            duration: s.duration(now).map(human_duration),
            outcome: s.outcome,
            notes: s
                .outcome_notes
                .as_deref()
                .map(|n| snippet(n, Self::SNIPPET_CHARS)),
            found: None,
            closed_text: None,
        };
        card.closed_text = card.outcome.map(|outcome| card.closed_as(outcome));
        card
    }

    /// "Session closed as Escalated: “Disk full on db01”", and whose it was
    /// when not the viewer's.
    fn closed_as(&self, outcome: Outcome) -> String {
        let whose = if self.owned_by_viewer {
            String::new()
        } else {
            format!(" ({}’s session)", self.owner.name)
        };
        format!(
            "Session closed as {}: “{}”{whose}",
            outcome.label(),
            self.title
        )
    }

    pub fn is_prepared(&self) -> bool {
        self.status == Status::Prepared
    }

    pub fn is_active(&self) -> bool {
        self.status == Status::Active
    }
}

/// "just now", "5 minutes ago", "3 days ago"; a date once it is weeks old.
pub fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> ShortText {
    let seconds = (now - at).num_seconds();
    let ago = |n: i64, unit: &str| {
        let mut text = ShortText::new();
        text.number(n.unsigned_abs()).push_str(" ").push_str(unit);
        if n != 1 {
            text.push_str("s");
        }
        text.push_str(" ago");
        text
    };
    match seconds {
        ..45 => "just now".into(),
        45..3_570 => ago(((seconds + 30) / 60).max(1), "minute"),
        3_570..84_600 => ago((seconds + 1_800) / 3_600, "hour"),
        84_600..172_800 => "yesterday".into(),
        172_800..1_209_600 => ago(seconds / 86_400, "day"),
        _ => calendar_date(at),
    }
}

/// `at.format("%b %-d, %Y")`, without parsing the format every time.
fn calendar_date(at: DateTime<Utc>) -> ShortText {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    if !time_text::is_plain(&at) {
        return at.format("%b %-d, %Y").to_string().as_str().into();
    }
    let at = at.naive_utc();
    let mut text = ShortText::new();
    text.push_str(MONTHS[at.month0() as usize])
        .push_str(" ")
        .number(at.day().into())
        .push_str(", ")
        .padded(at.year() as u32, 4);
    text
}

/// The start of a text on one line, cut at a word where possible.
pub fn snippet(text: &str, max_chars: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max_chars {
        return flat;
    }
    let cut: String = flat.chars().take(max_chars).collect();
    let cut = match cut.rfind(' ') {
        Some(i) if i > max_chars / 2 => &cut[..i],
        _ => &cut,
    };
    format!("{}…", cut.trim_end_matches([',', '.', ';', ':']))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ago(seconds: i64) -> String {
        let now = Utc::now();
        relative(now - chrono::Duration::seconds(seconds), now).to_string()
    }

    #[test]
    fn relative_times_read_naturally() {
        assert_eq!(ago(5), "just now");
        assert_eq!(ago(60), "1 minute ago");
        assert_eq!(ago(125), "2 minutes ago");
        assert_eq!(ago(2 * 3_600), "2 hours ago");
        assert_eq!(ago(30 * 3_600), "yesterday");
        assert_eq!(ago(40 * 3_600), "yesterday");
        assert_eq!(ago(48 * 3_600), "2 days ago");
        assert_eq!(ago(5 * 86_400), "5 days ago");
    }

    #[test]
    fn stamps_read_as_chrono_formats_them() {
        let now = Utc::now();
        for micros in [
            0,
            1_700_000_000_123_456,
            951_782_400_000_000,     // 2000-02-29
            -62_135_596_800_000_000, // year 1
            253_402_300_799_000_000, // 9999-12-31 23:59:59
            253_402_300_800_000_000, // year 10000
            -62_198_755_200_000_000, // year -1
        ] {
            let at = DateTime::from_timestamp_micros(micros).unwrap();
            let stamp = Stamp::new(at, now);
            assert_eq!(
                stamp.iso.as_str(),
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            );
            assert_eq!(
                stamp.absolute.as_str(),
                at.format("%Y-%m-%d %H:%M UTC").to_string()
            );
            assert_eq!(
                calendar_date(at).as_str(),
                at.format("%b %-d, %Y").to_string()
            );
        }
    }

    #[test]
    fn snippets_are_one_line_and_cut_at_a_word() {
        assert_eq!(snippet("a\n  b", 10), "a b");
        assert_eq!(snippet("alpha beta gamma delta", 14), "alpha beta…");
    }
}
