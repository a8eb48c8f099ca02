-- name: denied
INSERT INTO audit_log (at, actor_kind, actor_id, actor_role, action, melding_id, case_id,
                       endpoint, request_id, origin, on_behalf_of, result)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'denied');
