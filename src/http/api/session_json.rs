//! Each session's JSON, kept from one list to the next.
//!
//! A list of 25 sessions spent three quarters of its work reading the
//! sessions' steps and writing the same JSON as the list before it. Every
//! change to a session moves its `updated_at` forward (see `store`), so the
//! JSON written for a session at one `updated_at` stays right until the row
//! says otherwise: a list reads its page's rows without steps, takes each
//! session's JSON from here where `updated_at` matches, and reads steps only
//! for the others. The rows are read on every request, so a change made by
//! another process on the same database shows at once.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use quick_cache::Weighter;
use quick_cache::sync::Cache;
use serde_json::value::RawValue;
use uuid::Uuid;

use super::bodies::SessionBody;
use crate::domain::Session;

/// The JSON kept, in bytes: a session with a short plan is about 1 KB, so
/// some ten thousand sessions.
const MAX_BYTES: u64 = 16 * 1024 * 1024;

pub struct SessionJsonCache(Cache<Uuid, Entry, EntrySize>);

#[derive(Clone)]
struct Entry {
    updated_at: DateTime<Utc>,
    json: Arc<RawValue>,
}

#[derive(Clone)]
struct EntrySize;

impl Weighter<Uuid, Entry> for EntrySize {
    fn weight(&self, _: &Uuid, entry: &Entry) -> u64 {
        // The text, and the entry's own bytes.
        entry.json.get().len() as u64 + 64
    }
}

impl Default for SessionJsonCache {
    fn default() -> Self {
        Self::with_max_bytes(MAX_BYTES)
    }
}

impl SessionJsonCache {
    pub fn with_max_bytes(max_bytes: u64) -> Self {
        let sessions = (max_bytes / 1024).max(1) as usize;
        SessionJsonCache(Cache::with_weighter(sessions, max_bytes, EntrySize))
    }

    /// The JSON kept for each of `sessions` (read without steps) as it is
    /// now; those with none are left in [`Lookup::missing`], to be given
    /// their steps.
    pub fn lookup(&self, sessions: Vec<Session>) -> Lookup {
        let mut json = Vec::with_capacity(sessions.len());
        let mut missing = Vec::new();
        for session in sessions {
            let kept = self
                .0
                .get(&session.id)
                .filter(|entry| entry.updated_at == session.updated_at);
            match kept {
                Some(entry) => json.push(Some(entry.json)),
                None => {
                    json.push(None);
                    missing.push(session);
                }
            }
        }
        Lookup { json, missing }
    }

    fn render(&self, session: &Session) -> serde_json::Result<Arc<RawValue>> {
        let json: Arc<RawValue> =
            serde_json::value::to_raw_value(&SessionBody::from(session))?.into();
        let entry = Entry {
            updated_at: session.updated_at,
            json: json.clone(),
        };
        self.0.insert(session.id, entry);
        Ok(json)
    }
}

/// A page's sessions: the JSON found, in order, and the sessions still to
/// be written.
pub struct Lookup {
    json: Vec<Option<Arc<RawValue>>>,
    /// Sessions whose JSON was not kept, in page order; give them their
    /// steps before [`Lookup::complete`].
    pub missing: Vec<Session>,
}

impl Lookup {
    /// Every session's JSON in page order, writing (and keeping) the missing
    /// ones.
    pub fn complete(self, cache: &SessionJsonCache) -> serde_json::Result<Vec<Arc<RawValue>>> {
        let mut missing = self.missing.iter();
        self.json
            .into_iter()
            .map(|kept| match kept {
                Some(json) => Ok(json),
                None => {
                    let session = missing.next().expect("one missing session per gap");
                    cache.render(session)
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Step;

    fn session(title: &str, updated_at_micros: i64) -> Session {
        let at = DateTime::from_timestamp_micros(updated_at_micros).unwrap();
        Session {
            id: Uuid::from_u128(7),
            title: title.into(),
            problem: String::new(),
            reference: None,
            customer: None,
            owner: "ada".into(),
            created_at: at,
            updated_at: at,
            started_at: None,
            completed_at: None,
            completed_by: None,
            outcome: None,
            outcome_notes: None,
            summary: None,
            steps: Vec::new(),
        }
    }

    fn title_of(json: &RawValue) -> String {
        let value: serde_json::Value = serde_json::from_str(json.get()).unwrap();
        value["title"].as_str().unwrap().to_owned()
    }

    #[test]
    fn a_session_is_written_again_once_its_updated_at_moves() {
        let cache = SessionJsonCache::default();
        let first = cache.lookup(vec![session("Disk full", 1)]);
        assert_eq!(first.missing.len(), 1);
        first.complete(&cache).unwrap();

        let same = cache.lookup(vec![session("Disk full", 1)]);
        assert!(same.missing.is_empty(), "kept while updated_at is the same");
        assert_eq!(title_of(&same.complete(&cache).unwrap()[0]), "Disk full");

        let mut changed = cache.lookup(vec![session("Disk full on db01", 2)]);
        assert_eq!(
            changed.missing.len(),
            1,
            "a newer updated_at is written anew"
        );
        changed.missing[0].steps.push(Step {
            id: Uuid::from_u128(8),
            position: 1,
            text: "Check df -h".into(),
            checked_at: None,
            finding: None,
            skipped_at: None,
        });
        let json = changed.complete(&cache).unwrap();
        assert_eq!(title_of(&json[0]), "Disk full on db01");
        assert!(json[0].get().contains("Check df -h"));
    }

    #[test]
    fn kept_and_written_sessions_come_back_in_page_order() {
        let cache = SessionJsonCache::default();
        let with_id = |id: u128, title: &str| Session {
            id: Uuid::from_u128(id),
            ..session(title, 1)
        };
        cache
            .lookup(vec![with_id(2, "b")])
            .complete(&cache)
            .unwrap();
        let page = cache.lookup(vec![with_id(1, "a"), with_id(2, "b"), with_id(3, "c")]);
        assert_eq!(page.missing.len(), 2);
        let titles: Vec<String> = page
            .complete(&cache)
            .unwrap()
            .iter()
            .map(|json| title_of(json))
            .collect();
        assert_eq!(titles, ["a", "b", "c"]);
    }

    #[test]
    fn it_keeps_no_more_than_its_bytes() {
        let cache = SessionJsonCache::with_max_bytes(64 * 1024);
        for id in 0..1_000 {
            let one = Session {
                id: Uuid::from_u128(id),
                ..session(&"x".repeat(900), 1)
            };
            cache.lookup(vec![one]).complete(&cache).unwrap();
        }
        assert!(cache.0.weight() <= 64 * 1024, "{}", cache.0.weight());
        assert!(cache.0.len() < 100);
    }
}
