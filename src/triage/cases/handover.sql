-- name: proposable
-- The gebied of an open case whose handover the caller may propose: its lead ($2), or a
-- coordinator ($3) of its gebied ($4). None otherwise.
SELECT gebied FROM cases
 WHERE id = $1 AND status = 'open' AND (lead = $2 OR ($3 AND gebied = $4));

-- name: propose
-- By the case's lead or a coordinator of its gebied ($6 may act for gebied $7), for an
-- open case still in gebied $12 (the one whose people the colleague was checked against);
-- the unique index refuses a second open proposal.
WITH c AS (
    SELECT id, lead FROM cases
     WHERE id = $1 AND status = 'open' AND (lead = $3 OR ($6 AND gebied = $7))
       AND gebied = $12
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

-- name: end_lead_work
-- In the handover's transaction: the former lead's ($2) open work on the case ends, the
-- accepted assignments to be passed to the new lead (take_over), the open offers
-- withdrawn, their meldingen queued again (the new lead is now the continuity
-- candidate). Assignment before melding, as the answers lock them.
WITH old AS (
    SELECT id, melding_id, state FROM assignments
     WHERE case_id = $1 AND specialist = $2 AND state IN ('offered', 'accepted')
     ORDER BY id
       FOR UPDATE
), ended AS (
    UPDATE assignments a
       SET state = CASE o.state WHEN 'accepted' THEN 'reassigned' ELSE 'withdrawn' END,
           answered_at = coalesce(a.answered_at, $3)
      FROM old o WHERE a.id = o.id
), requeued AS (
    UPDATE meldingen m SET status = 'queued'
      FROM old o WHERE m.id = o.melding_id AND o.state = 'offered' AND m.status = 'offered'
 RETURNING m.id, m.case_id, m.gebied, m.urgency_level, m.respond_before
), audit AS (
    -- Each withdrawn offer with its melding, as the new lead's act (the handover's).
    INSERT INTO audit_log (at, actor_kind, actor_id, actor_role, action, melding_id, case_id,
                           endpoint, request_id)
    SELECT $3, 'user', $4, $5, 'assignment.withdraw', id, case_id, $6, $7 FROM requeued
)
SELECT o.melding_id, o.state, r.id, r.gebied, r.urgency_level, r.respond_before
  FROM old o LEFT JOIN requeued r ON r.id = o.melding_id;

-- name: take_over
-- The new lead ($2) holds the former lead's accepted meldingen ($1, with new assignment
-- ids $6) as accepted assignments of their own, tier 'handover'; audited. Returns them
-- with their gebied, whose werkvoorraad shows who has them.
WITH made AS (
    INSERT INTO assignments (id, melding_id, case_id, specialist, gebied, tier, reasons,
                             network_version, state, offered_at, answer_before, answered_at)
    SELECT p.id, m.id, m.case_id, $2, m.gebied, 'handover', $3::jsonb, $4, 'accepted',
           $5, $5, $5
      FROM unnest($1::uuid[], $6::uuid[]) AS p (melding_id, id)
      JOIN meldingen m ON m.id = p.melding_id
 RETURNING melding_id, case_id, gebied
), audit AS (
    INSERT INTO audit_log (at, actor_kind, actor_id, actor_role, action, melding_id,
                           case_id, endpoint, request_id)
    SELECT $5, 'user', $7, $8, 'assignment.handover', melding_id, case_id, $9, $10 FROM made
)
SELECT melding_id, gebied FROM made;

-- name: withdraw
-- The open proposal of case $1 ends without a takeover, by $2: the colleague it was
-- proposed to (declining it), the case's lead, whoever proposed it, or a coordinator ($3)
-- of the case's gebied ($4). The lead stays.
WITH ended AS (
    UPDATE case_handovers h SET state = 'withdrawn', ended_by = $2, ended_at = $5,
                                end_reason = $6
      FROM cases c
     WHERE h.case_id = $1 AND h.state = 'open' AND c.id = h.case_id
       AND (h.to_lead = $2 OR h.from_lead = $2 OR h.requested_by = $2
            OR ($3 AND c.gebied = $4))
 RETURNING h.case_id, h.from_lead, h.to_lead, h.requested_by, h.requested_at
), audit AS (
    INSERT INTO audit_log (at, actor_kind, actor_id, actor_role, action, case_id, endpoint,
                           request_id)
    SELECT $5, 'user', $7, $8, 'case.handover_withdrawn', case_id, $9, $10 FROM ended
)
SELECT case_id, from_lead, to_lead, requested_by, requested_at FROM ended;
