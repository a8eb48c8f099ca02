-- Retention and the data subject's rights (privacy/): personal data of a case closed
-- longer than the region's term is erased, what the process indicators count is kept;
-- `erased_at` says when. A person's data corrected on request keeps the old value in
-- person_corrections, which goes with the person when the case is erased (it holds the
-- same data).
ALTER TABLE cases ADD COLUMN erased_at timestamptz;
ALTER TABLE meldingen ADD COLUMN erased_at timestamptz;
CREATE INDEX cases_retention_due ON cases (closed_at)
    WHERE status = 'closed' AND erased_at IS NULL;
-- The inzage looks people up by BSN, and by surname with birth date.
CREATE INDEX persons_bsn ON persons (bsn) WHERE bsn IS NOT NULL;
CREATE INDEX persons_name_born ON persons (lower(achternaam), geboortedatum)
    WHERE achternaam IS NOT NULL AND geboortedatum IS NOT NULL;

CREATE TABLE person_corrections (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    person_id   uuid NOT NULL REFERENCES persons (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL,
    field       text NOT NULL
        CHECK (field IN ('bsn', 'voornaam', 'tussenvoegsel', 'achternaam', 'geboortedatum')),
    old_value   text,
    new_value   text,
    reason      text NOT NULL CHECK (length(reason) BETWEEN 5 AND 1000),
    actor_id    uuid NOT NULL,
    actor_role  text NOT NULL
);
CREATE INDEX person_corrections_person ON person_corrections (person_id);
