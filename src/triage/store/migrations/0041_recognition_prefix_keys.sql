-- Household recognition's keys bear a typo in a name or the town, and the birth date in
-- the area says less on its own (households/keys.py):
-- - f: holds the first three letters of the first name's sound, not all of it;
-- - m: and d: hold the woonplaats's first four letters, not all of it;
-- - g: holds the birth date with the postcode's digits and a letter, in one key the
--   surname's first and in another the first name's (without a letter, everyone of the
--   same age in the area was a candidate: half of all candidates on the scale benchmark);
-- - q: is new: the postcode's digits with the first three letters of both names' sounds;
-- - u: and v: are new: the first three letters of both names' sounds with the
--   woonplaats's first four letters; u: for everyone (only a melding without a birth
--   date looks it up), v: for a person without a birth date (every melding looks it up).
-- f:, m: and d: are shortened where they are, as 0040 shortened p:. The cases that exist
-- get g:, q:, u: and v: from what their profile holds: each of their people with each
-- address they have been known at (the profile holds a case's first 40 people and 12
-- addresses: people and addresses past those bounds get none; `triage recognition
-- rekey` after the upgrade makes exactly intake's). A merged case holds no keys and gets
-- none.
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
    OR (key LIKE 'g:%' AND split_part(key, '|', 3) = '');

CREATE TEMP TABLE cases_with_keys ON COMMIT DROP AS
SELECT DISTINCT case_id FROM match_keys;

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
     (CASE WHEN born IS NOT NULL AND area IS NOT NULL AND core <> ''
           THEN 'g:' || born || '|' || area || '|' || left(core, 1) END),
     (CASE WHEN born IS NOT NULL AND area IS NOT NULL AND first <> ''
           THEN 'g:' || born || '|' || area || '|' || left(first, 1) END),
     (CASE WHEN length(first) > 1 AND core <> '' AND area IS NOT NULL
           THEN 'q:' || area || '|' || left(fs, 3) || '|' || left(cs, 3) END),
     (CASE WHEN length(first) > 1 AND core <> '' AND town <> ''
           THEN 'u:' || left(fs, 3) || '|' || left(cs, 3) || '|' || town END),
     (CASE WHEN born IS NULL AND length(first) > 1 AND core <> '' AND town <> ''
           THEN 'v:' || left(fs, 3) || '|' || left(cs, 3) || '|' || town END)
 ) AS made(key)
 WHERE key IS NOT NULL
ON CONFLICT (key, case_id) DO NOTHING;
