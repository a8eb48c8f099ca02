-- Household recognition's keys bear a typo in a name or the town, and the birth date in
-- the area no longer finds everyone of that age (households/keys.py):
-- - f: holds the first three letters of the first name's sound, not all of it;
-- - m: and d: hold the woonplaats's first four letters, not all of it;
-- - d: is written with the first name's first letter too, beside the surname's;
-- - g: (the birth date with the postcode's digits) is gone: half of all candidates on
--   the scale benchmark, and d: with both letters finds what it found;
-- - q: is new: the postcode's digits with the first three letters of both names' sounds;
-- - u: is new: those letters with the woonplaats's first four, for a person without a
--   birth date.
-- f:, m: and d: are shortened where they are, as 0040 shortened p:. The cases that exist
-- get d: with the first name's letter, q: and u: from what their profile holds: each of
-- their people with each address they have been known at (the profile holds a case's
-- first 40 people and 12 addresses: people and addresses past those bounds get none;
-- `triage recognition rekey` after the upgrade makes exactly intake's). A merged case
-- holds no keys and gets none.
CREATE TEMP TABLE cases_with_keys ON COMMIT DROP AS
SELECT DISTINCT case_id FROM match_keys;

INSERT INTO match_keys (key, case_id, household_id, open)
SELECT CASE left(key, 2)
         WHEN 'f:' THEN 'f:' || left(split_part(substr(key, 3), '|', 1), 3) || '|'
                        || split_part(key, '|', 2)
         WHEN 'm:' THEN 'm:' || split_part(substr(key, 3), '|', 1) || '|'
                        || split_part(key, '|', 2) || '|' || left(split_part(key, '|', 3), 4)
         ELSE 'd:' || split_part(substr(key, 3), '|', 1) || '|'
              || left(split_part(key, '|', 2), 4) || '|' || split_part(key, '|', 3)
       END, case_id, household_id, open
  FROM match_keys
 WHERE (key LIKE 'f:%' AND length(split_part(substr(key, 3), '|', 1)) > 3)
    OR (key LIKE 'm:%' AND length(split_part(key, '|', 3)) > 4)
    OR (key LIKE 'd:%' AND length(split_part(key, '|', 2)) > 4)
ON CONFLICT (key, case_id) DO NOTHING;

DELETE FROM match_keys
 WHERE (key LIKE 'f:%' AND length(split_part(substr(key, 3), '|', 1)) > 3)
    OR (key LIKE 'm:%' AND length(split_part(key, '|', 3)) > 4)
    OR (key LIKE 'd:%' AND length(split_part(key, '|', 2)) > 4)
    OR key LIKE 'g:%';

CREATE TEMP TABLE people_at_addresses ON COMMIT DROP AS
SELECT c.id AS case_id, c.household_id, c.status = 'open' AS open,
       p->>'born' AS born,
       coalesce(p->>'first', '') AS first, coalesce(p->>'core', '') AS core,
       coalesce(p->>'fs', '') AS fs, coalesce(p->>'cs', '') AS cs,
       left(a->>'postcode', 4) AS area,
       left(regexp_replace(lower(normalize(coalesce(a->>'woonplaats', ''), NFKD)), '[^a-z]+',
                           '', 'g'), 4) AS town
  FROM cases c
  JOIN cases_with_keys k ON k.case_id = c.id
 CROSS JOIN LATERAL jsonb_array_elements(c.match_persons) AS p
 CROSS JOIN LATERAL jsonb_array_elements(c.match_addresses) AS a;

INSERT INTO match_keys (key, case_id, household_id, open)
SELECT DISTINCT key, case_id, household_id, open
  FROM people_at_addresses
 CROSS JOIN LATERAL (VALUES
     (CASE WHEN born IS NOT NULL AND town <> '' AND core <> ''
           THEN 'd:' || born || '|' || town || '|' || left(core, 1) END),
     (CASE WHEN born IS NOT NULL AND town <> '' AND first <> ''
           THEN 'd:' || born || '|' || town || '|' || left(first, 1) END),
     (CASE WHEN length(first) > 1 AND core <> '' AND area IS NOT NULL
           THEN 'q:' || area || '|' || left(fs, 3) || '|' || left(cs, 3) END),
     (CASE WHEN born IS NULL AND length(first) > 1 AND core <> '' AND town <> ''
           THEN 'u:' || left(fs, 3) || '|' || left(cs, 3) || '|' || town END)
 ) AS made(key)
 WHERE key IS NOT NULL
ON CONFLICT (key, case_id) DO NOTHING;
