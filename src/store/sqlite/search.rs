//! Similar sessions, document frequencies and snippets on SQLite's FTS5
//! index (`sessions_fts`, kept by the triggers of migration 0007).

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params_from_iter};
use uuid::Uuid;

use super::SqliteStore;
use super::engine::{self, SqliteConn, at_once};
use crate::domain::{ListQuery, Session, SimilarQuery};
use crate::store::engine::Dialect;
use crate::store::sessions::{self, SESSION_COLUMNS, session};
use crate::store::{SIMILAR_WINDOW, SearchStore, StoreError};

/// bm25's weight of each column of `sessions_fts`, in its order: title,
/// reference, customer, problem, plan, findings, notes, outcome notes,
/// summary, owner. A word in the title says most about what a session was.
const COLUMN_WEIGHTS: &str = "4.0, 1.0, 1.0, 2.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5";

/// The newest matches (at most `SIMILAR_WINDOW`), ranked by bm25 (lower is
/// better), then the completed ones other than the excluded session.
fn similar_sql() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        format!(
            "select {SESSION_COLUMNS} from ( \
                 select rowid, bm25(sessions_fts, {COLUMN_WEIGHTS}) as score from sessions_fts \
                 where sessions_fts match ?1 order by rowid desc limit ?2 \
             ) m join sessions s on s.seq = m.rowid \
             where s.completed_at is not null and s.id is not ?3 \
             order by m.score, s.seq desc limit ?4"
        )
    })
}

/// Any of the words, each whole (not as a prefix). Words are letters and
/// digits only (see `SimilarityWords`), so quoting them is enough.
fn any_of(terms: &[String]) -> String {
    let quoted: Vec<String> = terms.iter().map(|t| format!("\"{t}\"")).collect();
    quoted.join(" OR ")
}

fn similar(conn: &Connection, query: &SimilarQuery) -> Result<Vec<Session>, StoreError> {
    let mut prepared = conn.prepare_cached(similar_sql())?;
    let rows = prepared.query(rusqlite::params![
        any_of(&query.terms),
        SIMILAR_WINDOW,
        query.excluding,
        query.limit
    ])?;
    let mut items = engine::all(rows, session)?;
    at_once(sessions::load_steps(&mut SqliteConn(conn), &mut items))?;
    Ok(items)
}

/// A snippet of up to 16 words from the column where the words matched best.
const SNIPPET: &str = "s.id, snippet(sessions_fts, -1, char(57344), char(57345), '…', 16)";

#[async_trait]
impl SearchStore for SqliteStore {
    async fn similar(&self, query: &SimilarQuery) -> Result<Vec<Session>, StoreError> {
        if query.terms.is_empty() {
            return Ok(Vec::new());
        }
        self.db.index_queued().await?;
        let query = query.clone();
        self.db.read(move |conn| similar(conn, &query)).await
    }

    async fn term_counts(&self, words: &[String]) -> Result<Vec<u64>, StoreError> {
        self.db.index_queued().await?;
        let words = words.to_vec();
        self.db
            .read(move |conn| {
                let mut count =
                    conn.prepare_cached("select doc from sessions_fts_terms where term = ?")?;
                words
                    .iter()
                    .map(|word| {
                        let docs: Option<i64> =
                            count.query_row([word], |row| row.get(0)).optional()?;
                        Ok(docs.unwrap_or(0).max(0) as u64)
                    })
                    .collect()
            })
            .await
    }

    async fn search_snippets(
        &self,
        query: &ListQuery,
        _ids: &[Uuid],
    ) -> Result<Vec<(Uuid, String)>, StoreError> {
        if query.search.is_none() {
            return Ok(Vec::new());
        }
        // The page's own statement again, with the snippet in place of the
        // columns: FTS5 makes a snippet only for a row its match found, and
        // finding given rows again by id costs a whole match per row.
        self.db.index_queued().await?;
        let query = query.clone();
        self.db
            .read(move |conn| {
                let terms = sessions::search_terms(Dialect::Sqlite, &query);
                let list = sessions::list_statement(Dialect::Sqlite, &query, terms.as_deref());
                let sql = list.sql.replacen(SESSION_COLUMNS, SNIPPET, 1);
                Ok(conn
                    .prepare_cached(&sql)?
                    .query_map(params_from_iter(&list.args), |row| {
                        Ok((row.get::<_, Uuid>(0)?, row.get::<_, String>(1)?))
                    })?
                    .collect::<Result<Vec<_>, _>>()?)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    fn schema() -> Connection {
        crate::store::sqlite::migrate::in_memory()
    }

    /// Rows of the index's own storage, which every replaced document adds to.
    fn index_writes(conn: &Connection) -> (i64, String) {
        let data = conn
            .query_row("select count(*) from sessions_fts_data", [], |r| r.get(0))
            .unwrap();
        let block = conn
            .query_row(
                "select group_concat(hex(block)) from sessions_fts_data",
                [],
                |r| r.get(0),
            )
            .unwrap();
        (data, block)
    }

    /// An event, and the indexer's turn after it.
    fn event(conn: &mut Connection, kind: &str, data: &str) {
        conn.execute(
            "insert into session_events (id, session_id, at, actor, kind, via, data) \
             select randomblob(16), id, 2, 'dana', ?1, 'api', ?2 from sessions",
            [kind, data],
        )
        .unwrap();
        super::super::search_queue::index_batch(conn).unwrap();
    }

    #[test]
    fn an_event_that_changes_no_text_leaves_the_index_untouched() {
        let mut conn = schema();
        conn.execute_batch(
            "insert into users (id, username, display_name, password_hash, role, created_at) \
             values (randomblob(16), 'dana', 'Dana Kim', 'x', 'engineer', 1); \
             insert into sessions (id, title, owner, created_at, updated_at) \
             values (randomblob(16), 'VPN drops', 'dana', 1, 1); \
             insert into session_steps (id, session_id, position, text) \
             select randomblob(16), id, 1, 'Check the tunnel' from sessions;",
        )
        .unwrap();
        event(&mut conn, "created", r#"{"kind":"created"}"#);
        let found = |conn: &Connection, word: &str| -> i64 {
            conn.query_row(
                "select count(*) from sessions_fts where sessions_fts match ?",
                [word],
                |r| r.get(0),
            )
            .unwrap()
        };
        assert_eq!(found(&conn, "tunnel"), 1);
        let before = index_writes(&conn);
        conn.execute_batch("update session_steps set checked_at = 2")
            .unwrap();
        event(
            &mut conn,
            "step_checked",
            r#"{"kind":"step_checked","finding":null}"#,
        );
        assert_eq!(index_writes(&conn), before, "nothing to replace");
        conn.execute_batch("update session_steps set finding = 'rekey at 3600 s'")
            .unwrap();
        event(
            &mut conn,
            "step_checked",
            r#"{"kind":"step_checked","finding":"x"}"#,
        );
        assert_ne!(index_writes(&conn), before);
        assert_eq!(found(&conn, "rekey"), 1);
        assert_eq!(found(&conn, "tunnel"), 1);
    }

    #[test]
    fn merging_the_index_ends_and_every_document_is_still_found() {
        let mut conn = schema();
        conn.execute_batch(
            "insert into users (id, username, display_name, password_hash, role, created_at) \
             values (randomblob(16), 'dana', 'Dana Kim', 'x', 'engineer', 1);",
        )
        .unwrap();
        // A batch per session: a segment each.
        for n in 0..40 {
            conn.execute(
                "insert into sessions (id, title, owner, created_at, updated_at) \
                 values (randomblob(16), ?1, 'dana', 1, 1)",
                [format!("tunnel {n} drops")],
            )
            .unwrap();
            conn.execute(
                "insert into session_events (id, session_id, at, actor, kind, via, data) \
                 select randomblob(16), id, 2, 'dana', 'created', 'api', '{}' \
                 from sessions where seq = last_insert_rowid()",
                [],
            )
            .unwrap();
            super::super::search_queue::index_batch(&mut conn).unwrap();
        }
        let segments = |conn: &Connection| -> i64 {
            conn.query_row(
                "select count(distinct segid) from sessions_fts_idx",
                [],
                |r| r.get(0),
            )
            .unwrap()
        };
        // Each batch merges a few pages where segments pile up (FTS5's own
        // merging is off): 40 batches leave one segment here, and ten
        // without those steps.
        let after_batches = segments(&conn);
        assert!(
            after_batches <= 4,
            "{after_batches} segments after 40 batches"
        );
        let merge = super::super::search_queue::merge_step;
        let steps = (0..1000)
            .take_while(|_| merge(&mut conn).unwrap() == 1)
            .count();
        assert!(steps < 1000, "merging never ended");
        assert_eq!(segments(&conn), 1, "merged into one");
        let found: i64 = conn
            .query_row(
                "select count(*) from sessions_fts where sessions_fts match 'tunnel'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(found, 40);
    }
}
