-- name: add_note
-- A note on case $1 by $4 ($5 their role, $6 their id), at $2, if they may write there:
-- the region's editors ($7), a coordinator of its gebied ($8), its lead ($4). Audited in
-- the same statement. None returned: no such case for them.
WITH target AS (
    SELECT c.id, c.gebied FROM cases c
     WHERE c.id = $1 AND c.merged_into IS NULL AND c.erased_at IS NULL
       AND ($7 OR c.gebied = $8 OR c.lead = $4)
), note AS (
    INSERT INTO case_notes (case_id, at, author, author_role, text)
    SELECT id, $2, $4, $5, $3 FROM target
    RETURNING id, case_id, at, author, author_role, text
), audit AS (
    INSERT INTO audit_log (at, actor_kind, actor_id, actor_role, action, case_id, endpoint,
                           request_id)
    SELECT $2, 'user', $6, $5, 'case.note', case_id, $9, $10 FROM note
)
SELECT * FROM note;
