-- Status is derived from started_at / completed_at and never stored.
create table sessions (
    id            uuid        primary key,
    title         text        not null check (char_length(title) between 1 and 200),
    problem       text        not null default '',
    reference     text,
    customer      text,
    owner         text        not null,
    created_at    timestamptz not null,
    updated_at    timestamptz not null,
    started_at    timestamptz,
    completed_at  timestamptz,
    completed_by  text,
    outcome       varchar(20) check (outcome in (
        'resolved', 'escalated', 'workaround', 'unresolved', 'cancelled', 'resolved_externally'
    )),
    outcome_notes text check (char_length(outcome_notes) <= 4000),
    summary       text,
    -- Words are runs of letters and digits, as in SearchTerms: punctuation
    -- separates ("ZD-48213" is "zd" and "48213", not a negative number).
    search        tsvector generated always as (to_tsvector('simple', regexp_replace(
        coalesce(title, '') || ' ' || coalesce(reference, '') || ' ' ||
        coalesce(customer, '') || ' ' || coalesce(problem, ''),
        '[^[:alnum:]]+', ' ', 'g'))) stored,
    check (completed_at is null or started_at is not null),
    check ((completed_at is null) = (outcome is null))
);

-- Newest first, whole list and per status / owner / outcome: keyset scans.
create index sessions_newest on sessions (created_at desc, id desc);
create index sessions_prepared on sessions (created_at desc, id desc) where started_at is null;
create index sessions_active on sessions (created_at desc, id desc)
    where started_at is not null and completed_at is null;
create index sessions_completed on sessions (created_at desc, id desc) where completed_at is not null;
create index sessions_by_owner on sessions (owner, created_at desc, id desc);
create index sessions_by_outcome on sessions (outcome, created_at desc, id desc) where outcome is not null;
create index sessions_search on sessions using gin (search);

create table session_steps (
    id         uuid        primary key,
    session_id uuid        not null references sessions (id) on delete cascade,
    position   integer     not null,
    text       text        not null check (char_length(text) between 1 and 500),
    checked_at timestamptz,
    finding    text,
    unique (session_id, position)
);

create table session_events (
    id         uuid        primary key,
    session_id uuid        not null references sessions (id) on delete cascade,
    at         timestamptz not null,
    actor      text        not null,
    kind       text        not null,
    via        text        not null,
    data       jsonb       not null  -- the event's JSON, tagged by kind
);
create index session_events_by_session on session_events (session_id, at, id);
