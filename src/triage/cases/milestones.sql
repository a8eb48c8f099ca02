-- name: milestone_done
-- Marked done by the case's lead or a coordinator of its gebied ($5: may act for any
-- case of gebied $6); audited.
WITH done AS (
    UPDATE case_milestones ms SET done_at = $3, done_by = $4, note = $7
      FROM cases c
     WHERE ms.case_id = $1 AND ms.kind = $2 AND ms.done_at IS NULL AND c.id = ms.case_id
       AND (c.lead = $4 OR ($5 AND c.gebied = $6))
 RETURNING ms.case_id, ms.kind, ms.due_at, ms.done_at
), audit AS (
    INSERT INTO audit_log (at, actor_kind, actor_id, actor_role, action, case_id, endpoint,
                           request_id)
    SELECT $3, 'user', $8, $9, 'case.milestone_done', case_id, $10, $11 FROM done
)
SELECT case_id, kind, due_at, done_at FROM done;

-- name: overdue_milestones
SELECT kind, count(*) AS overdue
  FROM case_milestones
 WHERE done_at IS NULL AND due_at < $1
 GROUP BY kind;

