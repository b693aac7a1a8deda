use chrono::NaiveDate;

use super::{ServiceError, SessionService};
use crate::domain::{Report, ReportQuery};

impl SessionService {
    /// Everyone signed in may read reports, over anyone's sessions.
    pub async fn report(&self, query: ReportQuery) -> Result<Report, ServiceError> {
        let rows = self.store.report(&query).await?;
        Ok(Report::new(query, rows))
    }

    /// Today in UTC, by the service's clock: where a report's default range ends.
    pub fn today(&self) -> NaiveDate {
        self.clock.now().date_naive()
    }
}
