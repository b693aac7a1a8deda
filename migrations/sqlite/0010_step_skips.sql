-- A step skipped while working (microseconds since the epoch); checking or
-- unchecking it again clears this.
alter table session_steps add column skipped_at integer;
