-- name: lock_offer
-- The melding's open offer, locked before the melding: the order in which an answer
-- and the expiry of offers lock them, so that an override at the same moment waits for
-- them instead of deadlocking with them.
SELECT id FROM assignments WHERE melding_id = $1 AND state = 'offered' FOR UPDATE;

-- name: override_urgency
-- Set the level by hand: the melding takes the new level and the deadline of that level
-- (from received_at), the override is kept with what it replaced, and the change is
-- audited, all in one statement. Scope as for reading ($9 everything, $10 gebied).
-- An offer out on it must then be answered within the new level's time ($13 seconds
-- from now) if that comes sooner: a melding raised to crisis does not wait 4 hours for
-- an answer its regulier offer allowed, nor for a new round its escalation allowed.
WITH target AS (
    SELECT id, case_id, gebied, status, urgency_level, respond_before, received_at
      FROM meldingen
     WHERE id = $1 AND kind = 'melding' AND ($9 OR gebied = $10) AND status <> 'closed'
       FOR UPDATE
), changed AS (
    UPDATE meldingen m
       SET urgency_level = $2,
           respond_before = t.received_at + make_interval(secs => $3),
           urgency_reasons = m.urgency_reasons || jsonb_build_array(jsonb_build_object(
               'rule', 'handmatig.' || $2, 'contribution', 0,
               'text', 'Urgentie handmatig op ' || $2 || ' gezet (' || $14 || '): ' || $4)),
           -- Escalated for want of candidates: the next round comes no later than the
           -- new level's answer time allows, as for an offer out on it (below).
           escalated_until = CASE WHEN m.status = 'escalated'
                                  THEN least(m.escalated_until,
                                             $5::timestamptz + make_interval(secs => $13))
                                  END
      FROM target t
     WHERE m.id = t.id
 RETURNING m.id, m.case_id, m.gebied, m.status, m.urgency_level, m.respond_before
), kept AS (
    INSERT INTO urgency_overrides (melding_id, at, actor_kind, actor_id, actor_role,
                                   previous_level, previous_respond_before, level,
                                   respond_before, reason)
    SELECT t.id, $5, $7, $8, $6, t.urgency_level, t.respond_before, c.urgency_level,
           c.respond_before, $4
      FROM target t JOIN changed c ON c.id = t.id
), answer AS (
    UPDATE assignments a
       SET answer_before = $5 + make_interval(secs => $13)
      FROM changed c
     WHERE a.melding_id = c.id AND a.state = 'offered'
       AND a.answer_before > $5 + make_interval(secs => $13)
 RETURNING a.id, a.specialist, a.answer_before
), audit AS (
    INSERT INTO audit_log (at, actor_kind, actor_id, actor_role, action, melding_id, case_id,
                           endpoint, request_id)
    SELECT $5, $7, $8, $6, 'melding.urgency_override', c.id, c.case_id, $11, $12
      FROM changed c
)
SELECT c.id, c.gebied, c.status, c.urgency_level, c.respond_before,
       a.id AS offer_id, a.specialist AS offer_specialist, a.answer_before AS offer_answer_before
  FROM changed c LEFT JOIN answer a ON true;

-- name: closed
-- Whether the melding $1, in the caller's scope ($2 everything, $3 gebied), is closed.
SELECT status = 'closed' FROM meldingen
 WHERE id = $1 AND kind = 'melding' AND ($2 OR gebied = $3);
