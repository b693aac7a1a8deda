use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Outcome, Status, ValidationErrors};

/// A position in the newest-first order: the last item a page showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: DateTime<Utc>,
    pub id: Uuid,
}

impl Cursor {
    /// An opaque token: base64url of the creation time in microseconds and the id.
    pub fn encode(&self) -> String {
        let mut bytes = [0u8; 24];
        bytes[..8].copy_from_slice(&self.created_at.timestamp_micros().to_be_bytes());
        bytes[8..].copy_from_slice(self.id.as_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// What every cursor looks like: base64url of 24 bytes whose first 6
    /// bits are zero, since a creation time from 1970 until after the year
    /// 10,000 takes fewer than 58 bits. Every string of this shape decodes.
    pub const PATTERN: &'static str = "^A[A-Za-z0-9_-]{31}$";

    /// The creation times a cursor can hold: from 1970 to about the year
    /// 11,100, well inside what every store can compare with.
    const MICROS: std::ops::Range<i64> = 0..1 << 58;

    pub fn decode(token: &str) -> Option<Cursor> {
        let bytes: [u8; 24] = URL_SAFE_NO_PAD.decode(token).ok()?.try_into().ok()?;
        let micros = i64::from_be_bytes(bytes[..8].try_into().ok()?);
        if !Self::MICROS.contains(&micros) {
            return None;
        }
        let created_at = DateTime::from_timestamp_micros(micros)?;
        let id = Uuid::from_slice(&bytes[8..]).ok()?;
        Some(Cursor { created_at, id })
    }
}

/// Words to find in title, reference, customer and problem; every word must
/// match, each as a prefix. Only letters and digits count, so the terms are
/// safe to hand to any full-text engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchTerms(Vec<String>);

impl SearchTerms {
    const MAX_TERMS: usize = 8;
    const MAX_TERM_CHARS: usize = 64;

    /// None when the text holds no searchable word.
    pub fn parse(text: &str) -> Option<SearchTerms> {
        let terms: Vec<String> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .take(Self::MAX_TERMS)
            .map(|w| {
                // Lowercasing can add marks ('İ' becomes 'i' and a combining
                // dot); only letters and digits are kept.
                w.chars()
                    .take(Self::MAX_TERM_CHARS)
                    .flat_map(char::to_lowercase)
                    .filter(|c| c.is_alphanumeric())
                    .collect::<String>()
            })
            .filter(|w| !w.is_empty())
            .collect();
        (!terms.is_empty()).then_some(SearchTerms(terms))
    }

    pub fn terms(&self) -> &[String] {
        &self.0
    }
}

/// Which sessions to list, and from where.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub status: Option<Status>,
    pub outcome: Option<Outcome>,
    pub owner: Option<String>,
    pub search: Option<SearchTerms>,
    pub after: Option<Cursor>,
    pub limit: u32,
    /// Whether the sessions come with their plan steps; a list that never
    /// shows them (the history page) spares reading them.
    pub with_steps: bool,
}

/// Why a list request cannot be served.
#[derive(Debug, Clone, PartialEq)]
pub enum ListQueryError {
    /// The cursor was not one this server issued.
    BadCursor,
    Invalid(ValidationErrors),
}

impl Default for ListQuery {
    fn default() -> Self {
        Self {
            status: None,
            outcome: None,
            owner: None,
            search: None,
            after: None,
            limit: Self::DEFAULT_LIMIT,
            with_steps: true,
        }
    }
}

impl ListQuery {
    pub const DEFAULT_LIMIT: u32 = 25;
    pub const MAX_LIMIT: u32 = 100;

    /// Parses the raw filter values a client sent; blank values mean "any".
    pub fn parse(
        status: Option<&str>,
        outcome: Option<&str>,
        owner: Option<&str>,
        q: Option<&str>,
        cursor: Option<&str>,
        limit: Option<&str>,
    ) -> Result<ListQuery, ListQueryError> {
        let mut errors = ValidationErrors::default();
        let status = blank_is_none(status).and_then(|v| {
            errors.check(
                "status",
                Status::parse(v)
                    .ok_or_else(|| "must be one of prepared, active, completed".to_string()),
            )
        });
        let outcome = blank_is_none(outcome).and_then(|v| {
            errors.check(
                "outcome",
                Outcome::parse(v)
                    .ok_or_else(|| format!("must be one of {}", Outcome::allowed_values())),
            )
        });
        let limit = match blank_is_none(limit) {
            None => Some(Self::DEFAULT_LIMIT),
            Some(v) => errors.check(
                "limit",
                v.parse::<u32>()
                    .ok()
                    .filter(|n| (1..=Self::MAX_LIMIT).contains(n))
                    .ok_or_else(|| format!("must be a whole number from 1 to {}", Self::MAX_LIMIT)),
            ),
        };
        let owner = owner.map(str::trim).filter(|o| !o.is_empty());
        if let Some(owner) = owner {
            errors.check("owner", super::validation::reject_nul(owner));
        }
        if !errors.is_empty() {
            return Err(ListQueryError::Invalid(errors));
        }
        let after = match blank_is_none(cursor) {
            None => None,
            Some(token) => Some(Cursor::decode(token).ok_or(ListQueryError::BadCursor)?),
        };
        Ok(ListQuery {
            status,
            outcome,
            owner: owner.map(str::to_owned),
            search: q.and_then(SearchTerms::parse),
            after,
            limit: limit.unwrap_or(Self::DEFAULT_LIMIT),
            with_steps: true,
        })
    }
}

/// An empty value means "any", as a form's empty choice sends it. A value
/// of spaces is no value of any filter, so it is refused like any other.
fn blank_is_none(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.is_empty())
}

/// One page of a newest-first list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Cursor>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_garbage_does_not_decode() {
        let cursor = Cursor {
            created_at: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
            id: Uuid::now_v7(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        assert_eq!(Cursor::decode("not a cursor"), None);
        assert_eq!(Cursor::decode(""), None);
        assert_eq!(Cursor::decode(&cursor.encode()[1..]), None);
    }

    #[test]
    fn search_terms_keep_only_words() {
        let terms = SearchTerms::parse("Disk-full on <db01>!").unwrap();
        assert_eq!(terms.terms(), ["disk", "full", "on", "db01"]);
        assert_eq!(SearchTerms::parse("  *** \"' "), None);
    }

    #[test]
    fn limit_defaults_to_25_and_must_be_1_to_100() {
        let parse = |l| ListQuery::parse(None, None, None, None, None, l);
        assert_eq!(parse(None).unwrap().limit, 25);
        assert_eq!(parse(Some("1")).unwrap().limit, 1);
        assert_eq!(parse(Some("100")).unwrap().limit, 100);
        for bad in ["0", "101", "-1", "ten"] {
            assert!(matches!(parse(Some(bad)), Err(ListQueryError::Invalid(_))));
        }
    }

    #[test]
    fn a_tampered_cursor_is_a_bad_cursor() {
        let result = ListQuery::parse(None, None, None, None, Some("AAAA"), None);
        assert_eq!(result, Err(ListQueryError::BadCursor));
    }

    #[test]
    fn unknown_status_and_outcome_name_their_fields() {
        let Err(ListQueryError::Invalid(errors)) =
            ListQuery::parse(Some("closed"), Some("fixed"), None, None, None, None)
        else {
            panic!("expected field errors");
        };
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["status", "outcome"]);
        assert!(errors.0[1].message.contains("resolved_externally"));
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    fn any_cursor() -> impl Strategy<Value = Cursor> {
        (Cursor::MICROS, any::<u128>()).prop_map(|(micros, id)| Cursor {
            created_at: DateTime::from_timestamp_micros(micros).unwrap(),
            id: Uuid::from_u128(id),
        })
    }

    proptest! {
        #[test]
        fn every_cursor_round_trips_and_has_the_documented_shape(cursor in any_cursor()) {
            let token = cursor.encode();
            prop_assert!(token.len() == 32 && token.starts_with('A'));
            prop_assert!(token.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
            prop_assert_eq!(Cursor::decode(&token), Some(cursor));
        }

        #[test]
        fn every_string_of_the_documented_shape_decodes(token in "A[A-Za-z0-9_-]{31}") {
            let cursor = Cursor::decode(&token);
            prop_assert!(cursor.is_some());
            prop_assert_eq!(cursor.unwrap().encode(), token);
        }

        #[test]
        fn any_other_string_is_a_bad_cursor_never_a_panic(token in any::<String>()) {
            let documented = token.len() == 32
                && token.starts_with('A')
                && token.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            prop_assert_eq!(Cursor::decode(&token).is_some(), documented);
        }

        #[test]
        fn a_tampered_cursor_is_refused_or_read_as_a_position(
            cursor in any_cursor(),
            at in 0usize..32,
            replacement in any::<char>(),
        ) {
            let mut chars: Vec<char> = cursor.encode().chars().collect();
            chars[at] = replacement;
            let tampered: String = chars.into_iter().collect();
            let parsed = ListQuery::parse(None, None, None, None, Some(&tampered), None);
            match parsed {
                Ok(query) => prop_assert_eq!(query.after.map(|c| c.encode()), Some(tampered)),
                Err(error) => prop_assert_eq!(error, ListQueryError::BadCursor),
            }
        }

        #[test]
        fn search_terms_are_lowercase_words_bounded_in_number_and_length(
            text in prop_oneof![any::<String>(), "[İ a-zA-Z0-9,.-]{0,40}"],
        ) {
            if let Some(terms) = SearchTerms::parse(&text) {
                prop_assert!(!terms.terms().is_empty() && terms.terms().len() <= SearchTerms::MAX_TERMS);
                for term in terms.terms() {
                    prop_assert!(!term.is_empty());
                    prop_assert!(term.chars().all(char::is_alphanumeric));
                    prop_assert_eq!(term, &term.to_lowercase());
                }
            } else {
                prop_assert!(!text.chars().any(char::is_alphanumeric));
            }
        }

        #[test]
        fn list_filters_accept_exactly_their_values(
            status in prop_oneof![Just(String::new()), "prepared|active|completed", any::<String>()],
            outcome in prop_oneof![Just(String::new()), "resolved|cancelled|resolved_externally", any::<String>()],
            limit in prop_oneof![Just(String::new()), (0u32..200).prop_map(|n| n.to_string()), any::<String>()],
            owner in any::<String>(),
        ) {
            let result = ListQuery::parse(Some(&status), Some(&outcome), Some(&owner), None, None, Some(&limit));
            let status_ok = status.is_empty() || Status::parse(&status).is_some();
            let outcome_ok = outcome.is_empty() || Outcome::parse(&outcome).is_some();
            let limit_ok = limit.is_empty() || limit.parse::<u32>().is_ok_and(|n| (1..=100).contains(&n));
            let owner_ok = !owner.contains('\0');
            match result {
                Ok(query) => {
                    prop_assert!(status_ok && outcome_ok && limit_ok && owner_ok);
                    prop_assert!((1..=ListQuery::MAX_LIMIT).contains(&query.limit));
                }
                Err(ListQueryError::Invalid(errors)) => {
                    let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
                    let mut expected = Vec::new();
                    if !status_ok { expected.push("status"); }
                    if !outcome_ok { expected.push("outcome"); }
                    if !limit_ok { expected.push("limit"); }
                    if !owner_ok { expected.push("owner"); }
                    prop_assert_eq!(fields, expected);
                }
                Err(ListQueryError::BadCursor) => prop_assert!(false, "no cursor was given"),
            }
        }
    }
}
