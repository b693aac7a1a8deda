-- The search index merges its segments in small steps that the indexer
-- takes after each batch (search_queue::index_batch), instead of FTS5's
-- automatic merging. FTS5 merged automatically every 64 leaf pages
-- written, in one piece: one batch in a hundred held the writer for
-- 20-35 ms instead of one, and every write queued behind it. Merging
-- 16 pages after each batch spreads the same work out (docs/BENCHMARKS.md).
insert into sessions_fts (sessions_fts, rank) values ('automerge', 0);
