//! What the full-text index answers besides the list's `q` filter: the
//! sessions most like a set of words, how many sessions hold each word, and
//! where a search's words were found.

use async_trait::async_trait;
use uuid::Uuid;

use super::StoreError;
use crate::domain::{ListQuery, Session, SimilarQuery};

/// The newest matches a similarity search ranks, at most. Ranking costs
/// time per match; the chosen words are the rarest ones (see
/// `domain::choose_terms`), so on real histories their matches are
/// usually fewer than this and the ranking is exact. When common words are
/// all a session has, the newest matches are the ones ranked. (At 100,000
/// sessions a window of 400 cost a quarter more CPU per request than 200,
/// and took p99 at 32 connections past 25 ms; see docs/BENCHMARKS.md.)
pub const SIMILAR_WINDOW: u32 = 200;

#[async_trait]
pub trait SearchStore: Send + Sync {
    /// Completed sessions matching any of the query's terms, best first,
    /// with their steps; never the excluded session.
    async fn similar(&self, query: &SimilarQuery) -> Result<Vec<Session>, StoreError>;

    /// How many sessions hold each word (0 for none), in the words' order.
    async fn term_counts(&self, words: &[String]) -> Result<Vec<u64>, StoreError>;

    /// For sessions of `query`'s page (`ids`, as the list returned them),
    /// the text where its search words were found, each word between
    /// `domain::MATCH_START` and `domain::MATCH_END`. Sessions without a
    /// snippet are left out; so is everything when the query has no search.
    async fn search_snippets(
        &self,
        query: &ListQuery,
        ids: &[Uuid],
    ) -> Result<Vec<(Uuid, String)>, StoreError>;
}
