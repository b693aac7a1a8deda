//! Whether one session belongs in a list, decided without the database: a
//! live page asks it of a session that changed elsewhere.

use super::{ListQuery, Session};

impl ListQuery {
    /// The session passes the query's filters (its cursor and limit aside),
    /// as the stores decide them: status, outcome, owner, and every search
    /// term the prefix of a word of title, reference, customer or problem.
    pub fn admits(&self, session: &Session) -> bool {
        if self.status.is_some_and(|s| s != session.status())
            || self.outcome.is_some_and(|o| Some(o) != session.outcome)
            || self.owner.as_ref().is_some_and(|o| *o != session.owner)
        {
            return false;
        }
        let Some(search) = &self.search else {
            return true;
        };
        let text = [
            Some(session.title.as_str()),
            session.reference.as_deref(),
            session.customer.as_deref(),
            Some(session.problem.as_str()),
        ];
        let words: Vec<String> = text
            .into_iter()
            .flatten()
            .flat_map(|t| t.split(|c: char| !c.is_alphanumeric()))
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        search
            .terms()
            .iter()
            .all(|term| words.iter().any(|w| w.starts_with(term.as_str())))
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use uuid::Uuid;

    use crate::domain::{ListQuery, Outcome, SearchTerms, Session, Status};

    fn session() -> Session {
        let now = Utc::now();
        Session {
            id: Uuid::now_v7(),
            title: "Printer offline".into(),
            problem: "Since the ZD-48213 update".into(),
            reference: None,
            customer: Some("Acme".into()),
            owner: "dana".into(),
            created_at: now,
            updated_at: now,
            started_at: Some(now),
            completed_at: Some(now),
            completed_by: Some("erin".into()),
            outcome: Some(Outcome::Resolved),
            outcome_notes: None,
            summary: None,
            steps: Vec::new(),
        }
    }

    #[test]
    fn a_session_passes_the_filters_it_meets_and_no_other() {
        let s = session();
        let query = |f: &dyn Fn(&mut ListQuery)| {
            let mut q = ListQuery::default();
            f(&mut q);
            q.admits(&s)
        };
        assert!(query(&|_| {}));
        assert!(query(&|q| q.status = Some(Status::Completed)));
        assert!(!query(&|q| q.status = Some(Status::Active)));
        assert!(query(&|q| q.outcome = Some(Outcome::Resolved)));
        assert!(!query(&|q| q.outcome = Some(Outcome::Escalated)));
        assert!(query(&|q| q.owner = Some("dana".into())));
        assert!(!query(&|q| q.owner = Some("erin".into())));
        assert!(query(&|q| q.search = SearchTerms::parse("print acme 4821")));
        assert!(query(&|q| q.search = SearchTerms::parse("zd")));
        assert!(!query(&|q| q.search = SearchTerms::parse("printer scanner")));
    }
}
