-- An operator's judgement over the computed urgency: every override kept, with its reason.
CREATE TABLE urgency_overrides (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    melding_id              uuid NOT NULL REFERENCES meldingen,
    at                      timestamptz NOT NULL,
    actor_kind              text NOT NULL,
    actor_id                uuid NOT NULL,
    actor_role              text NOT NULL,
    previous_level          text NOT NULL,
    previous_respond_before timestamptz NOT NULL,
    level                   text NOT NULL
        CHECK (level IN ('crisis', 'acuut', 'hoog', 'regulier')),
    respond_before          timestamptz NOT NULL,
    reason                  text NOT NULL CHECK (length(reason) BETWEEN 5 AND 1000)
);
CREATE INDEX urgency_overrides_melding ON urgency_overrides (melding_id);
