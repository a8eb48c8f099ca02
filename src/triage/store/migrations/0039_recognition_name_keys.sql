-- Household recognition blocks also on the first-name and surname sound with the
-- woonplaats (m:, households/keys.py): a birth date missing or mistyped with no
-- postcode, a mistyped one or another one in the town. The cases that exist get it here,
-- from what their profile holds: each of their people with each woonplaats they have
-- been known at (intake writes a melding's people with its own address only, so a case
-- of several addresses may get a few keys more than intake would have written; `triage
-- recognition rekey` makes exactly intake's). The woonplaats is folded as 0033 folds it;
-- a merged case holds no keys and gets none.
INSERT INTO match_keys (key, case_id, household_id, open)
SELECT DISTINCT 'm:' || (p->>'fs') || '|' || (p->>'cs') || '|' || place.folded, c.id,
       c.household_id, c.status = 'open'
  FROM cases c
 CROSS JOIN LATERAL jsonb_array_elements(c.match_persons) AS p
 CROSS JOIN LATERAL jsonb_array_elements(c.match_addresses) AS a
 CROSS JOIN LATERAL (SELECT btrim(regexp_replace(
                                regexp_replace(lower(coalesce(a->>'woonplaats', '')),
                                               '[^a-z'' ]+', ' ', 'g'),
                                ' {2,}', ' ', 'g')) AS folded) AS place
 WHERE length(p->>'first') > 1 AND coalesce(p->>'core', '') <> ''
   AND place.folded <> ''
   AND EXISTS (SELECT 1 FROM match_keys k WHERE k.case_id = c.id)
ON CONFLICT (key, case_id) DO NOTHING;
