-- Dispatch: a queued melding is offered to an on-duty specialist, who accepts (or
-- declines, or lets the offer expire, and it is offered to the next), and records the
-- first contact with the household, which meets the 24-72 hour norm for that melding.

-- queued: waiting for an offer (on a Redis queue); offered: an offer is out;
-- assigned: accepted by a specialist; contacted: first contact made.
ALTER TABLE meldingen DROP CONSTRAINT meldingen_status_check;
ALTER TABLE meldingen ADD CONSTRAINT meldingen_status_check
    CHECK (status IN ('queued', 'offered', 'assigned', 'contacted', 'advies'));
ALTER TABLE meldingen ADD COLUMN first_contact_at timestamptz;

-- The case's lead (casusregie): the specialist who accepted its first melding, until a
-- colleague takes it over.
ALTER TABLE cases ADD COLUMN lead text;

CREATE TABLE assignments (
    id             uuid PRIMARY KEY,
    melding_id     uuid NOT NULL REFERENCES meldingen,
    case_id        uuid NOT NULL REFERENCES cases,
    specialist     text NOT NULL,
    gebied         text NOT NULL,
    -- How the specialist was chosen (routing/choose.py) and why, in Dutch.
    tier           text NOT NULL
        CHECK (tier IN ('continuity', 'network', 'backup', 'coordinator', 'operator')),
    reasons        jsonb NOT NULL,
    network_version text NOT NULL,
    state          text NOT NULL
        CHECK (state IN ('offered', 'accepted', 'declined', 'expired', 'reassigned')),
    offered_at     timestamptz NOT NULL,
    -- An offer not accepted by then is offered to the next candidate.
    answer_before  timestamptz NOT NULL,
    answered_at    timestamptz,
    decline_reason text CHECK (length(decline_reason) BETWEEN 5 AND 1000),
    CHECK ((state = 'offered') = (answered_at IS NULL)),
    CHECK ((state = 'declined') = (decline_reason IS NOT NULL))
);
-- Invariant 4: one active assignment per melding, by constraint, not by timing.
CREATE UNIQUE INDEX assignments_one_active ON assignments (melding_id)
    WHERE state IN ('offered', 'accepted');
CREATE INDEX assignments_open_offers ON assignments (answer_before) WHERE state = 'offered';
CREATE INDEX assignments_by_specialist ON assignments (specialist, state)
    WHERE state IN ('offered', 'accepted');
CREATE INDEX assignments_melding ON assignments (melding_id);
