-- Search what was found, not only what was asked: the full-text index now
-- holds, per session, what engineers write while working (plan steps,
-- findings, notes, outcome notes, the summary) and the owner's username and
-- display name, besides title, reference, customer and problem.
--
-- The index keeps its own copy of each session's text (a regular FTS5
-- table, not an external-content one): a session's document is gathered
-- from several tables, and replacing it needs the text it was indexed with.
drop trigger sessions_fts_insert;
drop trigger sessions_fts_delete;
drop trigger sessions_fts_update;
drop table sessions_fts;

create virtual table sessions_fts using fts5 (
    title, reference, customer, problem, plan, findings, notes, outcome_notes, summary, owner,
    tokenize = 'unicode61 remove_diacritics 2',
    -- Search words match as prefixes; short prefixes get their own index.
    prefix = '2 3 4'
);

-- A session's searchable text, one column per part, as the index holds it.
create view session_documents as
select
    s.seq,
    s.title,
    s.reference,
    s.customer,
    s.problem,
    (select group_concat(text, char(10) order by position)
       from session_steps where session_id = s.id) as plan,
    (select group_concat(finding, char(10) order by position)
       from session_steps where session_id = s.id and finding is not null) as findings,
    (select group_concat(json_extract(data, '$.text'), char(10) order by at, id)
       from session_events where session_id = s.id and kind = 'note_added') as notes,
    s.outcome_notes,
    s.summary,
    s.owner || coalesce(' ' || (select nullif(display_name, s.owner) from users
                                  where username = s.owner), '')
        as owner
from sessions s;

-- Existing sessions: the whole index at once.
insert into sessions_fts (rowid, title, reference, customer, problem, plan, findings, notes,
                          outcome_notes, summary, owner)
select * from session_documents;

-- Every change to a session (its creation with its steps, a note, a step
-- checked with a finding, a closure, a summary, a reopen) appends its event
-- last, in the same transaction: that event replaces the session's document,
-- unless its text is as it was (a check without a finding, a close without
-- notes): replacing a document costs FTS5 far more than comparing it.
-- Starting changes no text.
create trigger sessions_fts_event after insert on session_events
when new.kind <> 'started'
begin
    delete from sessions_fts
     where rowid = (select seq from sessions where id = new.session_id)
       and not exists (
           select 1 from session_documents d, sessions_fts f
            where d.seq = (select seq from sessions where id = new.session_id)
              and f.rowid = d.seq
              and (f.title, f.reference, f.customer, f.problem, f.plan, f.findings, f.notes,
                   f.outcome_notes, f.summary, f.owner)
               is (d.title, d.reference, d.customer, d.problem, d.plan, d.findings, d.notes,
                   d.outcome_notes, d.summary, d.owner));
    insert into sessions_fts (rowid, title, reference, customer, problem, plan, findings, notes,
                              outcome_notes, summary, owner)
    select * from session_documents d
     where d.seq = (select seq from sessions where id = new.session_id)
       and not exists (select 1 from sessions_fts where rowid = d.seq);
end;

-- Casebook never edits these in place (its changes that touch other text,
-- such as outcome notes and the summary, come with their event); anything
-- that does edit them keeps the index true.
create trigger sessions_fts_update after update of title, reference, customer, problem, owner
    on sessions
begin
    delete from sessions_fts where rowid = new.seq;
    insert into sessions_fts (rowid, title, reference, customer, problem, plan, findings, notes,
                              outcome_notes, summary, owner)
    select * from session_documents where seq = new.seq;
end;

create trigger sessions_fts_delete after delete on sessions
begin
    delete from sessions_fts where rowid = old.seq;
end;

-- The owner's display name is part of each of their sessions' documents.
create trigger sessions_fts_user_insert after insert on users
begin
    delete from sessions_fts where rowid in (select seq from sessions where owner = new.username);
    insert into sessions_fts (rowid, title, reference, customer, problem, plan, findings, notes,
                              outcome_notes, summary, owner)
    select * from session_documents
     where seq in (select seq from sessions where owner = new.username);
end;

create trigger sessions_fts_user_update after update of display_name on users
begin
    delete from sessions_fts where rowid in (select seq from sessions where owner = new.username);
    insert into sessions_fts (rowid, title, reference, customer, problem, plan, findings, notes,
                              outcome_notes, summary, owner)
    select * from session_documents
     where seq in (select seq from sessions where owner = new.username);
end;

-- Document frequencies, so the similar-sessions search can leave out the
-- words nearly every session has.
create virtual table sessions_fts_terms using fts5vocab (sessions_fts, row);
