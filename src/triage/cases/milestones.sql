-- name: milestone_done
-- Marked done by the case's lead or a coordinator of its gebied ($5: may act for any
-- case of gebied $6); audited.
WITH done AS (
    UPDATE case_milestones ms SET done_at = $3, done_by = $4, note = $7
      FROM cases c
     WHERE ms.case_id = $1 AND ms.kind = $2 AND ms.done_at IS NULL AND c.id = ms.case_id
       AND (c.lead = $4 OR ($5 AND c.gebied = $6))
 RETURNING ms.case_id, ms.kind, ms.due_at, ms.done_at, ms.done_by, ms.note
), audit AS (
    INSERT INTO audit_log (at, actor_kind, actor_id, actor_role, action, case_id, endpoint,
                           request_id)
    SELECT $3, 'user', $8, $9, 'case.milestone_done', case_id, $10, $11 FROM done
)
-- The answer shows what was stored (who, and the note), as a read of the case does.
SELECT case_id, kind, due_at, done_at, done_by, note FROM done;

-- name: overdue_milestones
SELECT ms.kind, count(*) AS overdue
  FROM case_milestones ms
  JOIN cases c ON c.id = ms.case_id AND c.status = 'open'
 WHERE ms.done_at IS NULL AND ms.due_at < $1
 GROUP BY ms.kind;


-- name: escalate_overdue
-- Overdue milestones of open cases not escalated yet, marked (SKIP LOCKED and the
-- re-checked escalated_at: several timer loops never escalate one twice).
WITH due AS (
    SELECT ms.case_id, ms.kind, c.gebied, c.lead
      FROM case_milestones ms
      JOIN cases c ON c.id = ms.case_id AND c.status = 'open'
     WHERE ms.done_at IS NULL AND ms.escalated_at IS NULL AND ms.due_at < $1
     ORDER BY ms.due_at
     LIMIT 500
       FOR UPDATE OF ms SKIP LOCKED
)
UPDATE case_milestones ms SET escalated_at = $1
  FROM due
 WHERE ms.case_id = due.case_id AND ms.kind = due.kind AND ms.escalated_at IS NULL
RETURNING ms.case_id, ms.kind, ms.due_at, due.gebied, due.lead;

-- name: overdue_in_scope
-- Overdue milestones of open cases in the caller's scope ($1 everything, $2 gebied).
SELECT ms.case_id, ms.kind, ms.due_at, ms.escalated_at, c.gebied, c.lead
  FROM case_milestones ms
  JOIN cases c ON c.id = ms.case_id AND c.status = 'open'
 WHERE ms.done_at IS NULL AND ms.due_at < $3 AND ($1 OR c.gebied = $2)
 ORDER BY ms.due_at
 LIMIT $4;
