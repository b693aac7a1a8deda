-- A session's search vector, computed by PL/pgSQL instead of SQL.
--
-- The vector is renewed by a trigger on every event (0007). Called from the
-- trigger's UPDATE, the SQL function was parsed and planned again on every
-- call (PostgreSQL keeps a SQL function's plan only for the one statement
-- that calls it): about 1 ms of the database's CPU per write on this
-- machine, more than the rest of a completion. PL/pgSQL keeps each of its
-- statements' plans for as long as the connection lives: 0.18 ms.
--
-- The same parts, weights and words as 0013; only the way they are read
-- differs. (owner_names and session_search_parts stay: the search texts,
-- read once per page of results, still use them.)
create or replace function session_search_vector(session uuid) returns tsvector
language plpgsql stable as $$
declare
    s        sessions;
    plan     text;
    findings text;
    notes    text;
    owner    text;
begin
    select * into s from sessions where id = session;
    select string_agg(t.text, ' ' order by t.position),
           string_agg(t.finding, ' ' order by t.position)
      into plan, findings
      from session_steps t where t.session_id = session;
    select string_agg(e.data ->> 'text', ' ' order by e.at, e.id)
      into notes
      from session_events e where e.session_id = session and e.kind = 'note_added';
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
