-- The watchdog's pass (dispatch/watchdog.py): one process of the deployment takes each
-- pass by moving last_pass on, and the queued meldingen found on no Redis queue at the
-- last pass are kept here, so that whichever process takes the next pass confirms them.
CREATE TABLE watchdog_state (
    only_row  boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    last_pass timestamptz NOT NULL,
    -- "melding id:row version" of each: a melding queued again since (a new version) is
    -- another spell in the queue, not the same one still waiting.
    missing   text[] NOT NULL DEFAULT '{}'
);
INSERT INTO watchdog_state (last_pass) VALUES ('-infinity');
