-- The live change feed (service::live). SQLite has one writer at a time, so
-- the rowid of the timeline already follows commit order: it is the id a
-- stream sends with each change. What the feed reads, the same on both databases.
create view session_changes as select rowid as seq, session_id, at from session_events;
