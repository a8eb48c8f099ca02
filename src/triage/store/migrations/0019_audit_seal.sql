-- A hash chain over the audit log (audit/seal.py): each seal holds the chain value after
-- its audit row, so that a row changed or deleted later, by anyone who got past the
-- triggers (the table's owner can disable them; a superuser can do anything), no longer
-- fits the chain, and `triage audit verify` names the first that does not. Sealing runs
-- after the fact, one sealer at a time: the intake never waits for the chain.
CREATE OR REPLACE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TABLE audit_seal (
    seq       bigint PRIMARY KEY CHECK (seq >= 1),
    -- No foreign key: it would refuse a TRUNCATE of audit_log before the trigger does (with
    -- a message about keys), and verify names a missing row anyway.
    audit_id  bigint NOT NULL UNIQUE,
    chain     bytea NOT NULL CHECK (length(chain) = 32),
    sealed_at timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER audit_seal_append_only
    BEFORE UPDATE OR DELETE ON audit_seal
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
CREATE TRIGGER audit_seal_no_truncate
    BEFORE TRUNCATE ON audit_seal
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();
