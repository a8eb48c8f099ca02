-- Deadlines watched: a melding without first contact is escalated to its gebied's
-- coordinator when most of its window is used (at_risk) and when it passes (breached).
-- One row per melding and kind: the unique key is what keeps several timer instances
-- from escalating one melding twice.
CREATE TABLE escalations (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    melding_id  uuid NOT NULL REFERENCES meldingen,
    kind        text NOT NULL CHECK (kind IN ('at_risk', 'breached')),
    at          timestamptz NOT NULL,
    gebied      text NOT NULL,
    coordinator text NOT NULL,
    -- The melding's state when escalated (queued, offered, assigned).
    status      text NOT NULL,
    UNIQUE (melding_id, kind)
);
CREATE INDEX escalations_recent ON escalations (gebied, at);

-- Meldingen that still wait for first contact, by deadline: what the timer scans.
CREATE INDEX meldingen_waiting ON meldingen (respond_before)
    WHERE status IN ('queued', 'offered', 'assigned');
