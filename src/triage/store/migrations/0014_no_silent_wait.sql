-- No melding waits silently (dispatch/offer.py, dispatch/watchdog.py).
--
-- A melding that nobody is left to offer to (everyone on duty and the whole escalation
-- chain declined it or let its offer expire) is 'escalated': the chain's people are
-- told by name and have until escalated_until to act (reassign it, move it). Then a new
-- round of offers starts at round_from, in which the declines and expiries from before
-- no longer count: it is offered again from the top, never dropped.
ALTER TABLE meldingen DROP CONSTRAINT meldingen_status_check;
ALTER TABLE meldingen ADD CONSTRAINT meldingen_status_check
    CHECK (status IN ('queued', 'offered', 'assigned', 'contacted', 'advies', 'escalated'));
ALTER TABLE meldingen ADD COLUMN round_from timestamptz;
ALTER TABLE meldingen ADD COLUMN escalated_until timestamptz;
ALTER TABLE meldingen ADD CONSTRAINT meldingen_escalated_until
    CHECK (status <> 'escalated' OR escalated_until IS NOT NULL);
CREATE INDEX meldingen_escalated ON meldingen (escalated_until) WHERE status = 'escalated';

-- An escalated melding waits for first contact like a queued one: deadlines watch it.
DROP INDEX meldingen_waiting;
CREATE INDEX meldingen_waiting ON meldingen (respond_before)
    WHERE status IN ('queued', 'offered', 'assigned', 'escalated');

-- Escalations name everyone told (all coordinators of the gebied, not only the first),
-- and a melding can be escalated for want of a candidate once per round.
ALTER TABLE escalations DROP CONSTRAINT escalations_kind_check;
ALTER TABLE escalations ADD CONSTRAINT escalations_kind_check
    CHECK (kind IN ('at_risk', 'breached', 'no_candidate'));
ALTER TABLE escalations ADD COLUMN told text[] NOT NULL DEFAULT '{}';
ALTER TABLE escalations ADD COLUMN until timestamptz;
ALTER TABLE escalations DROP CONSTRAINT escalations_melding_id_kind_key;
CREATE UNIQUE INDEX escalations_once ON escalations (melding_id, kind)
    WHERE kind IN ('at_risk', 'breached');
UPDATE escalations SET told = ARRAY[coordinator];
