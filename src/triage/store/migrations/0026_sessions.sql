-- People log in with a password (argon2id, auth/passwords.py) and get a session
-- (auth/sessions.py): its id is 256 random bits in an HttpOnly cookie, stored here only
-- as its SHA-256, like the tokens. A session ends at logout, when the user is disabled,
-- after an idle time and at an absolute time, whichever comes first.
ALTER TABLE users ADD COLUMN password_hash text;
CREATE TABLE sessions (
    id_hash      bytea PRIMARY KEY CHECK (length(id_hash) = 32),
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    ended_at     timestamptz
);
CREATE INDEX sessions_user_open ON sessions (user_id) WHERE ended_at IS NULL;
