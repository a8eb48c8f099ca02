-- name: cases_after
-- The next cases in id order, for rebuilding page by page; not the erased (nothing of
-- them may be found again).
SELECT id FROM cases WHERE id > $1 AND erased_at IS NULL ORDER BY id LIMIT $2;

-- name: audit_rekey
-- Rebuilding read every case's people: one entry says who did it and how many cases.
INSERT INTO audit_log (at, actor_kind, actor_id, actor_role, action, endpoint, request_id,
                       reason, detail)
VALUES ($1, 'system', NULL, 'admin', 'recognition.rekey', 'triage recognition rekey',
        $2, 'de herkenningssleutels opnieuw maken uit de meldingen', $3);
