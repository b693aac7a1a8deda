//! Similar sessions, document frequencies and snippets on PostgreSQL's
//! search vectors (`sessions.search`, kept by the triggers of migration
//! 0007; weighed A–D by part).

use async_trait::async_trait;
use uuid::Uuid;

use super::{PostgresStore, SESSION_COLUMNS, SessionRow, attach_steps, load_steps};
use crate::domain::{ListQuery, MATCH_END, MATCH_START, Session, SimilarQuery};
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

/// Words in at least this many sessions (by the statistics) are not counted
/// one by one.
const COMMON: u64 = 1_000;

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
             ) m join sessions using (id) \
             where completed_at is not null and id is distinct from $3 \
             order by m.score desc, created_at desc limit $4"
        );
        let mut conn = self.pool.acquire().await?;
        let rows: Vec<SessionRow> = sqlx::query_as(&sql)
            .persistent(false)
            .bind(any_of(&query.terms))
            .bind(i64::from(SIMILAR_WINDOW))
            .bind(query.excluding)
            .bind(i64::from(query.limit))
            .fetch_all(&mut *conn)
            .await?;
        let mut items: Vec<Session> = rows.into_iter().map(Session::from).collect();
        let ids: Vec<Uuid> = items.iter().map(|s| s.id).collect();
        let steps = load_steps(&mut conn, &ids).await?;
        attach_steps(&mut items, steps);
        Ok(items)
    }

    async fn term_counts(&self, words: &[String]) -> Result<Vec<u64>, StoreError> {
        // Counting a common word reads every session that holds it (40–80
        // ms for a word in a tenth of 100,000 sessions), so common words are
        // taken from the statistics ANALYZE keeps (the search column's most
        // common elements and their frequencies); the rarer words, which
        // decide a ranking, are counted exactly, and that is quick.
        let estimated: Vec<(String, Option<f64>)> = sqlx::query_as(
            "with stats as ( \
                 select most_common_elems::text::text[] as elems, most_common_elem_freqs as freqs \
                 from pg_stats where schemaname = current_schema() \
                 and tablename = 'sessions' and attname = 'search' \
             ), total as (select reltuples from pg_class where oid = 'sessions'::regclass) \
             select w, ((select freqs[array_position(elems, w)] from stats) \
                        * (select reltuples from total))::float8 \
             from unnest($1::text[]) with ordinality as t(w, i) order by i",
        )
        .bind(words)
        .fetch_all(&self.pool)
        .await?;
        let mut counts: Vec<Option<u64>> = estimated
            .into_iter()
            .map(|(_, n)| n.filter(|n| *n >= COMMON as f64).map(|n| n.round() as u64))
            .collect();
        let rare: Vec<&String> = words
            .iter()
            .zip(&counts)
            .filter(|(_, n)| n.is_none())
            .map(|(w, _)| w)
            .collect();
        if !rare.is_empty() {
            let exact: Vec<(String, i64)> = sqlx::query_as(
                "select w, (select count(*) from sessions where search @@ to_tsquery('simple', w)) \
                 from unnest($1::text[]) with ordinality as t(w, i) order by i",
            )
            .persistent(false)
            .bind(&rare)
            .fetch_all(&self.pool)
            .await?;
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
        let snippets = sqlx::query_as(
            "select id, ts_headline('simple', text, to_tsquery('simple', $1), $2) \
             from session_search_texts($3)",
        )
        .bind(terms.join(" & "))
        .bind(options)
        .bind(ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(snippets)
    }
}
