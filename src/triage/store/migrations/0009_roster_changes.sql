-- Roster changes made by coordinators through the API, beside the network file's own:
-- someone absent, an extra shift, a swap. Withdrawn, never deleted (audited).
CREATE TABLE roster_changes (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('absent', 'extra', 'swap')),
    specialist   text NOT NULL,
    starts_at    timestamptz NOT NULL,
    ends_at      timestamptz NOT NULL,
    gebied       text,
    replaced_by  text,
    network      text NOT NULL,  -- the gebied whose coordinator made it
    reason       text NOT NULL CHECK (length(reason) BETWEEN 5 AND 1000),
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL,
    withdrawn_at timestamptz,
    CHECK (ends_at > starts_at)
);
CREATE INDEX roster_changes_current ON roster_changes (ends_at) WHERE withdrawn_at IS NULL;
