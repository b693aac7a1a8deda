-- A one-time message for the next page a login session sees (a token just
-- created, shown once after the redirect that follows its form). It is
-- deleted as it is read, and with its login session.
create table login_flashes (
    session_id_hash text        primary key references login_sessions (id_hash) on delete cascade,
    text            text        not null,
    created_at      timestamptz not null
);
