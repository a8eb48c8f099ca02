-- name: login_user
-- Who logs in with this username, and their password's hash (NULL: none set).
SELECT id, username, role, gebied, password_hash
  FROM users WHERE username = $1 AND disabled_at IS NULL;

-- name: start
INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at, expires_at)
VALUES ($1, $2, $3, $3, $4);

-- name: principal
-- The session's person while it lives: not ended, not past its absolute end ($2 now),
-- used within the idle time ($3), and its person not disabled.
SELECT u.id, u.username, u.role, u.gebied, s.last_seen_at, s.expires_at
  FROM sessions s
  JOIN users u ON u.id = s.user_id
 WHERE s.id_hash = $1 AND s.ended_at IS NULL AND s.expires_at > $2
   AND s.last_seen_at > $2 - $3::interval AND u.disabled_at IS NULL;

-- name: touch
UPDATE sessions SET last_seen_at = $2 WHERE id_hash = $1 AND ended_at IS NULL;

-- name: end
UPDATE sessions SET ended_at = $2 WHERE id_hash = $1 AND ended_at IS NULL RETURNING user_id;

-- name: end_all
-- A person's role or gebied changed: their sessions end, as when they are disabled.
UPDATE sessions SET ended_at = $2 WHERE user_id = $1 AND ended_at IS NULL;

-- name: audit
-- Logging in and out, and changes to an account that change what its person may see, in
-- the audit with who, when and from where.
INSERT INTO audit_log (at, actor_kind, actor_id, actor_role, action, endpoint, request_id,
                       origin)
SELECT $1, 'user', u.id, u.role, $3, $4, $5, $6 FROM users u WHERE u.id = $2;
