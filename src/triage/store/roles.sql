-- The service's database role: it reads and writes the data, adds to the audit and
-- reads it, and changes nothing of the schema. Run by `triage migrate` as the schema's
-- owner after the migrations, again each time (the statements are idempotent), so that
-- a table added by a later migration is granted too. {role} is a quoted identifier;
-- several statements, run as one script.

-- name: grant_service
GRANT USAGE ON SCHEMA public TO {role};
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role};
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role};
-- The audit: added to and read, never changed (BIO2 8.15, NEN 7513). Its triggers refuse
-- UPDATE and DELETE too, but the owner of the table may disable them.
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log, audit_seal FROM {role};
-- What only migrations write.
REVOKE INSERT, UPDATE, DELETE, TRUNCATE
    ON schema_migrations, schema_repeatables, deployment_secret FROM {role};

-- name: audit_exposed
-- Why the connected role could change or remove audit entries: it owns the table (and
-- so may disable its triggers), is a superuser, or was granted UPDATE, DELETE or
-- TRUNCATE. Empty when the audit is append-only for it.
SELECT reason FROM (
    SELECT 'owns the audit table' AS reason
    FROM pg_tables
    WHERE schemaname = 'public' AND tablename = 'audit_log' AND tableowner = current_user
    UNION ALL
    SELECT 'is a superuser' FROM pg_roles WHERE rolname = current_user AND rolsuper
    UNION ALL
    SELECT 'may ' || p || ' the audit table'
    FROM unnest(ARRAY['UPDATE', 'DELETE', 'TRUNCATE']) AS p
    WHERE has_table_privilege('audit_log', p)
) AS why;
