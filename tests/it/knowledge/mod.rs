//! What the team has learned: runbooks and reports.

mod reports;
mod runbooks;
