//! Validated newtypes: once a value has one of these types it is known good,
//! so nothing downstream checks it again.

/// One invalid field and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// Every invalid field of one input, so a form or client can fix all at once.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    pub fn single(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }

    /// Records the error of `result` under `field` and returns its value.
    pub fn check<T>(&mut self, field: impl Into<String>, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(message) => {
                self.0.push(FieldError {
                    field: field.into(),
                    message,
                });
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FieldError {
    /// The error as a sentence: "Outcome notes must be at most 4000
    /// characters (got 4001)." The API's problem `detail` is these
    /// sentences, and the pages show the same ones beside their fields.
    pub fn sentence(&self) -> String {
        let mut name = self.field.replace('_', " ");
        if let Some(first) = name.get(..1) {
            name.replace_range(..1, &first.to_uppercase());
        }
        let message = self.message.trim_end_matches('.');
        format!("{name} {message}.")
    }
}

impl std::fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sentences: Vec<String> = self.0.iter().map(FieldError::sentence).collect();
        f.write_str(&sentences.join(" "))
    }
}

fn char_len(value: &str) -> usize {
    value.chars().count()
}

/// Checks a required text of at most `max` characters, and trims it.
/// The limit counts what was sent, spaces included, so that it means the
/// same to a client as to Casebook.
fn required(value: &str, max: usize) -> Result<String, String> {
    let trimmed = at_most(value, max)?.trim();
    if trimmed.is_empty() {
        return Err("must not be empty".into());
    }
    Ok(trimmed.to_owned())
}

/// Checks an optional text of at most `max` characters, and trims it;
/// blank means none.
fn optional(value: Option<&str>, max: usize) -> Result<Option<String>, String> {
    match value.map(|v| at_most(v, max)).transpose()?.map(str::trim) {
        None | Some("") => Ok(None),
        Some(trimmed) => Ok(Some(trimmed.to_owned())),
    }
}

fn at_most(value: &str, max: usize) -> Result<&str, String> {
    reject_nul(value)?;
    let len = char_len(value);
    if len > max {
        Err(format!("must be at most {max} characters (got {len})"))
    } else {
        Ok(value)
    }
}

/// PostgreSQL cannot store a NUL character in text, and no person types
/// one; refusing it everywhere keeps both stores alike.
pub(crate) fn reject_nul(value: &str) -> Result<(), String> {
    if value.contains('\0') {
        Err("must not contain NUL characters".into())
    } else {
        Ok(())
    }
}

macro_rules! text_newtype {
    ($(#[$doc:meta])* $name:ident, required, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(String);
        impl $name {
            pub const MAX_CHARS: usize = $max;
            pub fn parse(value: &str) -> Result<Self, String> {
                required(value, Self::MAX_CHARS).map(Self)
            }
            pub fn as_str(&self) -> &str { &self.0 }
            pub fn into_inner(self) -> String { self.0 }
        }
    };
    ($(#[$doc:meta])* $name:ident, optional, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name(Option<String>);
        impl $name {
            pub const MAX_CHARS: usize = $max;
            pub fn parse(value: Option<&str>) -> Result<Self, String> {
                optional(value, Self::MAX_CHARS).map(Self)
            }
            pub fn as_deref(&self) -> Option<&str> { self.0.as_deref() }
            pub fn into_inner(self) -> Option<String> { self.0 }
        }
    };
}

text_newtype!(
    /// A session's title: 1–200 characters after trimming.
    Title, required, 200
);
text_newtype!(
    /// One step of a plan: 1–500 characters after trimming.
    StepText, required, 500
);
text_newtype!(
    /// A note added while working: 1–10,000 characters after trimming.
    NoteText, required, 10_000
);
text_newtype!(
    /// A reference or customer: optional, at most 200 characters.
    ShortText, optional, 200
);
text_newtype!(
    /// Notes on how a session ended: optional, at most 4,000 characters.
    OutcomeNotes, optional, 4_000
);
text_newtype!(
    /// What a checked step found: optional, at most 4,000 characters.
    Finding, optional, 4_000
);

/// The problem as reported: optional, at most 10,000 characters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Problem(String);

impl Problem {
    pub const MAX_CHARS: usize = 10_000;

    pub fn parse(value: Option<&str>) -> Result<Self, String> {
        at_most(value.unwrap_or_default(), Self::MAX_CHARS).map(|v| Self(v.trim().to_owned()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A session to prepare, fully validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub title: Title,
    pub problem: Problem,
    pub reference: ShortText,
    pub customer: ShortText,
    pub steps: Vec<StepText>,
}

impl NewSession {
    pub const MAX_STEPS: usize = 100;

    /// Validates every field and reports every problem at once.
    pub fn parse(
        title: Option<&str>,
        problem: Option<&str>,
        reference: Option<&str>,
        customer: Option<&str>,
        steps: &[String],
    ) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let title = errors.check("title", Title::parse(title.unwrap_or_default()));
        let problem = errors.check("problem", Problem::parse(problem));
        let reference = errors.check("reference", ShortText::parse(reference));
        let customer = errors.check("customer", ShortText::parse(customer));
        if steps.len() > Self::MAX_STEPS {
            errors.check::<()>(
                "steps",
                Err(format!(
                    "a plan has at most {} steps (got {})",
                    Self::MAX_STEPS,
                    steps.len()
                )),
            );
        }
        let steps: Vec<_> = steps
            .iter()
            .enumerate()
            .filter_map(|(i, s)| errors.check(format!("steps[{i}]"), StepText::parse(s)))
            .collect();
        match (title, problem, reference, customer) {
            (Some(title), Some(problem), Some(reference), Some(customer)) if errors.is_empty() => {
                Ok(Self {
                    title,
                    problem,
                    reference,
                    customer,
                    steps,
                })
            }
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(n: usize) -> String {
        "é".repeat(n)
    }

    #[test]
    fn errors_read_as_sentences_naming_their_fields() {
        let mut errors = ValidationErrors::single(
            "outcome_notes",
            "must be at most 4000 characters (got 4001)",
        );
        errors.check::<()>("text", Err("must not be empty".into()));
        assert_eq!(
            errors.to_string(),
            "Outcome notes must be at most 4000 characters (got 4001). Text must not be empty."
        );
    }

    #[test]
    fn title_is_trimmed_and_limited_to_200_characters() {
        assert_eq!(Title::parse("  Disk full  ").unwrap().as_str(), "Disk full");
        assert!(Title::parse(&text(200)).is_ok());
        assert!(Title::parse(&text(201)).is_err());
        assert!(Title::parse("   ").is_err());
        assert!(Title::parse("").is_err());
    }

    #[test]
    fn problem_is_limited_to_10000_characters() {
        assert!(Problem::parse(Some(&text(10_000))).is_ok());
        assert!(Problem::parse(Some(&text(10_001))).is_err());
        assert!(Problem::parse(None).is_ok());
    }

    #[test]
    fn reference_and_customer_are_limited_to_200_characters() {
        assert!(ShortText::parse(Some(&text(200))).is_ok());
        assert!(ShortText::parse(Some(&text(201))).is_err());
        assert_eq!(ShortText::parse(Some("  ")).unwrap().as_deref(), None);
    }

    #[test]
    fn steps_are_limited_to_500_characters() {
        assert!(StepText::parse(&text(500)).is_ok());
        assert!(StepText::parse(&text(501)).is_err());
        assert!(StepText::parse(" ").is_err());
    }

    #[test]
    fn outcome_notes_are_trimmed_empty_means_none_and_limited_to_4000() {
        assert_eq!(OutcomeNotes::parse(Some("")).unwrap().as_deref(), None);
        assert_eq!(OutcomeNotes::parse(Some(" \n ")).unwrap().as_deref(), None);
        assert_eq!(
            OutcomeNotes::parse(Some(" done ")).unwrap().as_deref(),
            Some("done")
        );
        assert!(OutcomeNotes::parse(Some(&text(4_000))).is_ok());
        assert!(OutcomeNotes::parse(Some(&text(4_001))).is_err());
    }

    #[test]
    fn note_text_is_1_to_10000_characters() {
        assert!(NoteText::parse(&text(10_000)).is_ok());
        assert!(NoteText::parse(&text(10_001)).is_err());
        assert!(NoteText::parse("  ").is_err());
    }

    #[test]
    fn a_plan_has_at_most_100_steps() {
        let steps = |n| vec!["check".to_string(); n];
        assert!(NewSession::parse(Some("t"), None, None, None, &steps(100)).is_ok());
        let errors = NewSession::parse(Some("t"), None, None, None, &steps(101)).unwrap_err();
        assert_eq!(errors.0[0].field, "steps");
    }

    #[test]
    fn new_session_reports_every_bad_field_at_once() {
        let errors = NewSession::parse(
            Some(""),
            None,
            Some(&text(201)),
            None,
            &["ok".into(), "".into()],
        )
        .unwrap_err();
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["title", "reference", "steps[1]"]);
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// Any text, with a fair share of spaces, NULs and long strings.
    fn any_text() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[ \t\n\u{0}\u{a0}\u{3000}a-zé]{0,12}",
            ("[ ]{0,3}", "[a-zé ]{195,205}", "[ ]{0,3}").prop_map(|(a, b, c)| a + &b + &c),
        ]
    }

    fn accepted_required(value: &str, max: usize) -> bool {
        value.chars().count() <= max && !value.contains('\0') && !value.trim().is_empty()
    }

    proptest! {
        #[test]
        fn a_title_is_accepted_exactly_when_it_fits_and_is_kept_trimmed(value in any_text()) {
            match Title::parse(&value) {
                Ok(title) => {
                    prop_assert!(accepted_required(&value, Title::MAX_CHARS));
                    prop_assert_eq!(title.as_str(), value.trim());
                }
                Err(message) => {
                    prop_assert!(!accepted_required(&value, Title::MAX_CHARS));
                    prop_assert!(!message.is_empty());
                }
            }
        }

        #[test]
        fn step_and_note_texts_follow_the_same_rule(value in any_text()) {
            prop_assert_eq!(StepText::parse(&value).is_ok(), accepted_required(&value, StepText::MAX_CHARS));
            prop_assert_eq!(NoteText::parse(&value).is_ok(), accepted_required(&value, NoteText::MAX_CHARS));
        }

        #[test]
        fn optional_texts_are_none_when_blank_and_trimmed_otherwise(value in proptest::option::of(any_text())) {
            let fits = |max: usize| {
                value.as_deref().is_none_or(|v| v.chars().count() <= max && !v.contains('\0'))
            };
            match ShortText::parse(value.as_deref()) {
                Ok(text) => {
                    prop_assert!(fits(ShortText::MAX_CHARS));
                    let expected = value.as_deref().map(str::trim).filter(|v| !v.is_empty());
                    prop_assert_eq!(text.as_deref(), expected);
                }
                Err(_) => prop_assert!(!fits(ShortText::MAX_CHARS)),
            }
            prop_assert_eq!(OutcomeNotes::parse(value.as_deref()).is_ok(), fits(OutcomeNotes::MAX_CHARS));
            prop_assert_eq!(Finding::parse(value.as_deref()).is_ok(), fits(Finding::MAX_CHARS));
            prop_assert_eq!(Problem::parse(value.as_deref()).is_ok(), fits(Problem::MAX_CHARS));
        }

        #[test]
        fn a_new_session_names_every_bad_field_and_nothing_else(
            title in proptest::option::of(any_text()),
            reference in proptest::option::of(any_text()),
            steps in proptest::collection::vec(any_text(), 0..4),
        ) {
            let result = NewSession::parse(title.as_deref(), None, reference.as_deref(), None, &steps);
            let mut expected = Vec::new();
            if Title::parse(title.as_deref().unwrap_or_default()).is_err() {
                expected.push("title".to_string());
            }
            if ShortText::parse(reference.as_deref()).is_err() {
                expected.push("reference".to_string());
            }
            for (i, step) in steps.iter().enumerate() {
                if StepText::parse(step).is_err() {
                    expected.push(format!("steps[{i}]"));
                }
            }
            match result {
                Ok(session) => {
                    prop_assert!(expected.is_empty());
                    prop_assert_eq!(session.steps.len(), steps.len());
                }
                Err(errors) => {
                    let fields: Vec<String> = errors.0.into_iter().map(|e| e.field).collect();
                    prop_assert_eq!(fields, expected);
                }
            }
        }
    }
}
