-- name: propose
-- By the case's lead or a coordinator of its gebied ($6 may act for gebied $7), for an
-- open case; the unique index refuses a second open proposal.
WITH c AS (
    SELECT id, lead FROM cases
     WHERE id = $1 AND status = 'open' AND (lead = $3 OR ($6 AND gebied = $7))
), made AS (
    INSERT INTO case_handovers (case_id, from_lead, to_lead, requested_by, requested_at,
                                reason, state)
    SELECT c.id, c.lead, $2, $3, $4, $5, 'open' FROM c
 RETURNING case_id, from_lead, to_lead, requested_at
), audit AS (
    INSERT INTO audit_log (at, actor_kind, actor_id, actor_role, action, case_id, endpoint,
                           request_id)
    SELECT $4, 'user', $8, $9, 'case.handover_proposed', case_id, $10, $11 FROM made
)
SELECT case_id, from_lead, to_lead, requested_at FROM made;

-- name: accept
-- By the proposed colleague: from now on they lead the case.
WITH taken AS (
    UPDATE case_handovers SET state = 'accepted', accepted_at = $3
     WHERE case_id = $1 AND state = 'open' AND to_lead = $2
 RETURNING case_id, from_lead, to_lead, requested_at
), lead AS (
    UPDATE cases SET lead = $2 WHERE id = (SELECT case_id FROM taken)
), audit AS (
    INSERT INTO audit_log (at, actor_kind, actor_id, actor_role, action, case_id, endpoint,
                           request_id)
    SELECT $3, 'user', $4, $5, 'case.handover_accepted', case_id, $6, $7 FROM taken
)
SELECT case_id, from_lead, to_lead, requested_at FROM taken;
