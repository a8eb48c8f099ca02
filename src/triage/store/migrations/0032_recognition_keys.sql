-- Household recognition blocks on more kinds of key (households/keys.py): the postcode's
-- digits with number and addition (d:, a postcode letter mistyped), the surname sound
-- with the birth year (y:, day or month mistyped), the first-name sound with the birth
-- date (f:, the surname mistyped or changed) and the birth date with the postcode's
-- digits (g:, both names mistyped). The cases that exist get them here, from what they already hold, so
-- that recognition finds them the same way as new ones. A merged case holds no keys and
-- gets none.
INSERT INTO match_keys (key, case_id, household_id, open)
SELECT 'd:' || substr(key, 3, 4) || substr(key, 9), case_id, household_id, open
  FROM match_keys
 WHERE key LIKE 'a:%'
ON CONFLICT (key, case_id) DO NOTHING;

INSERT INTO match_keys (key, case_id, household_id, open)
SELECT 'y:' || substr(key, 3, length(key) - 8), case_id, household_id, open
  FROM match_keys
 WHERE key LIKE 'n:%'
ON CONFLICT (key, case_id) DO NOTHING;

INSERT INTO match_keys (key, case_id, household_id, open)
SELECT DISTINCT 'f:' || (p->>'fs') || '|' || (p->>'born'), c.id, c.household_id,
       c.status = 'open'
  FROM cases c
 CROSS JOIN LATERAL jsonb_array_elements(c.match_persons) AS p
 WHERE length(p->>'first') > 1 AND p->>'born' IS NOT NULL
   AND EXISTS (SELECT 1 FROM match_keys k WHERE k.case_id = c.id)
ON CONFLICT (key, case_id) DO NOTHING;

INSERT INTO match_keys (key, case_id, household_id, open)
SELECT DISTINCT 'g:' || (p->>'born') || '|' || substr(a->>'postcode', 1, 4), c.id,
       c.household_id, c.status = 'open'
  FROM cases c
 CROSS JOIN LATERAL jsonb_array_elements(c.match_persons) AS p
 CROSS JOIN LATERAL jsonb_array_elements(c.match_addresses) AS a
 WHERE p->>'born' IS NOT NULL AND a->>'postcode' IS NOT NULL
   AND EXISTS (SELECT 1 FROM match_keys k WHERE k.case_id = c.id)
ON CONFLICT (key, case_id) DO NOTHING;
