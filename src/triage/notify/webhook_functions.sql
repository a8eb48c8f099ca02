-- Repeatable: (re)created by `triage migrate` whenever this file changes.
--
-- webhook_record() writes the outbox rows of notices (notify/webhooks.py): one delivery
-- per active webhook of each notice's organisation that wants its event. A function, so
-- that the offer's single statement (dispatch.sql) and notify/webhooks.py's `record`
-- write deliveries the same way, in the transaction of the change they report.
CREATE OR REPLACE FUNCTION webhook_record(
    p_organisations text[], p_events text[], p_payloads jsonb[], p_at timestamptz
) RETURNS integer
-- plpgsql, not sql: its statement's plan is kept for the session, where a sql
-- function called from another statement is planned again at every call (the offer).
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_made integer;
BEGIN
    INSERT INTO webhook_deliveries (id, webhook_id, event, payload, created_at, next_attempt_at)
    SELECT gen_random_uuid(), w.id, n.event, n.payload, p_at, p_at
      FROM unnest(p_organisations, p_events, p_payloads) AS n (organisation, event, payload)
      JOIN webhooks w ON w.organisation = n.organisation AND w.disabled_at IS NULL
                     AND n.event = ANY (w.events);
    GET DIAGNOSTICS v_made = ROW_COUNT;
    RETURN v_made;
END
$$;
