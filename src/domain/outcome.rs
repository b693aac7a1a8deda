use serde::{Deserialize, Serialize};

/// How a session ended. This enum is the single source of truth for the
/// outcome list: JSON values, labels, kinds, select options and the database
/// CHECK constraint (verified by a test) all derive from it, and so does the
/// API's OpenAPI schema: utoipa reads the same serde attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Resolved,
    Escalated,
    Workaround,
    Unresolved,
    Cancelled,
    ResolvedExternally,
}

/// Whether an outcome ends the work normally or closes the session early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    Standard,
    EarlyClosure,
}

impl Outcome {
    /// Every outcome, in the order users see them.
    pub const ALL: [Outcome; 6] = [
        Outcome::Resolved,
        Outcome::Escalated,
        Outcome::Workaround,
        Outcome::Unresolved,
        Outcome::Cancelled,
        Outcome::ResolvedExternally,
    ];

    /// The stored and serialized value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Resolved => "resolved",
            Outcome::Escalated => "escalated",
            Outcome::Workaround => "workaround",
            Outcome::Unresolved => "unresolved",
            Outcome::Cancelled => "cancelled",
            Outcome::ResolvedExternally => "resolved_externally",
        }
    }

    pub const fn label(self) -> &'static str {
        match self {
            Outcome::Resolved => "Resolved",
            Outcome::Escalated => "Escalated",
            Outcome::Workaround => "Workaround",
            Outcome::Unresolved => "Unresolved",
            Outcome::Cancelled => "Cancelled",
            Outcome::ResolvedExternally => "Resolved Externally",
        }
    }

    pub const fn kind(self) -> OutcomeKind {
        match self {
            Outcome::Cancelled | Outcome::ResolvedExternally => OutcomeKind::EarlyClosure,
            _ => OutcomeKind::Standard,
        }
    }

    pub fn parse(value: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == value)
    }

    /// The allowed values, for error messages.
    pub fn allowed_values() -> String {
        Outcome::ALL.map(Outcome::as_str).join(", ")
    }

    /// The outcome a close names: required, and one of the six. The one
    /// wording of a missing or unknown outcome, for the API and the pages.
    pub fn parse_required(value: Option<&str>) -> Result<Outcome, String> {
        let allowed = Outcome::allowed_values();
        match value {
            None | Some("") => Err(format!("is required: one of {allowed}")),
            Some(v) => {
                Outcome::parse(v).ok_or_else(|| format!("must be one of {allowed} (got {v:?})"))
            }
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_round_trips_through_json_and_parse() {
        for outcome in Outcome::ALL {
            let json = serde_json::to_string(&outcome).unwrap();
            assert_eq!(json, format!("\"{}\"", outcome.as_str()));
            assert_eq!(serde_json::from_str::<Outcome>(&json).unwrap(), outcome);
            assert_eq!(Outcome::parse(outcome.as_str()), Some(outcome));
        }
    }

    #[test]
    fn a_close_needs_one_of_the_six_outcomes() {
        assert_eq!(
            Outcome::parse_required(Some("workaround")),
            Ok(Outcome::Workaround)
        );
        for missing in [None, Some("")] {
            let why = Outcome::parse_required(missing).unwrap_err();
            assert!(why.starts_with("is required: one of resolved, "), "{why}");
        }
        let why = Outcome::parse_required(Some("fixed")).unwrap_err();
        assert!(why.ends_with("(got \"fixed\")"), "{why}");
    }

    #[test]
    fn outcomes_have_their_exact_labels_in_order() {
        let labels = Outcome::ALL.map(Outcome::label);
        assert_eq!(
            labels,
            [
                "Resolved",
                "Escalated",
                "Workaround",
                "Unresolved",
                "Cancelled",
                "Resolved Externally"
            ]
        );
    }

    #[test]
    fn only_cancelled_and_resolved_externally_are_early_closures() {
        let early: Vec<_> = Outcome::ALL
            .into_iter()
            .filter(|o| o.kind() == OutcomeKind::EarlyClosure)
            .collect();
        assert_eq!(early, [Outcome::Cancelled, Outcome::ResolvedExternally]);
    }

    #[test]
    fn every_value_fits_the_twenty_character_column() {
        let longest = Outcome::ALL.map(|o| o.as_str().len()).into_iter().max();
        assert_eq!(longest, Some(19));
    }

    #[test]
    fn unknown_values_do_not_parse() {
        assert_eq!(Outcome::parse("Resolved"), None);
        assert_eq!(Outcome::parse("fixed"), None);
        assert_eq!(Outcome::parse(""), None);
    }
}
