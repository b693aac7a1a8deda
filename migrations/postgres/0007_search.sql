-- Search what was found, not only what was asked: each session's search
-- vector now holds what engineers write while working (plan steps,
-- findings, notes, outcome notes, the summary) and the owner's username and
-- display name, besides title, reference, customer and problem. It is
-- gathered from several tables, so it is kept by triggers instead of being
-- a generated column.

-- Words are runs of letters and digits, as in SearchTerms: punctuation
-- separates ("ZD-48213" is "zd" and "48213", not a negative number).
create function search_words(part text, weight "char") returns tsvector
language sql immutable as $$
    select setweight(to_tsvector('simple',
        regexp_replace(coalesce(part, ''), '[^[:alnum:]]+', ' ', 'g')), weight)
$$;

-- A session's plan, findings and notes, each as one text.
create function session_plan(session uuid) returns text
language sql stable as $$
    select string_agg(text, ' ' order by position) from session_steps where session_id = session
$$;
create function session_findings(session uuid) returns text
language sql stable as $$
    select string_agg(finding, ' ' order by position) from session_steps where session_id = session
$$;
create function session_notes(session uuid) returns text
language sql stable as $$
    select string_agg(data ->> 'text', ' ' order by at, id) from session_events
     where session_id = session and kind = 'note_added'
$$;
create function owner_names(username text) returns text
language sql stable as $$
    select username || coalesce(' ' || (select nullif(display_name, username) from users u
                                     where u.username = owner_names.username), '')
$$;

-- Weighed for ranking: A the title; B problem, reference and customer;
-- C what was planned, found and noted, and the outcome notes; D the summary
-- and the owner.
create function session_search_vector(session uuid) returns tsvector
language sql stable as $$
    select search_words(s.title, 'A') || search_words(s.problem, 'B')
        || search_words(s.reference, 'B') || search_words(s.customer, 'B')
        || search_words(session_plan(s.id), 'C') || search_words(session_findings(s.id), 'C')
        || search_words(session_notes(s.id), 'C') || search_words(s.outcome_notes, 'C')
        || search_words(s.summary, 'D') || search_words(owner_names(s.owner), 'D')
    from sessions s where s.id = session
$$;

-- The same parts as one text, for highlighting what matched.
create function session_search_text(session uuid) returns text
language sql stable as $$
    select concat_ws(' · ', s.title, nullif(s.problem, ''), s.reference, s.customer,
        session_plan(s.id), session_findings(s.id), session_notes(s.id), s.outcome_notes,
        s.summary, owner_names(s.owner))
    from sessions s where s.id = session
$$;

alter table sessions drop column search;
alter table sessions add column search tsvector not null default ''::tsvector;
update sessions set search = session_search_vector(id);
create index sessions_search on sessions using gin (search);

-- Every change to a session (its creation with its steps, a note, a step
-- checked with a finding, a closure, a summary, a reopen) appends its event
-- last, in the same transaction: that event renews the session's vector.
-- Starting changes no text.
create function sessions_search_on_event() returns trigger
language plpgsql as $$
begin
    update sessions set search = session_search_vector(new.session_id) where id = new.session_id;
    return null;
end
$$;
create trigger sessions_search_event after insert on session_events
for each row when (new.kind <> 'started') execute function sessions_search_on_event();

-- The owner's display name is part of each of their sessions' vectors.
create function sessions_search_on_user() returns trigger
language plpgsql as $$
begin
    update sessions set search = session_search_vector(id) where owner = new.username;
    return null;
end
$$;
create trigger sessions_search_user_insert after insert on users
for each row execute function sessions_search_on_user();
create trigger sessions_search_user_update after update of display_name on users
for each row execute function sessions_search_on_user();
