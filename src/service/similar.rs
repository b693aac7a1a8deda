//! Similar past sessions, and where a search's words were found.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::{ServiceError, SessionService};
use crate::domain::{
    ListQuery, Page, Session, SimilarQuery, SimilarityWords, Snippet, choose_terms,
};

/// Document frequencies of common words, kept for a while: the store counts
/// a word's sessions one by one, so a word in most sessions costs
/// milliseconds, while a rare word (the kind that decides a ranking) costs
/// microseconds and is always counted afresh.
#[derive(Default)]
pub(super) struct TermCounts(Mutex<HashMap<String, (u64, Instant)>>);

impl TermCounts {
    /// Counts at least this large are kept.
    const WORTH_KEEPING: u64 = 1_000;
    const LIFETIME: Duration = Duration::from_secs(300);
    const MAX_KEPT: usize = 20_000;

    fn kept(&self, word: &str) -> Option<u64> {
        let kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        kept.get(word)
            .filter(|(_, at)| at.elapsed() < Self::LIFETIME)
            .map(|(n, _)| *n)
    }

    fn keep(&self, word: &str, count: u64) {
        if count < Self::WORTH_KEEPING {
            return;
        }
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() >= Self::MAX_KEPT {
            kept.retain(|_, (_, at)| at.elapsed() < Self::LIFETIME);
            if kept.len() >= Self::MAX_KEPT {
                kept.clear();
            }
        }
        kept.insert(word.to_owned(), (count, Instant::now()));
    }
}

impl SessionService {
    /// Completed sessions most like session `id` (its title, problem,
    /// reference, customer and plan), best first; never itself.
    #[tracing::instrument(skip_all, fields(session = %id))]
    pub async fn similar_to(&self, id: Uuid, limit: u32) -> Result<Vec<Session>, ServiceError> {
        let session = self.get(id).await?;
        self.similar(SimilarityWords::of_session(&session), Some(id), limit)
            .await
    }

    /// Completed sessions most like `text`, such as a problem being typed.
    #[tracing::instrument(skip_all)]
    pub async fn similar_to_text(
        &self,
        text: &str,
        limit: u32,
    ) -> Result<Vec<Session>, ServiceError> {
        self.similar(SimilarityWords::of_text(text), None, limit)
            .await
    }

    async fn similar(
        &self,
        words: SimilarityWords,
        excluding: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Session>, ServiceError> {
        if words.is_empty() {
            return Ok(Vec::new());
        }
        let counted = self.term_counts(words.words()).await?;
        let terms = choose_terms(&counted, excluding.is_some());
        let query = SimilarQuery {
            terms,
            excluding,
            limit,
        };
        Ok(self.store.similar(&query).await?)
    }

    async fn term_counts(&self, words: &[String]) -> Result<Vec<(String, u64)>, ServiceError> {
        let mut counted: Vec<(String, Option<u64>)> = words
            .iter()
            .map(|w| (w.clone(), self.term_counts.kept(w)))
            .collect();
        let missing: Vec<String> = counted
            .iter()
            .filter(|(_, n)| n.is_none())
            .map(|(w, _)| w.clone())
            .collect();
        if !missing.is_empty() {
            let counts = self.store.term_counts(&missing).await?;
            let fresh: HashMap<&String, u64> = missing.iter().zip(counts).collect();
            for (word, n) in &mut counted {
                if n.is_none() {
                    let count = fresh.get(word).copied().unwrap_or(0);
                    self.term_counts.keep(word, count);
                    *n = Some(count);
                }
            }
        }
        Ok(counted
            .into_iter()
            .map(|(w, n)| (w, n.unwrap_or(0)))
            .collect())
    }

    /// One page of the list, and for a search, where its words were found
    /// in each session of the page.
    pub async fn list_with_snippets(
        &self,
        query: &ListQuery,
    ) -> Result<(Page<Session>, HashMap<Uuid, Snippet>), ServiceError> {
        let page = self.list(query).await?;
        if query.search.is_none() || page.items.is_empty() {
            return Ok((page, HashMap::new()));
        }
        let ids: Vec<Uuid> = page.items.iter().map(|s| s.id).collect();
        let snippets = self
            .store
            .search_snippets(query, &ids)
            .await?
            .into_iter()
            .map(|(id, marked)| (id, Snippet::from_marked(&marked)))
            .filter(|(_, snippet)| snippet.has_match())
            .collect();
        Ok((page, snippets))
    }
}
