//! Runbooks: a named, reusable plan with an optional problem template, so a
//! plan that worked once can start the next session like it.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::validation::reject_nul;
use super::{Actor, NewSession, Problem, StepText, Title, ValidationErrors};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runbook {
    pub id: Uuid,
    pub name: String,
    /// What a session started from it says about the problem; may be empty.
    pub problem: String,
    pub steps: Vec<String>,
    pub created_by: String,
    /// The session whose plan it was saved from, if any.
    pub source_session_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
}

impl Runbook {
    pub fn is_retired(&self) -> bool {
        self.retired_at.is_some()
    }

    /// Anyone signed in may create a runbook; its creator and admins may
    /// edit or retire it.
    pub fn may_edit(&self, actor: &Actor) -> bool {
        actor.is_admin() || actor.username == self.created_by
    }
}

/// A runbook's name, problem template and steps, fully validated: the same
/// limits as a session's title, problem and plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunbookDraft {
    pub name: Title,
    pub problem: Problem,
    pub steps: Vec<StepText>,
}

impl RunbookDraft {
    /// Validates every field and reports every problem at once. A runbook is
    /// a plan, so it has at least one step.
    pub fn parse(
        name: Option<&str>,
        problem: Option<&str>,
        steps: &[String],
    ) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let name = errors.check("name", Title::parse(name.unwrap_or_default()));
        let problem = errors.check("problem", Problem::parse(problem));
        if steps.is_empty() {
            errors.check::<()>("steps", Err("a runbook needs at least one step".into()));
        } else if steps.len() > NewSession::MAX_STEPS {
            errors.check::<()>(
                "steps",
                Err(format!(
                    "a plan has at most {} steps (got {})",
                    NewSession::MAX_STEPS,
                    steps.len()
                )),
            );
        }
        let steps: Vec<_> = steps
            .iter()
            .enumerate()
            .filter_map(|(i, s)| errors.check(format!("steps[{i}]"), StepText::parse(s)))
            .collect();
        match (name, problem) {
            (Some(name), Some(problem)) if errors.is_empty() => Ok(Self {
                name,
                problem,
                steps,
            }),
            _ => Err(errors),
        }
    }
}

/// Which runbooks to list: by name (every word, anywhere in it), active
/// ones unless retired ones are asked for too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunbookQuery {
    pub name_contains: Vec<String>,
    pub include_retired: bool,
    pub limit: u32,
}

impl Default for RunbookQuery {
    fn default() -> Self {
        Self {
            name_contains: Vec::new(),
            include_retired: false,
            limit: Self::DEFAULT_LIMIT,
        }
    }
}

impl RunbookQuery {
    pub const DEFAULT_LIMIT: u32 = 50;
    pub const MAX_LIMIT: u32 = 200;
    const MAX_WORDS: usize = 8;

    /// Parses what a client sent; blank values mean "any".
    pub fn parse(
        q: Option<&str>,
        include_retired: Option<&str>,
        limit: Option<&str>,
    ) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let q = q.unwrap_or_default();
        errors.check("q", reject_nul(q).and_then(|()| at_most_chars(q, 200)));
        let include_retired = match include_retired.unwrap_or_default() {
            "" | "false" => false,
            "true" => true,
            _ => {
                errors.check::<()>("include_retired", Err("must be true or false".into()));
                false
            }
        };
        let limit = match limit.filter(|l| !l.is_empty()) {
            None => Self::DEFAULT_LIMIT,
            Some(v) => errors
                .check(
                    "limit",
                    v.parse::<u32>()
                        .ok()
                        .filter(|n| (1..=Self::MAX_LIMIT).contains(n))
                        .ok_or_else(|| {
                            format!("must be a whole number from 1 to {}", Self::MAX_LIMIT)
                        }),
                )
                .unwrap_or(Self::DEFAULT_LIMIT),
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            name_contains: words(q),
            include_retired,
            limit,
        })
    }
}

fn at_most_chars(value: &str, max: usize) -> Result<(), String> {
    let len = value.chars().count();
    if len > max {
        Err(format!("must be at most {max} characters (got {len})"))
    } else {
        Ok(())
    }
}

/// The words of a filter, lowercased: a runbook matches when its name
/// contains each of them.
fn words(q: &str) -> Vec<String> {
    q.split_whitespace()
        .take(RunbookQuery::MAX_WORDS)
        .map(str::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runbook_needs_a_name_and_at_least_one_step() {
        let errors = RunbookDraft::parse(Some("  "), None, &[]).unwrap_err();
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "steps"]);
    }

    #[test]
    fn a_runbook_takes_the_limits_of_a_session() {
        let long_step = "x".repeat(StepText::MAX_CHARS + 1);
        let errors =
            RunbookDraft::parse(Some("VPN drops"), None, &["ok".into(), long_step]).unwrap_err();
        assert_eq!(errors.0[0].field, "steps[1]");
        let many = vec!["step".to_string(); NewSession::MAX_STEPS + 1];
        assert!(RunbookDraft::parse(Some("VPN drops"), None, &many).is_err());
        let draft =
            RunbookDraft::parse(Some(" VPN drops "), Some(" tmpl "), &["a".into()]).unwrap();
        assert_eq!(draft.name.as_str(), "VPN drops");
        assert_eq!(draft.problem.into_inner(), "tmpl");
    }

    #[test]
    fn only_the_creator_and_admins_may_edit() {
        let runbook = Runbook {
            id: Uuid::now_v7(),
            name: "n".into(),
            problem: String::new(),
            steps: vec!["s".into()],
            created_by: "dana".into(),
            source_session_id: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            retired_at: None,
        };
        assert!(runbook.may_edit(&Actor::new("dana")));
        assert!(!runbook.may_edit(&Actor::new("sam")));
        assert!(runbook.may_edit(&Actor::with_role("root", super::super::Role::Admin)));
    }

    #[test]
    fn the_list_filter_splits_words_and_refuses_nonsense() {
        let q = RunbookQuery::parse(Some(" VPN  Tunnel "), Some("true"), Some("10")).unwrap();
        assert_eq!(q.name_contains, ["vpn", "tunnel"]);
        assert!(q.include_retired);
        assert_eq!(q.limit, 10);
        let errors = RunbookQuery::parse(Some("a\0"), Some("yes"), Some("0")).unwrap_err();
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["q", "include_retired", "limit"]);
    }
}
