-- Outbound webhooks: the receivers an admin registered, and the outbox of
-- deliveries. A delivery row is written in the same transaction as the
-- session change it announces, so a crash never loses or invents one; a
-- background worker sends the pending ones. Times are microseconds since
-- the Unix epoch.
create table webhooks (
    id         blob    primary key check (length(id) = 16),
    url        text    not null check (length(url) between 1 and 2000),
    -- The HMAC key deliveries are signed with. Kept as is: signing needs it.
    secret     text    not null,
    -- Comma-separated event kinds; null: every kind.
    events     text,
    active     integer not null default 1 check (active in (0, 1)),
    created_at integer not null,
    created_by text    not null
);

create table webhook_deliveries (
    event_id         blob    not null,
    webhook_id       blob    not null references webhooks (id) on delete cascade,
    session_id       blob    not null,
    event            text    not null,  -- the event kind
    -- The session as it was right after the change (JSON).
    session          text    not null,
    created_at       integer not null,
    state            text    not null default 'pending'
                     check (state in ('pending', 'delivered', 'failed')),
    attempts         integer not null default 0,
    -- When a pending delivery is due; a worker sending it moves this past
    -- the attempt's end, so no other worker takes it meanwhile.
    next_attempt_at  integer not null,
    last_attempt_at  integer,
    last_status      integer,
    last_excerpt     text,
    last_duration_ms integer,
    primary key (event_id, webhook_id)
) without rowid;

create index webhook_deliveries_due on webhook_deliveries (next_attempt_at)
    where state = 'pending';
create index webhook_deliveries_by_webhook on webhook_deliveries (webhook_id, created_at);
