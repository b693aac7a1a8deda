-- Closing a session renews its search vector by appending the closing
-- words, instead of computing the whole vector again.
--
-- The row trigger of 0016 computed the whole vector on every completion:
-- three reads (the plan, the notes, the owner's name) and ten parts, a
-- fifth of a completion's cost. The words a completion or a summary adds
-- now come last in the vector (owner's words before them, where they were
-- after), so when the row had no outcome notes and no summary before, the
-- vector is the old one with the new words appended: exactly what the
-- whole computation gives, since a tsvector concatenation shifts the right
-- part's positions past the left's. Any other change is computed whole.

create or replace function session_row_search_vector(s sessions) returns tsvector
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
        || search_words(notes, 'C') || search_words(coalesce(owner, s.owner), 'D')
        || search_words(s.outcome_notes, 'C') || search_words(s.summary, 'D');
end
$$;

create or replace function sessions_search_on_row_update() returns trigger
language plpgsql as $$
begin
    if (old.title, old.problem, old.reference, old.customer, old.owner)
           is not distinct from
           (new.title, new.problem, new.reference, new.customer, new.owner)
       and coalesce(old.summary, '') = '' then
        if coalesce(old.outcome_notes, '') = '' then
            new.search := old.search || search_words(new.outcome_notes, 'C')
                                     || search_words(new.summary, 'D');
            return new;
        elsif old.outcome_notes = new.outcome_notes then
            new.search := old.search || search_words(new.summary, 'D');
            return new;
        end if;
    end if;
    new.search := session_row_search_vector(new);
    return new;
end
$$;

-- Vectors with closing words were built in the old order.
update sessions set search = session_row_search_vector(sessions)
 where coalesce(outcome_notes, '') <> '' or coalesce(summary, '') <> '';
