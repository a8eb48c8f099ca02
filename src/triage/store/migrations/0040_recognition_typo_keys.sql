-- Household recognition's keys tolerate more mistakes (households/keys.py):
-- - the woonplaats in a key has no spaces ("Greenac res" and "Greenacres" are one place);
-- - p: holds the first three letters of the surname's sound, not all of it (a typo
--   after them is the same key);
-- - d: is new: the birth date with the woonplaats and the surname's first letter (the
--   first name's without a surname);
-- - t: is new: the postcode's digits, the number and the street's first two letters (the
--   postcode's letters mistyped and the street after its first letters too).
-- The cases that exist get theirs here, from what their profile holds: each of their
-- people with each address they have been known at (intake writes a melding's people
-- with its own address only, so a case of several addresses may get a few keys more than
-- intake would have written; `triage recognition rekey` makes exactly intake's). Places
-- and streets are folded as 0033 folds them, spaces left out; a merged case holds no
-- keys and gets none.
INSERT INTO match_keys (key, case_id, household_id, open)
SELECT replace(key, ' ', ''), case_id, household_id, open
  FROM match_keys
 WHERE (key LIKE 'm:%' OR key LIKE 'w:%') AND key LIKE '% %'
ON CONFLICT (key, case_id) DO NOTHING;

DELETE FROM match_keys WHERE (key LIKE 'm:%' OR key LIKE 'w:%') AND key LIKE '% %';

INSERT INTO match_keys (key, case_id, household_id, open)
SELECT 'p:' || split_part(substr(key, 3), '|', 1) || '|' || left(split_part(key, '|', 2), 3),
       case_id, household_id, open
  FROM match_keys
 WHERE key LIKE 'p:%' AND length(split_part(key, '|', 2)) > 3
ON CONFLICT (key, case_id) DO NOTHING;

DELETE FROM match_keys WHERE key LIKE 'p:%' AND length(split_part(key, '|', 2)) > 3;

INSERT INTO match_keys (key, case_id, household_id, open)
SELECT DISTINCT 'd:' || (p->>'born') || '|' || place.folded || '|' || person.initial, c.id,
       c.household_id, c.status = 'open'
  FROM cases c
 CROSS JOIN LATERAL jsonb_array_elements(c.match_persons) AS p
 CROSS JOIN LATERAL jsonb_array_elements(c.match_addresses) AS a
 CROSS JOIN LATERAL (SELECT regexp_replace(lower(coalesce(a->>'woonplaats', '')),
                                           '[^a-z'']+', '', 'g') AS folded) AS place
 CROSS JOIN LATERAL (SELECT left(coalesce(nullif(p->>'core', ''), p->>'first', ''), 1)
                            AS initial) AS person
 WHERE p->>'born' IS NOT NULL AND place.folded <> '' AND person.initial <> ''
   AND EXISTS (SELECT 1 FROM match_keys k WHERE k.case_id = c.id)
ON CONFLICT (key, case_id) DO NOTHING;

INSERT INTO match_keys (key, case_id, household_id, open)
SELECT DISTINCT 't:' || left(a->>'postcode', 4) || '|' || (a->>'huisnummer') || '|'
                || street.first_letters, c.id, c.household_id, c.status = 'open'
  FROM cases c
 CROSS JOIN LATERAL jsonb_array_elements(c.match_addresses) AS a
 CROSS JOIN LATERAL (SELECT left(regexp_replace(lower(coalesce(a->>'straat', '')),
                                                '[^a-z'']+', '', 'g'), 2)
                            AS first_letters) AS street
 WHERE a->>'postcode' IS NOT NULL AND a->>'huisnummer' IS NOT NULL
   AND street.first_letters <> ''
   AND EXISTS (SELECT 1 FROM match_keys k WHERE k.case_id = c.id)
ON CONFLICT (key, case_id) DO NOTHING;
