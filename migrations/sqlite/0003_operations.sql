-- Which process runs a background job (the stale-session policy) while
-- several share one database: one row per job, held until `expires_at`
-- (microseconds since the Unix epoch) unless its holder renews it.
create table leases (
    name       text    primary key,
    holder     text    not null,
    expires_at integer not null
);

-- The stale-session policy looks for active sessions by their last activity.
create index sessions_active_by_activity on sessions (updated_at)
    where started_at is not null and completed_at is null;
