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
                   token_expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (username) DO UPDATE
   SET display_name = EXCLUDED.display_name, role = EXCLUDED.role,
       gebied = EXCLUDED.gebied, token_hash = EXCLUDED.token_hash, disabled_at = NULL,
       token_expires_at = EXCLUDED.token_expires_at
RETURNING id;

-- name: rotate_client_token
UPDATE api_clients SET token_hash = $2, disabled_at = NULL WHERE name = $1 RETURNING id;

-- name: disable_client
UPDATE api_clients SET disabled_at = $2 WHERE name = $1 AND disabled_at IS NULL RETURNING id;

-- name: disable_user
UPDATE users SET disabled_at = $2 WHERE username = $1 AND disabled_at IS NULL RETURNING id;

-- name: client_exists
SELECT EXISTS (SELECT 1 FROM api_clients WHERE name = $1);
