-- Denied attempts are audited too (NEN 7513: who tried to reach what, and was refused):
-- result 'denied' (NULL: allowed, as every row before this migration was, so that their
-- form in the hash chain stays as sealed), the caller's origin as a keyed digest of its
-- address (audit/denied.py), and 'anonymous' for a caller whose token was not valid.
ALTER TABLE audit_log ADD COLUMN result text CHECK (result = 'denied');
ALTER TABLE audit_log ADD COLUMN origin text;
ALTER TABLE audit_log DROP CONSTRAINT audit_log_actor_kind_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_actor_kind_check
    CHECK (actor_kind IN ('client', 'user', 'system', 'anonymous'));
