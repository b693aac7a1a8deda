-- Owners are accounts. A session's `owner` stays its owner's username
-- (usernames never change, and the API, the filters and the search index
-- speak usernames), but from here on it always names an account.
--
-- Every owner without an account gets one: disabled, without a password
-- (an empty hash, which no password matches), shown by its username. Nobody
-- can sign in to it, and nobody can take its name: a new account with that
-- username is refused, so its sessions stay its own. An admin may set a
-- password and enable it for the person it stands for.

-- Creating an account rewrites its sessions' search documents to add the
-- display name (sessions_fts_user_insert). These accounts are shown by their
-- usernames, which the documents hold already, so the trigger is set aside
-- while they are created instead of rewriting every such session's document.
drop trigger sessions_fts_user_insert;

insert into users (id, username, display_name, password_hash, role, created_at, disabled_at)
select
    -- A UUIDv7: milliseconds since the epoch, the version, random bits with the variant.
    unhex(printf('%012x', cast(unixepoch('subsec') * 1000 as integer))
          || '7' || substr(hex(randomblob(2)), 1, 3)
          || '8' || substr(hex(randomblob(8)), 1, 15)),
    owner, owner, '', 'engineer',
    cast(unixepoch('subsec') * 1000000 as integer),
    cast(unixepoch('subsec') * 1000000 as integer)
from (select distinct owner from sessions)
where owner not in (select username from users);

create trigger sessions_fts_user_insert after insert on users
begin
    delete from sessions_fts where rowid in (select seq from sessions where owner = new.username);
    insert into sessions_fts (rowid, title, reference, customer, problem, plan, findings, notes,
                              outcome_notes, summary, owner)
    select * from session_documents
     where seq in (select seq from sessions where owner = new.username);
end;

-- The reference itself. SQLite adds a foreign key only by rebuilding the
-- table, which would have to run with foreign keys off (dropping the old
-- table would otherwise delete every step and event with it), outside this
-- migration's transaction. These triggers hold the same rule inside it:
-- no session names a missing account, and no account that owns sessions
-- goes away or changes its username. Their message is what the store
-- recognises (store::sqlite::OWNER_IS_NOT_AN_ACCOUNT).
create trigger sessions_owner_is_an_account_on_insert before insert on sessions
when not exists (select 1 from users where username = new.owner)
begin
    select raise(abort, 'sessions.owner is not an account');
end;

create trigger sessions_owner_is_an_account_on_update before update of owner on sessions
when not exists (select 1 from users where username = new.owner)
begin
    select raise(abort, 'sessions.owner is not an account');
end;

create trigger users_owning_sessions_stay_on_delete before delete on users
when exists (select 1 from sessions where owner = old.username)
begin
    select raise(abort, 'this account owns sessions');
end;

create trigger users_owning_sessions_stay_on_rename before update of username on users
when new.username is not old.username
 and exists (select 1 from sessions where owner = old.username)
begin
    select raise(abort, 'this account owns sessions');
end;
