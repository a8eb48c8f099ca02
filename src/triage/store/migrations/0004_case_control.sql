-- Operators and CIT correct household recognition by hand: link a melding to another case,
-- take it out of its case, merge two cases, settle a possible duplicate, close a case.

-- Every such change, with who made it and why. A case's history is read from here; the
-- meldingen themselves keep the decision the intake made (dedup_*), so what the machine
-- decided and what a person corrected stay side by side.
CREATE TABLE case_changes (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL,
    action      text NOT NULL
        CHECK (action IN ('link', 'unlink', 'merge', 'review_confirm', 'review_reject',
                          'close')),
    melding_id  uuid REFERENCES meldingen,
    from_case   uuid REFERENCES cases,
    to_case     uuid REFERENCES cases,
    actor_kind  text NOT NULL,
    actor_id    uuid NOT NULL,
    actor_role  text NOT NULL,
    reason      text NOT NULL CHECK (length(reason) BETWEEN 5 AND 1000),
    -- What followed from it: meldingen moved, urgency raised, cases closed.
    detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX case_changes_from ON case_changes (from_case) WHERE from_case IS NOT NULL;
CREATE INDEX case_changes_to ON case_changes (to_case) WHERE to_case IS NOT NULL;
CREATE INDEX case_changes_melding ON case_changes (melding_id) WHERE melding_id IS NOT NULL;

-- A possible duplicate (dedup_decision 'review') stays pending until an operator
-- confirms it (the cases are merged) or rejects it (they stay apart).
ALTER TABLE meldingen
    ADD COLUMN review_outcome text CHECK (review_outcome IN ('confirmed', 'rejected')),
    ADD COLUMN review_at      timestamptz,
    ADD CONSTRAINT meldingen_review_settled
        CHECK ((review_outcome IS NULL) = (review_at IS NULL)
               AND (review_outcome IS NULL OR dedup_decision = 'review'));
CREATE INDEX meldingen_review_pending ON meldingen (received_at)
    WHERE dedup_decision = 'review' AND review_outcome IS NULL;
