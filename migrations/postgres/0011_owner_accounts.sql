-- Owners are accounts. A session's `owner` stays its owner's username
-- (usernames never change, and the API, the filters and the search index
-- speak usernames), but from here on it always names an account: a foreign
-- key to users (username).
--
-- Every owner without an account gets one: disabled, without a password
-- (an empty hash, which no password matches), shown by its username. Nobody
-- can sign in to it, and nobody can take its name: a new account with that
-- username is refused, so its sessions stay its own. An admin may set a
-- password and enable it for the person it stands for.

-- Creating an account renews its sessions' search vectors to add the
-- display name (sessions_search_user_insert). These accounts are shown by
-- their usernames, which the vectors hold already, so the trigger is set
-- aside while they are created instead of rewriting every such session.
alter table users disable trigger sessions_search_user_insert;

insert into users (id, username, display_name, password_hash, role, created_at, disabled_at)
select
    -- A UUIDv7: milliseconds since the epoch over a random UUID's first
    -- six bytes, and its version bits turned from 4 into 7.
    encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
        placing substring(int8send(floor(extract(epoch from clock_timestamp()) * 1000)::bigint) from 3)
        from 1 for 6), 52, 1), 53, 1), 'hex')::uuid,
    o.owner, o.owner, '', 'engineer', now(), now()
from (select distinct owner from sessions) o
where not exists (select 1 from users u where u.username = o.owner);

alter table users enable trigger sessions_search_user_insert;

-- sessions_by_owner (owner, …) serves the key's checks when an account changes.
alter table sessions add constraint sessions_owner_is_an_account
    foreign key (owner) references users (username);
