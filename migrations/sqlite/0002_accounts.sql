-- Accounts, login sessions, API tokens, first-run setup and the sign-in
-- throttle. Times are microseconds since the Unix epoch (UTC), ids 16-byte
-- UUIDv7. Secrets are stored only as SHA-256 hashes (hex) or, for
-- passwords, as argon2id PHC strings.
create table users (
    id            blob    primary key check (length(id) = 16),
    username      text    not null unique check (length(username) between 1 and 64),
    display_name  text    not null check (length(display_name) between 1 and 100),
    password_hash text    not null,
    role          text    not null check (role in ('engineer', 'admin')),
    created_at    integer not null,
    disabled_at   integer
);

create table login_sessions (
    id_hash      text    primary key,  -- SHA-256 of the cookie's session id
    user_id      blob    not null references users (id) on delete cascade,
    csrf_token   text    not null,
    created_at   integer not null,
    last_seen_at integer not null,
    expires_at   integer not null      -- the absolute end
);
create index login_sessions_by_user on login_sessions (user_id);

create table api_tokens (
    id         blob    primary key check (length(id) = 16),
    user_id    blob    not null references users (id) on delete cascade,
    name       text    not null check (length(name) between 1 and 100),
    token_hash text    not null unique,
    created_at integer not null,
    revoked_at integer
);
create index api_tokens_by_user on api_tokens (user_id, created_at);

-- Any unused token may create the first admin; the single row of
-- setup_completed makes that happen once, whatever races.
create table setup_tokens (
    token_hash text    primary key,
    created_at integer not null
);
create table setup_completed (
    id integer primary key check (id = 1),
    at integer not null
);

-- Keys are 'user:<username>' and 'addr:<client address>'.
create table login_throttle (
    key             text    primary key,
    failures        integer not null,
    lockouts        integer not null,
    last_failure_at integer not null,
    locked_until    integer
);
