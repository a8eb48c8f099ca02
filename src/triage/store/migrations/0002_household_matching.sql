-- Household recognition: blocking keys per case, and a case's link to the case before it.

-- One row per (blocking key, case): the normalised address, each BSN, surname sound with
-- birth date, postcode with surname sound, and first initial with birth date of everyone
-- reported in the case. Candidates for a new melding are the cases sharing a key with it:
-- an index lookup, never a scan. Closed cases keep their keys for 180 days, as history.
CREATE TABLE match_keys (
    key          text NOT NULL,
    case_id      uuid NOT NULL REFERENCES cases,
    household_id uuid NOT NULL REFERENCES households,
    open         boolean NOT NULL DEFAULT true,
    PRIMARY KEY (key, case_id)
);
CREATE INDEX match_keys_case ON match_keys (case_id);

-- A new case for a household whose previous case closed recently refers to it.
ALTER TABLE cases ADD COLUMN previous_case_id uuid REFERENCES cases;

-- History lookups per household.
CREATE INDEX meldingen_household_received ON meldingen (household_id, received_at);
CREATE INDEX cases_household ON cases (household_id);
