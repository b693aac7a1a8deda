-- Runbooks: named, reusable plans (ordered steps) with an optional problem
-- template. Times are microseconds since the Unix epoch (UTC), ids 16-byte
-- UUIDv7. A retired runbook is kept (sessions may have started from it) but
-- no longer offered.
create table runbooks (
    id                blob    primary key check (length(id) = 16),
    name              text    not null check (length(name) between 1 and 200),
    problem           text    not null default '',
    steps             text    not null,  -- JSON array of the step texts, in order
    created_by        text    not null,
    source_session_id blob    check (length(source_session_id) = 16),
    created_at        integer not null,
    updated_at        integer not null,
    retired_at        integer
);
create index runbooks_by_name on runbooks (name);

-- Reports select sessions by when they were opened and when they were
-- closed; with the columns they count by, unfiltered reports read only these
-- indexes, never the table.
create index sessions_opened_for_reports on sessions (created_at, customer, outcome);
create index sessions_closed_for_reports on sessions (completed_at, created_at, outcome)
    where completed_at is not null;
