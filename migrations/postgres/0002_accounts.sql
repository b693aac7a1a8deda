-- Accounts, login sessions, API tokens, first-run setup and the sign-in
-- throttle. Secrets are stored only as SHA-256 hashes (hex) or, for
-- passwords, as argon2id PHC strings.
create table users (
    id            uuid        primary key,
    username      text        not null unique check (char_length(username) between 1 and 64),
    display_name  text        not null check (char_length(display_name) between 1 and 100),
    password_hash text        not null,
    role          text        not null check (role in ('engineer', 'admin')),
    created_at    timestamptz not null,
    disabled_at   timestamptz
);

create table login_sessions (
    id_hash      text        primary key,  -- SHA-256 of the cookie's session id
    user_id      uuid        not null references users (id) on delete cascade,
    csrf_token   text        not null,
    created_at   timestamptz not null,
    last_seen_at timestamptz not null,
    expires_at   timestamptz not null      -- the absolute end
);
create index login_sessions_by_user on login_sessions (user_id);

create table api_tokens (
    id         uuid        primary key,
    user_id    uuid        not null references users (id) on delete cascade,
    name       text        not null check (char_length(name) between 1 and 100),
    token_hash text        not null unique,
    created_at timestamptz not null,
    revoked_at timestamptz
);
create index api_tokens_by_user on api_tokens (user_id, created_at);

-- Any unused token may create the first admin; the single row of
-- setup_completed makes that happen once, whatever races.
create table setup_tokens (
    token_hash text        primary key,
    created_at timestamptz not null
);
create table setup_completed (
    id integer     primary key check (id = 1),
    at timestamptz not null
);

-- Keys are 'user:<username>' and 'addr:<client address>'.
create table login_throttle (
    key             text        primary key,
    failures        integer     not null,
    lockouts        integer     not null,
    last_failure_at timestamptz not null,
    locked_until    timestamptz
);
