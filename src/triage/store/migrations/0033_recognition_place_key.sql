-- Household recognition (households/keys.py) changed its keys again, measured on both
-- benchmarks: the surname sound with the birth year (y:) and the postcode's digits with
-- the number (d:) are gone (little recall, many candidates that only cost time); new are
-- the surname sound with the woonplaats for a melding without postcode and number (w:)
-- and the street's sound with number and addition (s:). The cases that exist lose the
-- old keys and get w: here, from what they already hold; s: needs the street's sound,
-- which only Python makes: `triage recognition rekey` gives it (and makes every key again
-- from the meldingen). The woonplaats is folded as households/names.fold does for every
-- place name without accents (Dutch place names have none); a merged case holds no keys
-- and gets none.
DELETE FROM match_keys WHERE key LIKE 'y:%' OR key LIKE 'd:%';

INSERT INTO match_keys (key, case_id, household_id, open)
SELECT DISTINCT 'w:' || (p->>'cs') || '|' || place.folded, c.id, c.household_id,
       c.status = 'open'
  FROM cases c
 CROSS JOIN LATERAL jsonb_array_elements(c.match_persons) AS p
 CROSS JOIN LATERAL jsonb_array_elements(c.match_addresses) AS a
 CROSS JOIN LATERAL (SELECT btrim(regexp_replace(
                                regexp_replace(lower(coalesce(a->>'woonplaats', '')),
                                               '[^a-z'' ]+', ' ', 'g'),
                                ' {2,}', ' ', 'g')) AS folded) AS place
 WHERE coalesce(p->>'core', '') <> ''
   AND (a->>'postcode' IS NULL OR a->>'huisnummer' IS NULL)
   AND place.folded <> ''
   AND EXISTS (SELECT 1 FROM match_keys k WHERE k.case_id = c.id)
ON CONFLICT (key, case_id) DO NOTHING;
