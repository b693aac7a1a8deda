//! Similar past sessions: which words of a session (or of a text being
//! typed) to look for, and how to read the matches the store marks.

use uuid::Uuid;

use super::{Session, ValidationErrors};

/// The distinct words a similarity search starts from, in the order they
/// appear (title first). Stop words are left out here; words that most
/// sessions contain are left out later, by their document frequency (see
/// [`choose_terms`]). Only letters and digits count, so the words are safe
/// to hand to any full-text engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimilarityWords(Vec<String>);

impl SimilarityWords {
    /// Enough to describe a problem; more only costs document-frequency look-ups.
    pub const MAX_WORDS: usize = 32;
    const MAX_WORD_CHARS: usize = 64;

    /// The words of a session's title, problem, reference, customer and plan.
    pub fn of_session(session: &Session) -> SimilarityWords {
        let mut parts: Vec<&str> = vec![&session.title, &session.problem];
        parts.extend(session.reference.as_deref());
        parts.extend(session.customer.as_deref());
        parts.extend(session.steps.iter().map(|s| s.text.as_str()));
        Self::of_parts(&parts)
    }

    /// The words of a text, such as a problem being typed.
    pub fn of_text(text: &str) -> SimilarityWords {
        Self::of_parts(&[text])
    }

    fn of_parts(parts: &[&str]) -> SimilarityWords {
        let mut words: Vec<String> = Vec::new();
        let all = parts
            .iter()
            .flat_map(|p| p.split(|c: char| !c.is_alphanumeric()));
        for raw in all {
            if words.len() == Self::MAX_WORDS {
                break;
            }
            let word: String = raw
                .chars()
                .take(Self::MAX_WORD_CHARS)
                .flat_map(char::to_lowercase)
                .filter(|c| c.is_alphanumeric())
                .collect();
            if word.chars().count() < 2 || is_stop_word(&word) || words.contains(&word) {
                continue;
            }
            words.push(word);
        }
        SimilarityWords(words)
    }

    pub fn words(&self) -> &[String] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// English function words: every session has them, so looking up how many
/// do would be wasted work.
fn is_stop_word(word: &str) -> bool {
    const STOP_WORDS: &[&str] = &[
        "a", "about", "after", "again", "all", "also", "am", "an", "and", "any", "are", "as", "at",
        "be", "been", "before", "being", "but", "by", "can", "could", "did", "do", "does", "for",
        "from", "had", "has", "have", "he", "her", "his", "how", "if", "in", "into", "is", "it",
        "its", "just", "me", "more", "my", "no", "not", "now", "of", "on", "or", "our", "out",
        "over", "she", "since", "so", "some", "than", "that", "the", "their", "them", "then",
        "there", "these", "they", "this", "those", "to", "too", "up", "us", "very", "was", "we",
        "were", "what", "when", "where", "which", "while", "who", "why", "will", "with", "would",
        "you", "your",
    ];
    STOP_WORDS.binary_search(&word).is_ok()
}

/// How many sessions the chosen words may match together, at most. Ranking
/// costs time for every session a word is in (the engine counts them to
/// weigh the word), so the rarest words — the ones that say most about a
/// problem — are taken first, until they would match more than this.
pub const MATCH_BUDGET: u64 = 8_000;
/// At most this many words in one search.
pub const MAX_TERMS: usize = 12;

/// The words to search for: those in other sessions too (a word in no
/// session, or, when `own` is set, only in the session itself, finds
/// nothing else), rarest first, while their sessions add up to at most
/// [`MATCH_BUDGET`]. When even the rarest exceeds it, that one alone.
pub fn choose_terms(counted: &[(String, u64)], own: bool) -> Vec<String> {
    let least = if own { 2 } else { 1 };
    let mut useful: Vec<&(String, u64)> = counted.iter().filter(|(_, n)| *n >= least).collect();
    useful.sort_by_key(|(_, n)| *n);
    let mut total = 0;
    let mut chosen = Vec::new();
    for (word, n) in useful {
        if chosen.len() == MAX_TERMS || (!chosen.is_empty() && total + n > MATCH_BUDGET) {
            break;
        }
        total += n;
        chosen.push(word.clone());
    }
    chosen
}

/// What to find sessions similar to, and how many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimilarQuery {
    /// The words to look for (see [`choose_terms`]); none finds nothing.
    pub terms: Vec<String>,
    /// The session whose similar sessions these are; never among them.
    pub excluding: Option<Uuid>,
    pub limit: u32,
}

/// How many similar sessions to return.
pub struct SimilarLimit;

impl SimilarLimit {
    pub const DEFAULT: u32 = 5;
    pub const MAX: u32 = 20;

    /// A client's `limit`: blank means the default.
    pub fn parse(value: Option<&str>) -> Result<u32, ValidationErrors> {
        match value.filter(|v| !v.is_empty()) {
            None => Ok(Self::DEFAULT),
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=Self::MAX).contains(n))
                .ok_or_else(|| {
                    ValidationErrors::single(
                        "limit",
                        format!("must be a whole number from 1 to {}", Self::MAX),
                    )
                }),
        }
    }
}

/// A text to find similar sessions for, such as a problem being typed.
pub struct SimilarText;

impl SimilarText {
    /// About a title, a problem and a plan together.
    pub const MAX_CHARS: usize = 10_000;

    pub fn parse(value: Option<&str>) -> Result<&str, ValidationErrors> {
        let text = value.unwrap_or_default();
        let invalid = |m: String| ValidationErrors::single("text", m);
        super::validation::reject_nul(text).map_err(invalid)?;
        if text.chars().count() > Self::MAX_CHARS {
            return Err(invalid(format!(
                "must be at most {} characters",
                Self::MAX_CHARS
            )));
        }
        Ok(text)
    }
}

/// Where a store marks a matching word in a snippet: private-use characters
/// that no keyboard types, so the text can be escaped as a whole and only
/// then the marked parts wrapped (never HTML made by the database).
pub const MATCH_START: char = '\u{E000}';
pub const MATCH_END: char = '\u{E001}';

/// A snippet of text where the searched words were found, in pieces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet(pub Vec<SnippetPiece>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnippetPiece {
    pub text: String,
    pub matched: bool,
}

impl Snippet {
    /// Reads text marked with [`MATCH_START`] and [`MATCH_END`]. Marks in
    /// the wrong order or left open only end or start a piece; they never
    /// show.
    pub fn from_marked(marked: &str) -> Snippet {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut matched = false;
        for c in marked.chars() {
            let flip = match c {
                MATCH_START => !matched,
                MATCH_END => matched,
                _ => {
                    text.push(c);
                    continue;
                }
            };
            if flip {
                if !text.is_empty() {
                    pieces.push(SnippetPiece {
                        text: std::mem::take(&mut text),
                        matched,
                    });
                }
                matched = !matched;
            }
        }
        if !text.is_empty() {
            pieces.push(SnippetPiece { text, matched });
        }
        Snippet(pieces)
    }

    /// Whether any searched word is in it.
    pub fn has_match(&self) -> bool {
        self.0.iter().any(|p| p.matched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_words_are_sorted_for_the_binary_search() {
        assert!(is_stop_word("the") && is_stop_word("you") && is_stop_word("a"));
        assert!(!is_stop_word("vpn"));
    }

    #[test]
    fn words_are_distinct_lowercase_and_without_stop_words() {
        let words =
            SimilarityWords::of_text("The VPN tunnel drops; the vpn TUNNEL drops every hour!");
        assert_eq!(words.words(), ["vpn", "tunnel", "drops", "every", "hour"]);
        assert!(SimilarityWords::of_text("a ! the ?").is_empty());
    }

    #[test]
    fn rarest_words_are_chosen_within_the_budget() {
        let counted = |pairs: &[(&str, u64)]| -> Vec<(String, u64)> {
            pairs.iter().map(|(w, n)| (w.to_string(), *n)).collect()
        };
        let words = counted(&[
            ("customer", 90_000),
            ("tunnel", 40),
            ("zd48213", 1),
            ("vpn", 15_000),
            ("drops", 6_000),
            ("nowhere", 0),
        ]);
        assert_eq!(choose_terms(&words, true), ["tunnel", "drops"]);
        assert_eq!(choose_terms(&words, false), ["zd48213", "tunnel", "drops"]);
        assert_eq!(
            choose_terms(
                &counted(&[("customer", 90_000), ("reports", 95_000)]),
                false
            ),
            ["customer"]
        );
    }

    #[test]
    fn marked_text_reads_as_pieces_and_stray_marks_never_show() {
        let snippet = Snippet::from_marked("…the \u{E000}vpn\u{E001} tunnel drops…");
        assert!(snippet.has_match());
        let pieces: Vec<(&str, bool)> = snippet
            .0
            .iter()
            .map(|p| (p.text.as_str(), p.matched))
            .collect();
        assert_eq!(
            pieces,
            [("…the ", false), ("vpn", true), (" tunnel drops…", false)]
        );
        let stray = Snippet::from_marked("a\u{E001}b\u{E000}\u{E000}c");
        let text: String = stray.0.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(text, "abc");
    }

    #[test]
    fn limit_defaults_to_5_and_must_be_1_to_20() {
        assert_eq!(SimilarLimit::parse(None), Ok(5));
        assert_eq!(SimilarLimit::parse(Some("")), Ok(5));
        assert_eq!(SimilarLimit::parse(Some("20")), Ok(20));
        for bad in ["0", "21", "-1", "five"] {
            assert!(SimilarLimit::parse(Some(bad)).is_err(), "{bad}");
        }
    }
}
