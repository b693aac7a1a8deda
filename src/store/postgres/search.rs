//! Similar sessions, document frequencies and snippets on PostgreSQL's
//! search vectors (`sessions.search`, kept by the triggers of migration
//! 0007; weighed A–D by part).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use uuid::Uuid;

use super::PostgresStore;
use super::engine::PgConn;
use super::pool::Pool;
use crate::domain::{ListQuery, MATCH_END, MATCH_START, Session, SimilarQuery};
use crate::store::sessions::{self, SESSION_COLUMNS, session};
use crate::store::{SIMILAR_WINDOW, SearchStore, StoreError};

// Statements whose best plan depends on the words searched for run
// unprepared (`persistent(false)`), so PostgreSQL plans each for its words.
// A prepared statement switches to a generic plan after five runs, and that
// plan, blind to the words, asks the text index for every match: for a
// common word, 17 ms instead of 2 ms (EXPLAIN in docs/BENCHMARKS-postgres.md).
// Planning each costs far less than that.

/// Any of the words, each whole. Words are letters and digits only (see
/// `SimilarityWords`), so they are safe in a tsquery.
fn any_of(terms: &[String]) -> String {
    terms.join(" | ")
}

/// The words in at least [`Self::COMMON`] sessions by ANALYZE's statistics
/// (the search column's most common elements, their frequencies times the
/// table's rows), read again when older than [`Self::LIFETIME`]: the
/// statistics change only when ANALYZE runs, and reading `pg_stats` costs
/// about a millisecond of planning.
#[derive(Default)]
pub(super) struct CommonWords(Mutex<Option<(Instant, CommonCounts)>>);

type CommonCounts = Arc<HashMap<String, u64>>;

impl CommonWords {
    const COMMON: f64 = 1_000.0;
    const LIFETIME: Duration = Duration::from_secs(60);

    async fn get(&self, pool: &Pool) -> Result<CommonCounts, StoreError> {
        if let Some((at, words)) = &*self.0.lock().unwrap_or_else(|e| e.into_inner()) {
            if at.elapsed() < Self::LIFETIME {
                return Ok(words.clone());
            }
        }
        let mut conn = pool.acquire().await?;
        let rows = sqlx::query_as(
            "select w, (f * greatest(c.reltuples, 0))::float8 \
             from pg_stats s, pg_class c, \
                  unnest(s.most_common_elems::text::text[], s.most_common_elem_freqs) as m(w, f) \
             where s.schemaname = current_schema() and s.tablename = 'sessions' \
               and s.attname = 'search' and c.oid = 'sessions'::regclass and w is not null",
        )
        .fetch_all(&mut *conn)
        .await;
        let rows: Vec<(String, f64)> = conn.release(rows.map_err(StoreError::from))?;
        let words: HashMap<String, u64> = rows
            .into_iter()
            .filter(|(_, n)| *n >= Self::COMMON)
            .map(|(w, n)| (w, n.round() as u64))
            .collect();
        let words = Arc::new(words);
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), words.clone()));
        Ok(words)
    }
}

#[async_trait]
impl SearchStore for PostgresStore {
    async fn similar(&self, query: &SimilarQuery) -> Result<Vec<Session>, StoreError> {
        if query.terms.is_empty() {
            return Ok(Vec::new());
        }
        // The newest matches (at most SIMILAR_WINDOW) ranked by ts_rank,
        // then the completed ones other than the excluded session.
        let sql = format!(
            "select {SESSION_COLUMNS} from ( \
                 select id, ts_rank(search, q) as score \
                 from sessions, to_tsquery('simple', $1) q where search @@ q \
                 order by created_at desc, id desc limit $2 \
             ) m join sessions s using (id) \
             where completed_at is not null and id is distinct from $3 \
             order by m.score desc, created_at desc limit $4"
        );
        let mut conn = self.pool.acquire().await?;
        let rows = sqlx::query(&sql)
            .persistent(false)
            .bind(any_of(&query.terms))
            .bind(i64::from(SIMILAR_WINDOW))
            .bind(query.excluding)
            .bind(i64::from(query.limit))
            .fetch_all(&mut *conn)
            .await?;
        let mut items = rows
            .iter()
            .map(|row| session(row))
            .collect::<Result<Vec<Session>, _>>()?;
        sessions::load_steps(&mut PgConn(&mut conn), &mut items).await?;
        conn.release(Ok(items))
    }

    async fn term_counts(&self, words: &[String]) -> Result<Vec<u64>, StoreError> {
        // Counting a common word reads every session that holds it (40–80
        // ms for a word in a tenth of 100,000 sessions), so common words are
        // taken from ANALYZE's statistics; the rarer words, which decide a
        // ranking, are counted exactly, and that is quick.
        let common = self.common_words.get(&self.pool).await?;
        let mut counts: Vec<Option<u64>> = words.iter().map(|w| common.get(w).copied()).collect();
        let rare: Vec<&String> = words
            .iter()
            .zip(&counts)
            .filter(|(_, n)| n.is_none())
            .map(|(w, _)| w)
            .collect();
        if !rare.is_empty() {
            let mut conn = self.pool.acquire().await?;
            let exact = sqlx::query_as(
                "select w, (select count(*) from sessions where search @@ to_tsquery('simple', w)) \
                 from unnest($1::text[]) with ordinality as t(w, i) order by i",
            )
            .bind(&rare)
            .fetch_all(&mut *conn)
            .await;
            let exact: Vec<(String, i64)> = conn.release(exact.map_err(StoreError::from))?;
            let mut exact = exact.into_iter().map(|(_, n)| n.max(0) as u64);
            for count in counts.iter_mut().filter(|n| n.is_none()) {
                *count = exact.next();
            }
        }
        Ok(counts.into_iter().map(Option::unwrap_or_default).collect())
    }

    async fn search_snippets(
        &self,
        query: &ListQuery,
        ids: &[Uuid],
    ) -> Result<Vec<(Uuid, String)>, StoreError> {
        let Some(search) = &query.search else {
            return Ok(Vec::new());
        };
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let terms: Vec<String> = search.terms().iter().map(|t| format!("{t}:*")).collect();
        let options = format!(
            "StartSel={MATCH_START}, StopSel={MATCH_END}, MaxWords=16, MinWords=6, \
             MaxFragments=1, FragmentDelimiter=\" … \""
        );
        let mut conn = self.pool.acquire().await?;
        let snippets = sqlx::query_as(
            "select id, ts_headline('simple', text, to_tsquery('simple', $1), $2) \
             from session_search_texts($3)",
        )
        .bind(terms.join(" & "))
        .bind(options)
        .bind(ids)
        .fetch_all(&mut *conn)
        .await;
        conn.release(snippets.map_err(StoreError::from))
    }
}
