//! Reports computed by the database (see `domain::report`): counts, medians
//! and percentiles in SQL, so a report never loads the sessions it covers.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::{ReportQuery, ReportRows};

#[async_trait]
pub trait ReportStore: Send + Sync {
    async fn report(&self, query: &ReportQuery) -> Result<ReportRows, StoreError>;
}
