-- Outbound webhooks: the receivers an admin registered, and the outbox of
-- deliveries. A delivery row is written in the same transaction as the
-- session change it announces, so a crash never loses or invents one; a
-- background worker (one process at a time) sends the pending ones.
create table webhooks (
    id         uuid        primary key,
    url        text        not null check (length(url) between 1 and 2000),
    -- The HMAC key deliveries are signed with. Kept as is: signing needs it.
    secret     text        not null,
    -- The event kinds; null: every kind.
    events     text[],
    active     boolean     not null default true,
    created_at timestamptz not null,
    created_by text        not null
);

create table webhook_deliveries (
    event_id         uuid        not null,
    webhook_id       uuid        not null references webhooks (id) on delete cascade,
    session_id       uuid        not null,
    event            text        not null,  -- the event kind
    -- The session as it was right after the change (JSON).
    session          text        not null,
    created_at       timestamptz not null,
    state            text        not null default 'pending'
                     check (state in ('pending', 'delivered', 'failed')),
    attempts         integer     not null default 0,
    -- When a pending delivery is due; a worker sending it moves this past
    -- the attempt's end, so no other worker takes it meanwhile.
    next_attempt_at  timestamptz not null,
    last_attempt_at  timestamptz,
    last_status      integer,
    last_excerpt     text,
    last_duration_ms integer,
    primary key (event_id, webhook_id)
);

create index webhook_deliveries_due on webhook_deliveries (next_attempt_at)
    where state = 'pending';
create index webhook_deliveries_by_webhook on webhook_deliveries (webhook_id, created_at);
