//! Persistence of runbooks (see `domain::runbook`).

use async_trait::async_trait;
use uuid::Uuid;

use super::StoreError;
use crate::domain::{Runbook, RunbookQuery};

#[async_trait]
pub trait RunbookStore: Send + Sync {
    async fn insert_runbook(&self, runbook: &Runbook) -> Result<(), StoreError>;

    async fn runbook(&self, id: Uuid) -> Result<Option<Runbook>, StoreError>;

    /// By name (then id), matching every word of the query anywhere in the
    /// name, case-insensitively.
    async fn runbooks(&self, query: &RunbookQuery) -> Result<Vec<Runbook>, StoreError>;

    /// Stores the name, problem, steps, `updated_at` and `retired_at` of an
    /// existing runbook; `NotFound` when there is none with its id.
    async fn update_runbook(&self, runbook: &Runbook) -> Result<(), StoreError>;
}

/// `name like ?` patterns for the query's words: `%word%`, with LIKE's own
/// wildcards escaped by `\`.
pub(super) fn name_patterns(query: &RunbookQuery) -> Vec<String> {
    query
        .name_contains
        .iter()
        .map(|word| {
            let escaped = word
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%{escaped}%")
        })
        .collect()
}
