-- A melding closed by hand before first contact (dispatch/manual.py, close): a second
-- report of what a waiting melding already says, one that needs nothing after triage, or
-- one that another organisation has taken on. It leaves the werkvoorraad, the queue and
-- the deadlines; its offer or assignment is withdrawn; the outcome and who closed it
-- stay (the reason, written by a person, is erased with the case's other texts).
ALTER TABLE meldingen DROP CONSTRAINT meldingen_status_check;
ALTER TABLE meldingen ADD CONSTRAINT meldingen_status_check
    CHECK (status IN ('queued', 'offered', 'assigned', 'contacted', 'advies', 'escalated',
                      'closed'));
ALTER TABLE meldingen
    ADD COLUMN closed_at timestamptz,
    ADD COLUMN closed_by text,
    ADD COLUMN close_outcome text
        CHECK (close_outcome IN ('dubbel', 'geen_vervolg', 'elders_belegd')),
    ADD COLUMN close_reason text CHECK (length(close_reason) <= 1000),
    ADD CONSTRAINT meldingen_closed_when
        CHECK ((status = 'closed') = (closed_at IS NOT NULL AND close_outcome IS NOT NULL));
