use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Outcome;

/// A troubleshooting session as stored. Its status is derived, never stored.
/// (Serde: the webhook outbox keeps a snapshot of it; the API's shape is
/// `http::api::bodies::SessionBody`.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub id: Uuid,
    pub title: String,
    pub problem: String,
    pub reference: Option<String>,
    pub customer: Option<String>,
    pub owner: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub completed_by: Option<String>,
    pub outcome: Option<Outcome>,
    pub outcome_notes: Option<String>,
    pub summary: Option<String>,
    pub steps: Vec<Step>,
}

/// One check in a session's plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub id: Uuid,
    pub position: u32,
    pub text: String,
    pub checked_at: Option<DateTime<Utc>>,
    pub finding: Option<String>,
    /// Skipped while working: not checked, and not to be.
    pub skipped_at: Option<DateTime<Utc>>,
}

impl Step {
    /// A plan: these texts as unchecked steps, numbered from 1.
    pub fn plan(texts: impl IntoIterator<Item = String>) -> Vec<Step> {
        texts
            .into_iter()
            .zip(1..)
            .map(|(text, position)| Step {
                id: Uuid::now_v7(),
                position,
                text,
                checked_at: None,
                finding: None,
                skipped_at: None,
            })
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Prepared,
    Active,
    Completed,
}

impl Status {
    pub const ALL: [Status; 3] = [Status::Prepared, Status::Active, Status::Completed];

    pub fn derive(
        started_at: Option<DateTime<Utc>>,
        completed_at: Option<DateTime<Utc>>,
    ) -> Status {
        match (started_at, completed_at) {
            (_, Some(_)) => Status::Completed,
            (Some(_), None) => Status::Active,
            (None, None) => Status::Prepared,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Prepared => "prepared",
            Status::Active => "active",
            Status::Completed => "completed",
        }
    }

    pub const fn label(self) -> &'static str {
        match self {
            Status::Prepared => "Prepared",
            Status::Active => "Active",
            Status::Completed => "Completed",
        }
    }

    pub fn parse(value: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == value)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Session {
    pub fn status(&self) -> Status {
        Status::derive(self.started_at, self.completed_at)
    }

    /// Time from start to completion, or to `now` while the work goes on.
    pub fn duration(&self, now: DateTime<Utc>) -> Option<Duration> {
        let started = self.started_at?;
        Some(self.completed_at.unwrap_or(now) - started)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(seconds, 0)
    }

    #[test]
    fn status_is_derived_from_the_timestamps() {
        assert_eq!(Status::derive(None, None), Status::Prepared);
        assert_eq!(Status::derive(at(1), None), Status::Active);
        assert_eq!(Status::derive(at(1), at(2)), Status::Completed);
    }

    #[test]
    fn statuses_parse_from_their_values_only() {
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
        }
        assert_eq!(Status::parse("Active"), None);
        assert_eq!(Status::parse("closed"), None);
    }
}
