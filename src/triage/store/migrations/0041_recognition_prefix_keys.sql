-- Household recognition's keys bear a typo in a name or the town, and the birth date in
-- the area says less on its own (households/keys.py):
-- - g: holds the birth date with the postcode's digits and a letter, in one key the
--   surname's first and in another the first name's (without a letter, everyone of the
--   same age in the area was a candidate: half of all candidates on the scale benchmark);
-- - f: holds the first three letters of the first name's sound, not all of it;
-- - m: and d: hold the woonplaats's first four letters, not all of it;
-- - q: is new: the postcode's digits with the first three letters of both names' sounds;
-- - u: and v: are new: the first three letters of both names' sounds with the
--   woonplaats's first four letters; u: for everyone (only a melding without a birth
--   date looks it up), v: for a person without a birth date (every melding looks it up).
-- The cases that exist get theirs here, from what their profile holds, as 0040 did: each
-- of their people with each address they have been known at (`triage recognition rekey`
-- makes exactly intake's). A merged case holds no keys and gets none.
CREATE TEMP TABLE cases_with_keys ON COMMIT DROP AS
SELECT DISTINCT case_id FROM match_keys;

DELETE FROM match_keys WHERE key ~ '^[gfmd]:';

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
     (CASE WHEN born IS NOT NULL AND length(first) > 1
           THEN 'f:' || left(fs, 3) || '|' || born END),
     (CASE WHEN born IS NOT NULL AND area IS NOT NULL AND core <> ''
           THEN 'g:' || born || '|' || area || '|' || left(core, 1) END),
     (CASE WHEN born IS NOT NULL AND area IS NOT NULL AND first <> ''
           THEN 'g:' || born || '|' || area || '|' || left(first, 1) END),
     (CASE WHEN born IS NOT NULL AND town <> '' AND (core <> '' OR first <> '')
           THEN 'd:' || born || '|' || town || '|' || left(coalesce(nullif(core, ''), first), 1)
      END),
     (CASE WHEN length(first) > 1 AND core <> '' AND town <> ''
           THEN 'm:' || fs || '|' || cs || '|' || town END),
     (CASE WHEN length(first) > 1 AND core <> '' AND town <> ''
           THEN 'u:' || left(fs, 3) || '|' || left(cs, 3) || '|' || town END),
     (CASE WHEN born IS NULL AND length(first) > 1 AND core <> '' AND town <> ''
           THEN 'v:' || left(fs, 3) || '|' || left(cs, 3) || '|' || town END),
     (CASE WHEN length(first) > 1 AND core <> '' AND area IS NOT NULL
           THEN 'q:' || area || '|' || left(fs, 3) || '|' || left(cs, 3) END)
 ) AS made(key)
 WHERE key IS NOT NULL
ON CONFLICT (key, case_id) DO NOTHING;
