-- Warm handover of a case's lead ("ik laat niet los voordat een ander overneemt"): the
-- lead (or a coordinator) proposes a colleague; the case stays with its lead until that
-- colleague accepts. At most one open proposal per case.
CREATE TABLE case_handovers (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id      uuid NOT NULL REFERENCES cases,
    from_lead    text,
    to_lead      text NOT NULL,
    requested_by text NOT NULL,
    requested_at timestamptz NOT NULL,
    reason       text NOT NULL CHECK (length(reason) BETWEEN 5 AND 1000),
    state        text NOT NULL CHECK (state IN ('open', 'accepted')),
    accepted_at  timestamptz,
    CHECK ((state = 'accepted') = (accepted_at IS NOT NULL))
);
CREATE UNIQUE INDEX case_handovers_one_open ON case_handovers (case_id) WHERE state = 'open';
