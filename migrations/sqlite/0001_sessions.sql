-- Times are microseconds since the Unix epoch (UTC); ids are 16-byte UUIDv7.
-- Status is derived from started_at / completed_at and never stored.
create table sessions (
    seq           integer primary key,   -- stable rowid for the full-text index
    id            blob    not null unique check (length(id) = 16),
    title         text    not null check (length(title) between 1 and 200),
    problem       text    not null default '',
    reference     text,
    customer      text,
    owner         text    not null,
    created_at    integer not null,
    updated_at    integer not null,
    started_at    integer,
    completed_at  integer,
    completed_by  text,
    outcome       text check (length(outcome) <= 20 and outcome in (
        'resolved', 'escalated', 'workaround', 'unresolved', 'cancelled', 'resolved_externally'
    )),
    outcome_notes text check (length(outcome_notes) <= 4000),
    summary       text,
    check (completed_at is null or started_at is not null),
    check ((completed_at is null) = (outcome is null))
);

-- Newest first is `seq desc`: the single writer inserts sessions in the order
-- they are created. The table itself is the whole list in that order; these
-- make each filter a keyset scan too.
create index sessions_prepared on sessions (seq) where started_at is null;
create index sessions_active on sessions (seq) where started_at is not null and completed_at is null;
create index sessions_completed on sessions (seq) where completed_at is not null;
create index sessions_by_owner on sessions (owner, seq);
create index sessions_by_outcome on sessions (outcome, seq) where outcome is not null;

create table session_steps (
    id         blob    primary key check (length(id) = 16),
    session_id blob    not null references sessions (id) on delete cascade,
    position   integer not null,
    text       text    not null check (length(text) between 1 and 500),
    checked_at integer,
    finding    text,
    unique (session_id, position)
);

create table session_events (
    id         blob    primary key check (length(id) = 16),
    session_id blob    not null references sessions (id) on delete cascade,
    at         integer not null,
    actor      text    not null,
    kind       text    not null,
    via        text    not null,
    data       text    not null  -- the event's JSON, tagged by kind
);
create index session_events_by_session on session_events (session_id, at, id);

-- Full-text search over what engineers type in the search box.
create virtual table sessions_fts using fts5 (
    title, reference, customer, problem,
    content = 'sessions', content_rowid = 'seq',
    tokenize = 'unicode61 remove_diacritics 2',
    -- Search words match as prefixes; short prefixes get their own index.
    prefix = '2 3 4'
);
create trigger sessions_fts_insert after insert on sessions begin
    insert into sessions_fts (rowid, title, reference, customer, problem)
    values (new.seq, new.title, new.reference, new.customer, new.problem);
end;
create trigger sessions_fts_delete after delete on sessions begin
    insert into sessions_fts (sessions_fts, rowid, title, reference, customer, problem)
    values ('delete', old.seq, old.title, old.reference, old.customer, old.problem);
end;
create trigger sessions_fts_update after update of title, reference, customer, problem on sessions begin
    insert into sessions_fts (sessions_fts, rowid, title, reference, customer, problem)
    values ('delete', old.seq, old.title, old.reference, old.customer, old.problem);
    insert into sessions_fts (rowid, title, reference, customer, problem)
    values (new.seq, new.title, new.reference, new.customer, new.problem);
end;
