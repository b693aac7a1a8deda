-- A step skipped while working; checking or unchecking it again clears this.
alter table session_steps add column skipped_at timestamptz;
