-- A place in the live feed (session_changes.seq, the timeline's rowid) is
-- never given twice. SQLite gives a new row one more than the largest
-- rowid in the table, so deleting the newest events (a prepared session's,
-- with the session) freed their places for the next event, which streams
-- that had passed those places then never sent. The highest place ever
-- deleted is kept here; an event takes its place above both (see
-- store::webhooks::record_event).
create table session_event_places (last integer not null);
insert into session_event_places (last) values (0);
create trigger session_event_places_kept after delete on session_events
begin
    update session_event_places set last = max(last, old.rowid);
end;
