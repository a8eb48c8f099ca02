-- A person's API token expires (30 days unless `triage users add --expires` says
-- otherwise); a source system's does not (it is rotated: `triage clients rotate`). Tokens
-- issued before this migration expire 30 days after it.
ALTER TABLE users ADD COLUMN token_expires_at timestamptz;
UPDATE users SET token_expires_at = now() + interval '30 days' WHERE token_hash IS NOT NULL;
