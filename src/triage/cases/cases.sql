-- name: read_melding
-- The scope ($2 everything, $3 gebied, $4 submitting client) is applied here, so a row
-- outside it is never fetched; the read is audited in the same statement.
WITH m AS (
    SELECT *
      FROM meldingen
     WHERE id = $1
       AND ($2 OR gebied = $3 OR submitted_by_client = $4)
), audit AS (
    INSERT INTO audit_log (at, actor_kind, actor_id, actor_role, action, melding_id, case_id,
                           endpoint, request_id)
    SELECT $5, $6, $7, $8, 'melding.read', m.id, m.case_id, $9, $10
      FROM m
)
SELECT m.*,
       (SELECT coalesce(json_agg(json_build_object(
                   'role', p.role, 'bsn', p.bsn, 'voornaam', p.voornaam,
                   'tussenvoegsel', p.tussenvoegsel, 'achternaam', p.achternaam,
                   'geboortedatum', p.geboortedatum) ORDER BY p.position), '[]'::json)
          FROM persons p
         WHERE p.melding_id = m.id) AS persons,
       (SELECT coalesce(json_agg(json_build_object(
                   'assignment_id', a.id, 'specialist', a.specialist, 'tier', a.tier,
                   'reasons', a.reasons, 'state', a.state, 'offered_at', a.offered_at,
                   'answer_before', a.answer_before, 'answered_at', a.answered_at,
                   'decline_reason', a.decline_reason) ORDER BY a.offered_at, a.id), '[]'::json)
          FROM assignments a
         WHERE a.melding_id = m.id) AS offers
  FROM m;

-- name: read_case
WITH c AS (
    SELECT c.id, c.household_id, c.status, c.gebied, c.opened_at, c.closed_at,
           c.merged_into, c.previous_case_id, c.lead, h.postcode, h.huisnummer, h.toevoeging, h.straat, h.woonplaats
      FROM cases c
      JOIN households h ON h.id = c.household_id
     WHERE c.id = $1
       AND ($2 OR c.gebied = $3)
), audit AS (
    INSERT INTO audit_log (at, actor_kind, actor_id, actor_role, action, case_id, endpoint,
                           request_id)
    SELECT $4, $5, $6, $7, 'case.read', c.id, $8, $9
      FROM c
)
SELECT c.*,
       (SELECT coalesce(json_agg(json_build_object(
                   'melding_id', m.id, 'source', m.source, 'received_at', m.received_at,
                   'kind', m.kind, 'category', m.category, 'level', m.urgency_level,
                   'status', m.status, 'respond_before', m.respond_before)
                   ORDER BY m.received_at), '[]'::json)
          FROM meldingen m
         WHERE m.case_id = c.id) AS meldingen,
       (SELECT coalesce(json_agg(json_build_object(
                   'role', p.role, 'bsn', p.bsn, 'voornaam', p.voornaam,
                   'tussenvoegsel', p.tussenvoegsel, 'achternaam', p.achternaam,
                   'geboortedatum', p.geboortedatum) ORDER BY p.melding_id, p.position),
               '[]'::json)
          FROM persons p
          JOIN meldingen m ON m.id = p.melding_id
         WHERE m.case_id = c.id) AS persons,
       (SELECT coalesce(json_agg(json_build_object(
                   'at', x.at, 'action', x.action, 'melding_id', x.melding_id,
                   'from_case', x.from_case, 'to_case', x.to_case,
                   'actor_role', x.actor_role, 'reason', x.reason) ORDER BY x.id), '[]'::json)
          FROM case_changes x
         WHERE x.from_case = c.id OR x.to_case = c.id) AS changes,
       (SELECT coalesce(json_agg(json_build_object(
                   'kind', ms.kind, 'due_at', ms.due_at, 'done_at', ms.done_at,
                   'done_by', ms.done_by, 'note', ms.note) ORDER BY ms.due_at), '[]'::json)
          FROM case_milestones ms
         WHERE ms.case_id = c.id) AS milestones
  FROM c;
