-- Runbooks: named, reusable plans (ordered steps) with an optional problem
-- template. A retired runbook is kept (sessions may have started from it) but
-- no longer offered.
create table runbooks (
    id                uuid        primary key,
    name              text        not null check (char_length(name) between 1 and 200),
    problem           text        not null default '',
    steps             text[]      not null,
    created_by        text        not null,
    source_session_id uuid,
    created_at        timestamptz not null,
    updated_at        timestamptz not null,
    retired_at        timestamptz
);
create index runbooks_by_name on runbooks (name);

-- Reports select sessions by when they were opened and when they were
-- closed; with the columns they count by, unfiltered reports can read only
-- these indexes.
create index sessions_opened_for_reports on sessions (created_at) include (customer, outcome);
create index sessions_closed_for_reports on sessions (completed_at) include (created_at, outcome)
    where completed_at is not null;
