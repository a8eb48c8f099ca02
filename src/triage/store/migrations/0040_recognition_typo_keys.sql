-- Household recognition's keys tolerate more mistakes (households/keys.py):
-- - the woonplaats in a key (and the street in t:) is letters only: no spaces, no
--   apostrophes ("Greenac res" and "Greenacres", "'s-Hertogenbosch" and "s-Hertogenbosch"
--   are one place);
-- - p: holds the first three letters of the surname's sound, not all of it (a typo
--   after them is the same key);
-- - d: is new: the birth date with the woonplaats and the surname's first letter (the
--   first name's without a surname);
-- - t: is new: the postcode's digits, the number and the street's first two letters (the
--   postcode's letters mistyped and the street after its first letters too).
-- The cases that exist get theirs here, from what their profile holds: each of their
-- people with each address they have been known at (intake writes a melding's people
-- with its own address only, so a case of several addresses may get a few keys more than
-- intake would have written, and people or addresses past the profile's bounds get none;
-- `triage recognition rekey` makes exactly intake's). m: and w: are made again from the
-- profile, with the place folded as households/names.fold folds it (0033 and 0039 dropped
-- an accented letter where fold takes the accent off: "Wâlterswâld"; normalize needs a
-- UTF8 database), letters only. A merged case holds no keys and gets none.
INSERT INTO match_keys (key, case_id, household_id, open)
SELECT 'p:' || split_part(substr(key, 3), '|', 1) || '|' || left(split_part(key, '|', 2), 3),
       case_id, household_id, open
  FROM match_keys
 WHERE key LIKE 'p:%' AND length(split_part(key, '|', 2)) > 3
ON CONFLICT (key, case_id) DO NOTHING;

DELETE FROM match_keys WHERE key LIKE 'p:%' AND length(split_part(key, '|', 2)) > 3;

CREATE TEMP TABLE keyed_cases ON COMMIT DROP AS SELECT DISTINCT case_id FROM match_keys;

-- Each person of each case that holds keys, with each woonplaats it was known at.
CREATE TEMP TABLE people_in_places ON COMMIT DROP AS
SELECT c.id AS case_id, c.household_id, c.status = 'open' AS open, p AS person,
       a->>'postcode' IS NOT NULL AND a->>'huisnummer' IS NOT NULL AS dwelling,
       regexp_replace(lower(normalize(coalesce(a->>'woonplaats', ''), NFKD)), '[^a-z]+', '',
                      'g') AS place
  FROM cases c
  JOIN keyed_cases k ON k.case_id = c.id
 CROSS JOIN LATERAL jsonb_array_elements(c.match_persons) AS p
 CROSS JOIN LATERAL jsonb_array_elements(c.match_addresses) AS a;

DELETE FROM match_keys WHERE key LIKE 'm:%' OR key LIKE 'w:%';

INSERT INTO match_keys (key, case_id, household_id, open)
SELECT DISTINCT 'm:' || (person->>'fs') || '|' || (person->>'cs') || '|' || place, case_id,
       household_id, open
  FROM people_in_places
 WHERE length(person->>'first') > 1 AND coalesce(person->>'core', '') <> '' AND place <> ''
ON CONFLICT (key, case_id) DO NOTHING;

INSERT INTO match_keys (key, case_id, household_id, open)
SELECT DISTINCT 'w:' || (person->>'cs') || '|' || place, case_id, household_id, open
  FROM people_in_places
 WHERE coalesce(person->>'core', '') <> '' AND NOT dwelling AND place <> ''
ON CONFLICT (key, case_id) DO NOTHING;

INSERT INTO match_keys (key, case_id, household_id, open)
SELECT DISTINCT 'd:' || (person->>'born') || '|' || place || '|' || initial, case_id,
       household_id, open
  FROM people_in_places
 CROSS JOIN LATERAL (SELECT left(coalesce(nullif(person->>'core', ''), person->>'first', ''),
                                 1) AS initial) AS letter
 WHERE person->>'born' IS NOT NULL AND place <> '' AND initial <> ''
ON CONFLICT (key, case_id) DO NOTHING;

INSERT INTO match_keys (key, case_id, household_id, open)
SELECT DISTINCT 't:' || left(a->>'postcode', 4) || '|' || (a->>'huisnummer') || '|'
                || street.first_letters, c.id, c.household_id, c.status = 'open'
  FROM cases c
  JOIN keyed_cases k ON k.case_id = c.id
 CROSS JOIN LATERAL jsonb_array_elements(c.match_addresses) AS a
 CROSS JOIN LATERAL (SELECT left(regexp_replace(
                                     lower(normalize(coalesce(a->>'straat', ''), NFKD)),
                                     '[^a-z]+', '', 'g'), 2) AS first_letters) AS street
 WHERE a->>'postcode' IS NOT NULL AND a->>'huisnummer' IS NOT NULL
   AND street.first_letters <> ''
ON CONFLICT (key, case_id) DO NOTHING;
