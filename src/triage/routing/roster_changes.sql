-- name: hold_person
-- Offers to this person wait until the change commits, and offers in flight to them are
-- committed before it goes on (dispatch.sql, hold_people): none slips past its withdrawal.
SELECT pg_advisory_xact_lock(hashtextextended('triage.person:' || $1, 0));

-- name: add
WITH made AS (
    INSERT INTO roster_changes (kind, specialist, starts_at, ends_at, gebied, replaced_by,
                                network, reason, created_by, created_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
 RETURNING id
), audit AS (
    INSERT INTO audit_log (at, actor_kind, actor_id, actor_role, action, endpoint, request_id)
    SELECT $10, 'user', $11, 'coordinator', 'roster.change', $12, $13 FROM made
)
SELECT id FROM made;

-- name: withdraw
WITH gone AS (
    UPDATE roster_changes SET withdrawn_at = $2
     WHERE id = $1 AND network = $3 AND withdrawn_at IS NULL
 RETURNING id, specialist, replaced_by
), audit AS (
    INSERT INTO audit_log (at, actor_kind, actor_id, actor_role, action, endpoint, request_id)
    SELECT $2, 'user', $4, 'coordinator', 'roster.withdraw', $5, $6 FROM gone
)
SELECT id, specialist, replaced_by FROM gone;

-- name: current
-- Changes still running or to come (and those of the last day, for night shifts).
SELECT id, kind, specialist, starts_at, ends_at, gebied, replaced_by, network, reason,
       created_by, created_at
  FROM roster_changes
 WHERE withdrawn_at IS NULL AND ends_at > $1
 ORDER BY starts_at;

-- name: withdraw_offers
-- The open offers of a person no longer on duty ($1), of the tiers given ($3: all of them
-- when they are absent; else those made because they were on duty), withdrawn: their
-- meldingen are queued again for the next candidate. Assignment before melding, as the
-- answers and the expiry lock them. Audited as the coordinator's act.
WITH gone AS (
    UPDATE assignments a SET state = 'withdrawn', answered_at = $2
     WHERE a.specialist = $1 AND a.state = 'offered' AND a.tier = ANY ($3::text[])
 RETURNING a.id, a.melding_id, a.case_id
), requeued AS (
    UPDATE meldingen m SET status = 'queued'
      FROM gone g WHERE m.id = g.melding_id AND m.status = 'offered'
 RETURNING m.id, m.gebied, m.urgency_level, m.respond_before
), audit AS (
    INSERT INTO audit_log (at, actor_kind, actor_id, actor_role, action, melding_id, case_id,
                           endpoint, request_id)
    SELECT $2, 'user', $4, 'coordinator', 'assignment.withdraw', melding_id, case_id, $5, $6
      FROM gone
)
SELECT r.id, r.gebied, r.urgency_level, r.respond_before, g.id AS assignment_id
  FROM requeued r JOIN gone g ON g.melding_id = r.id;
