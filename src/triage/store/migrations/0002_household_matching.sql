-- Household recognition: blocking keys per case, and a case's link to the case before it.

-- One row per (blocking key, case): the normalised address, each BSN, surname sound with
-- birth date, postcode with surname sound, and first initial with birth date of everyone
-- reported in the case. Candidates for a new melding are the cases sharing a key with it:
-- an index lookup, never a scan. Closed cases keep their keys for 180 days, as history.
-- Derived from cases and persons and written only by intake_store_one(), so without
-- foreign keys: their checks would double the cost of writing ten keys per melding.
CREATE TABLE match_keys (
    key          text NOT NULL,
    case_id      uuid NOT NULL,
    household_id uuid NOT NULL,
    open         boolean NOT NULL DEFAULT true,
    PRIMARY KEY (key, case_id)
);
CREATE INDEX match_keys_case ON match_keys (case_id);

-- A new case for a household whose previous case closed recently refers to it.
ALTER TABLE cases ADD COLUMN previous_case_id uuid REFERENCES cases;


-- A case's matching profile, kept up to date by the intake in the same statement that
-- stores a melding: everyone and every address reported in the case, and its recent
-- meldingen (time and level). Reading candidates is then one primary-key lookup per
-- case instead of aggregating its meldingen and persons on every intake.
ALTER TABLE cases
    ADD COLUMN match_persons   jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN match_addresses jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN recent          jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN earlier_crisis  boolean NOT NULL DEFAULT false;
