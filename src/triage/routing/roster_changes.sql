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
 RETURNING id
), audit AS (
    INSERT INTO audit_log (at, actor_kind, actor_id, actor_role, action, endpoint, request_id)
    SELECT $2, 'user', $4, 'coordinator', 'roster.withdraw', $5, $6 FROM gone
)
SELECT id FROM gone;

-- name: current
-- Changes still running or to come (and those of the last day, for night shifts).
SELECT id, kind, specialist, starts_at, ends_at, gebied, replaced_by, network, reason,
       created_by, created_at
  FROM roster_changes
 WHERE withdrawn_at IS NULL AND ends_at > $1
 ORDER BY starts_at;
