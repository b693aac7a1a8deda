-- A change that touches only the session's own row renews its search
-- vector in that row's update, instead of in a second update after the
-- event.
--
-- The trigger on session_events (0007) updated the session again after
-- every event but a start: a second version of the row, and a second entry
-- in each of the table's dozen indexes (the search vector is indexed, so
-- the update is never HOT), in every write's transaction. A completion, a
-- reopening, a summary and a reassignment change nothing of the vector but
-- the row's own columns (outcome notes, summary, owner), so a trigger
-- before the row's update now computes the vector there, from the new row.
-- The events whose words live outside the row, or are written after the
-- row's update (creation, notes, steps, an edit's plan), still renew it
-- after the event, as before.
--
-- The same parts, weights and words as 0015: session_search_vector(uuid)
-- now reads the row and hands it to session_row_search_vector.

create function session_row_search_vector(s sessions) returns tsvector
language plpgsql stable as $$
declare
    plan     text;
    findings text;
    notes    text;
    owner    text;
begin
    select string_agg(t.text, ' ' order by t.position),
           string_agg(t.finding, ' ' order by t.position)
      into plan, findings
      from session_steps t where t.session_id = s.id;
    select string_agg(e.data ->> 'text', ' ' order by e.at, e.id)
      into notes
      from session_events e where e.session_id = s.id and e.kind = 'note_added';
    select s.owner || coalesce(' ' || nullif(u.display_name, s.owner), '')
      into owner
      from users u where u.username = s.owner;
    return search_words(s.title, 'A') || search_words(s.problem, 'B')
        || search_words(s.reference, 'B') || search_words(s.customer, 'B')
        || search_words(plan, 'C') || search_words(findings, 'C')
        || search_words(notes, 'C') || search_words(s.outcome_notes, 'C')
        || search_words(s.summary, 'D') || search_words(coalesce(owner, s.owner), 'D');
end
$$;

create or replace function session_search_vector(session uuid) returns tsvector
language plpgsql stable as $$
declare
    s sessions;
begin
    select * into s from sessions where id = session;
    return session_row_search_vector(s);
end
$$;

create function sessions_search_on_row_update() returns trigger
language plpgsql as $$
begin
    new.search := session_row_search_vector(new);
    return new;
end
$$;

create trigger sessions_search_row before update of
    title, problem, reference, customer, outcome_notes, summary, owner on sessions
for each row when ((old.title, old.problem, old.reference, old.customer, old.outcome_notes,
                    old.summary, old.owner)
                   is distinct from
                   (new.title, new.problem, new.reference, new.customer, new.outcome_notes,
                    new.summary, new.owner))
execute function sessions_search_on_row_update();

drop trigger sessions_search_event on session_events;
create trigger sessions_search_event after insert on session_events
for each row when (new.kind not in ('started', 'completed', 'reopened', 'summary_generated',
                                    'owner_changed'))
execute function sessions_search_on_event();
