-- The search index is brought up to date off the write path. Replacing a
-- session's document in FTS5 (re-reading the old text to unindex it, then
-- indexing the new one, four times over for the prefix indexes, and a new
-- index segment per transaction) cost a completion more than everything
-- else it does. Now a change only queues the session, and the store's
-- indexer replaces the queued documents in batches, one transaction each;
-- a search first indexes what is queued, so it always sees every change.
create table sessions_fts_pending (
    seq integer primary key
);

drop trigger sessions_fts_event;
drop trigger sessions_fts_update;
drop trigger sessions_fts_delete;
drop trigger sessions_fts_user_insert;
drop trigger sessions_fts_user_update;

-- Starting changes no text; every other event may (the indexer compares
-- before it replaces, since replacing costs far more than comparing).
create trigger sessions_fts_event after insert on session_events
when new.kind <> 'started'
begin
    insert or ignore into sessions_fts_pending (seq)
    select seq from sessions where id = new.session_id;
end;

create trigger sessions_fts_update after update of title, reference, customer, problem, owner
    on sessions
begin
    insert or ignore into sessions_fts_pending (seq) values (new.seq);
end;

-- A deleted session's document goes at once: its text is gone.
create trigger sessions_fts_delete after delete on sessions
begin
    delete from sessions_fts where rowid = old.seq;
    delete from sessions_fts_pending where seq = old.seq;
end;

-- The owner's display name is part of each of their sessions' documents.
create trigger sessions_fts_user_insert after insert on users
begin
    insert or ignore into sessions_fts_pending (seq)
    select seq from sessions where owner = new.username;
end;

create trigger sessions_fts_user_update after update of display_name on users
begin
    insert or ignore into sessions_fts_pending (seq)
    select seq from sessions where owner = new.username;
end;
