-- name: principal_by_token_hash
-- $2: now. A person's token is valid until it expires or they are disabled.
SELECT 'client' AS kind, id, name, 'client' AS role, source, NULL::text AS gebied
  FROM api_clients
 WHERE token_hash = $1 AND disabled_at IS NULL
UNION ALL
SELECT 'user', id, username, role, NULL, gebied
  FROM users
 WHERE token_hash = $1 AND disabled_at IS NULL AND token_expires_at > $2;

-- name: insert_client
INSERT INTO api_clients (id, name, source, token_hash, created_at)
VALUES ($1, $2, $3, $4, $5);

-- name: upsert_user
INSERT INTO users (id, username, display_name, role, gebied, token_hash, created_at,
                   token_expires_at, password_hash)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (username) DO UPDATE
   SET display_name = EXCLUDED.display_name, role = EXCLUDED.role,
       gebied = EXCLUDED.gebied, disabled_at = NULL,
       -- A new token replaces the old; setting a password (no token) leaves it as it is.
       token_hash = COALESCE(EXCLUDED.token_hash, users.token_hash),
       token_expires_at = CASE WHEN EXCLUDED.token_hash IS NULL THEN users.token_expires_at
                               ELSE EXCLUDED.token_expires_at END,
       password_hash = COALESCE(EXCLUDED.password_hash, users.password_hash)
RETURNING id;

-- name: rotate_client_token
UPDATE api_clients SET token_hash = $2, disabled_at = NULL WHERE name = $1 RETURNING id;

-- name: disable_client
UPDATE api_clients SET disabled_at = $2 WHERE name = $1 AND disabled_at IS NULL RETURNING id;

-- name: disable_user
-- Their token and sessions stop at once (the lookups check disabled_at); the sessions
-- are ended as well, so that enabling the account again does not revive them.
WITH disabled AS (
    UPDATE users SET disabled_at = $2 WHERE username = $1 AND disabled_at IS NULL RETURNING id
), ended AS (
    UPDATE sessions SET ended_at = $2
     WHERE user_id IN (SELECT id FROM disabled) AND ended_at IS NULL
)
SELECT id FROM disabled;

-- name: client_exists
SELECT EXISTS (SELECT 1 FROM api_clients WHERE name = $1);
