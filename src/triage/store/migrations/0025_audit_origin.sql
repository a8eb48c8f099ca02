-- Every entry a request writes holds its origin (the keyed digest of the caller's address,
-- as on denied entries) and, for a source system acting for a person of its own, on whose
-- behalf (the `Triage-On-Behalf-Of` header: that person's id at the source). NEN 7513
-- asks for the user on whose behalf an action was taken; BIO2 8.15.01 for the origin.
--
-- The request's connection says both once (api/handlers.py, `connection`), as settings
-- of its session, with the request id: this trigger copies them into each entry that
-- request writes, so that no statement of the 29 that audit has to pass them on. An entry
-- takes them only when its request id is the one they were set for: a pooled connection
-- keeps its settings after the request, and a later user of it (a worker, another
-- request) must never inherit them. Entries that give an origin themselves (the intake,
-- denied attempts) are left as written. NULL for every row before this migration, so
-- that their form in the hash chain stays as sealed.
ALTER TABLE audit_log ADD COLUMN on_behalf_of text
    CHECK (length(on_behalf_of) BETWEEN 1 AND 64);

CREATE FUNCTION audit_log_request_context() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.request_id = current_setting('triage.request_id', true) THEN
        NEW.origin := NULLIF(current_setting('triage.origin', true), '');
        NEW.on_behalf_of := NULLIF(current_setting('triage.on_behalf_of', true), '');
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER audit_log_request_context
    BEFORE INSERT ON audit_log
    FOR EACH ROW WHEN (NEW.origin IS NULL AND NEW.request_id IS NOT NULL)
    EXECUTE FUNCTION audit_log_request_context();
