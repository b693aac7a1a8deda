-- The live change feed (service::live). Every timeline event gets a place in
-- one order shared by every Casebook process: the id a stream sends with it,
-- so a client that reconnects to another process can say where it stopped.
alter table session_events add column seq bigserial;
create unique index session_events_by_seq on session_events (seq);

-- What the feed reads, the same on both databases.
create view session_changes as select seq, session_id, at from session_events;

-- Announced at commit (NOTIFY is transactional): a change that rolls back is
-- never announced, and every process listening hears every committed one.
create function casebook_announce_change() returns trigger language plpgsql as $$
begin
    perform pg_notify('casebook_changes', new.seq::text || ' ' || new.session_id::text);
    return null;
end
$$;
create trigger session_events_announce after insert on session_events
    for each row execute function casebook_announce_change();
