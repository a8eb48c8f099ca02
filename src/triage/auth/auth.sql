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

-- name: renew_user
-- A person's way in made new by an admin: a new token ($2, expiring $3) or a new password
-- hash ($4), and enabled again. Not for a person who logs in through the identity provider
-- (the provider decides their way in). Their sessions end in the same transaction.
-- An account that was disabled comes back with the new way in only: its other one (a
-- token or a password from before, perhaps the reason it was disabled) stays dead. (The
-- right-hand side reads the row as it was.)
UPDATE users
   SET disabled_at = NULL,
       token_hash = CASE WHEN $2::bytea IS NOT NULL THEN $2::bytea
                         WHEN disabled_at IS NOT NULL THEN NULL ELSE token_hash END,
       token_expires_at = CASE WHEN $2::bytea IS NOT NULL THEN $3
                               WHEN disabled_at IS NOT NULL THEN NULL
                               ELSE token_expires_at END,
       password_hash = CASE WHEN $4::text IS NOT NULL THEN $4::text
                            WHEN disabled_at IS NOT NULL THEN NULL ELSE password_hash END
 WHERE username = $1 AND oidc_subject IS NULL
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

-- name: provider_user
-- A person the identity provider vouches for, by its issuer and subject (auth/oidc.py).
SELECT id, username, role, gebied, disabled_at FROM users WHERE oidc_subject = $1;

-- name: upsert_provider_user
-- Made at the first login; afterwards the provider's role and gebied replace ours (it is
-- where they are kept), from claims issued ($7) no earlier than those applied before;
-- nothing is returned for older ones. The username stays that of the first login. A
-- disabled account stays disabled.
INSERT INTO users (id, username, display_name, role, gebied, created_at, oidc_subject,
                   oidc_claims_at)
VALUES ($1, $2, $2, $3, $4, $5, $6, $7)
ON CONFLICT (oidc_subject) DO UPDATE
   SET role = EXCLUDED.role, gebied = EXCLUDED.gebied,
       oidc_claims_at = EXCLUDED.oidc_claims_at
 WHERE users.oidc_claims_at IS NULL OR users.oidc_claims_at <= EXCLUDED.oidc_claims_at
RETURNING id, username, role, gebied, disabled_at;

-- name: password_of
-- The hash of a person's password (NULL: none, or no such person): the demo checks that
-- the password it keeps is still the account's.
SELECT password_hash FROM users WHERE username = $1;

-- name: list_users
-- The accounts for the admin's page: how each logs in, never a secret or its digest.
SELECT username, display_name, role, gebied, created_at, disabled_at,
       password_hash IS NOT NULL AS has_password,
       token_hash IS NOT NULL AND token_expires_at > $1 AS has_token,
       oidc_subject IS NOT NULL AS via_provider
  FROM users
 ORDER BY disabled_at IS NOT NULL, role, username;

-- name: list_clients
SELECT name, source, created_at, disabled_at FROM api_clients
 ORDER BY disabled_at IS NOT NULL, source, name;

-- name: user_exists
SELECT EXISTS (SELECT 1 FROM users WHERE username = $1);

-- name: audit_account
-- An account changed by an admin through the console: who, what, and whose account
-- ($5: the username or client name, no secret).
INSERT INTO audit_log (at, actor_kind, actor_id, actor_role, action, endpoint, request_id,
                       detail)
VALUES ($1, 'user', $2, $3, $4, $6, $7, $5);
