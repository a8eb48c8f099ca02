-- An assignment follows its melding into another case (a link or merge by hand), and
-- ends as 'closed' when its case closes: a specialist's caseload is then simply their
-- offered and accepted assignments, counted from the assignments' own index without
-- looking up each one's case (dispatch.sql, melding_to_offer).
ALTER TABLE assignments DROP CONSTRAINT assignments_state_check;
ALTER TABLE assignments ADD CONSTRAINT assignments_state_check
    CHECK (state IN ('offered', 'accepted', 'declined', 'expired', 'reassigned', 'closed'));

UPDATE assignments a SET case_id = m.case_id
  FROM meldingen m
 WHERE m.id = a.melding_id AND a.case_id <> m.case_id;

UPDATE assignments a SET state = 'closed'
  FROM cases c
 WHERE c.id = a.case_id AND c.status = 'closed' AND a.state = 'accepted';
