-- A proposed handover can end without a takeover: the colleague it was proposed to
-- declines it, or the lead, whoever proposed it or a coordinator of the gebied withdraws
-- it. Before, an open proposal could only be accepted: one the colleague would not take
-- left the case unable to be proposed to anyone else (one open proposal per case).
ALTER TABLE case_handovers DROP CONSTRAINT case_handovers_state_check;
ALTER TABLE case_handovers
    ADD CONSTRAINT case_handovers_state_check CHECK (state IN ('open', 'accepted', 'withdrawn')),
    ADD COLUMN ended_by   text,
    ADD COLUMN ended_at   timestamptz,
    ADD COLUMN end_reason text CHECK (end_reason IS NULL OR length(end_reason) BETWEEN 5 AND 1000),
    ADD CONSTRAINT case_handovers_ended CHECK ((state = 'withdrawn') = (ended_at IS NOT NULL));
