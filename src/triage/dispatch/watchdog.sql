-- name: take_pass
-- This process takes the pass if nobody took one in the last $2 (the pass interval, a
-- little less): concurrent takers wait on the row and then find it taken. What the last
-- pass found on no queue comes back.
UPDATE watchdog_state SET last_pass = $1
 WHERE last_pass <= $1::timestamptz - $2::interval
RETURNING missing;

-- name: keep_missing
UPDATE watchdog_state SET missing = $1;

-- name: audit_repaired
-- Meldingen repaired outside the requeue statement, audited with each: queued ones found
-- on no queue on two passes (put back), and those with an offer no timer expired (the
-- timers' statement expires it, and audits the expiry as its own).
INSERT INTO audit_log (at, actor_kind, actor_role, action, melding_id, case_id, endpoint)
SELECT $2, 'system', 'watchdog', 'melding.repair', m.id, m.case_id, 'triage watchdog'
  FROM meldingen m WHERE m.id = ANY ($1::uuid[]);

-- name: suspects
-- Meldingen that may break the invariant (dispatch/watchdog.py), by kind: every queued
-- one (checked against Redis by the caller), offered without an open offer, assigned
-- without an accepted assignment, escalated past its deadline by more than the grace
-- ($2) with nobody lapsing it, and offers past their answer time by more than the grace
-- with nobody expiring them. $1: now. Each part reads a partial index; the checks for an
-- offer or assignment probe the one-active index per melding (LATERAL with LIMIT keeps
-- the planner from a hash join over every accepted assignment).
SELECT 'queued' AS kind, m.id, m.gebied, m.urgency_level, m.respond_before,
       m.id::text || ':' || m.xmin::text AS spell
  FROM meldingen m
 WHERE m.status = 'queued'
UNION ALL
SELECT 'offered_without_offer', m.id, m.gebied, m.urgency_level, m.respond_before, NULL
  FROM meldingen m
  LEFT JOIN LATERAL (SELECT 1 AS found FROM assignments a
                      WHERE a.melding_id = m.id AND a.state = 'offered' LIMIT 1) o ON true
 WHERE m.status = 'offered'
   AND o.found IS NULL
UNION ALL
SELECT 'assigned_without_assignment', m.id, m.gebied, m.urgency_level, m.respond_before,
       NULL
  FROM meldingen m
  LEFT JOIN LATERAL (SELECT 1 AS found FROM assignments a
                      WHERE a.melding_id = m.id AND a.state = 'accepted' LIMIT 1) o ON true
 WHERE m.status = 'assigned'
   AND o.found IS NULL
UNION ALL
SELECT 'escalation_lapsed', m.id, m.gebied, m.urgency_level, m.respond_before, NULL
  FROM meldingen m
 WHERE m.status = 'escalated' AND m.escalated_until < $1::timestamptz - $2::interval
UNION ALL
SELECT 'offer_overdue', a.melding_id, a.gebied, NULL, NULL, NULL
  FROM assignments a
 WHERE a.state = 'offered' AND a.answer_before < $1::timestamptz - $2::interval;

-- name: requeue
-- Meldingen found in a state that breaks the invariant, queued again for the next
-- candidate, each only if still in the state found ($2 per melding) and audited with
-- what was wrong. What else was out is ended first (an offer or assignment left open).
WITH found AS (
    SELECT * FROM unnest($1::uuid[], $2::text[]) AS f (id, status)
), ended AS (
    UPDATE assignments a SET state = 'reassigned', answered_at = $3
      FROM found f, meldingen m
     WHERE a.melding_id = f.id AND m.id = f.id AND m.status = f.status
       AND a.state IN ('offered', 'accepted')
), requeued AS (
    UPDATE meldingen m SET status = 'queued', escalated_until = NULL,
           round_from = CASE WHEN m.status = 'escalated' THEN $3 ELSE m.round_from END
      FROM found f
     WHERE m.id = f.id AND m.status = f.status
 RETURNING m.id, m.case_id, m.gebied, m.urgency_level, m.respond_before, f.status
), audit AS (
    INSERT INTO audit_log (at, actor_kind, actor_role, action, melding_id, case_id, endpoint)
    SELECT $3, 'system', 'watchdog', 'melding.repair', id, case_id, 'triage watchdog'
      FROM requeued
)
SELECT id, gebied, urgency_level, respond_before, status FROM requeued;
