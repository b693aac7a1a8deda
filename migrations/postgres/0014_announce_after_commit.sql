-- Changes are no longer announced by a trigger inside the writing
-- transaction. NOTIFY takes one database-wide lock from before the commit
-- until the commit record is flushed, so every write that notified waited
-- for every other one's flush: about 1,000 writes a second on this machine's
-- disk, whatever the number of connections. Each process now announces
-- after its writes commit, once per burst (service::live), and listeners
-- read what changed from the timeline.
drop trigger session_events_announce on session_events;
drop function casebook_announce_change();
