-- Repeatable: (re)created by `triage migrate` whenever this file changes.
--
-- intake_store() writes one melding in one round trip and one implicit transaction.
-- Python looks up the household and decides (case, urgency) first, without holding a lock;
-- this function then takes the household's lock, checks that the decision still holds
-- (the open case for the address is still the one Python saw) and writes everything, or
-- writes nothing and answers 'stale' so that Python decides again. A replay of an existing
-- (source, external_id) raises unique_violation on meldingen_idempotency, which rolls the
-- whole statement back: nothing is ever half-written.

CREATE OR REPLACE FUNCTION open_case_for_address(p_address_key text)
RETURNS TABLE (case_id uuid, household_id uuid)
LANGUAGE sql STABLE AS $$
    -- A lateral lookup: two index probes whatever the statistics say (a table that grew
    -- fast since its last ANALYZE must not turn this into a scan of all open cases).
    SELECT c.id, c.household_id
      FROM households h
     CROSS JOIN LATERAL (
            SELECT id, household_id, opened_at
              FROM cases
             WHERE cases.household_id = h.id AND status = 'open'
             ORDER BY opened_at
             LIMIT 1) c
     WHERE h.address_key = p_address_key
     ORDER BY c.opened_at
     LIMIT 1
$$;

CREATE OR REPLACE FUNCTION intake_store(
    p_melding_id uuid, p_source text, p_external_id text, p_request_hash bytea,
    p_received_at timestamptz, p_kind text, p_category text, p_signals text[], p_summary text,
    p_postcode text, p_huisnummer integer, p_toevoeging text, p_straat text, p_woonplaats text,
    p_gebied_hint text, p_gebied text, p_address_key text,
    p_expected_case_id uuid, p_case_id uuid, p_household_id uuid,
    p_status text, p_level text, p_score smallint, p_reasons jsonb, p_respond_before timestamptz,
    p_callback boolean, p_rules_version text,
    p_dedup_decision text, p_dedup_matched_case_id uuid, p_dedup_score real, p_dedup_detail jsonb,
    p_client_id uuid, p_user_id uuid, p_actor_kind text, p_actor_role text,
    p_now timestamptz, p_persons jsonb, p_endpoint text, p_request_id text
) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_current uuid;
BEGIN
    IF p_address_key IS NOT NULL THEN
        -- A VOLATILE function takes a new snapshot per statement: the lookup below sees a
        -- case committed by whoever held this lock before us.
        PERFORM pg_advisory_xact_lock(1, hashtext(p_address_key));
        SELECT case_id INTO v_current FROM open_case_for_address(p_address_key);
        IF v_current IS DISTINCT FROM p_expected_case_id THEN
            RETURN 'stale';
        END IF;
    END IF;

    IF p_expected_case_id IS NULL THEN
        INSERT INTO households (id, address_key, postcode, huisnummer, toevoeging, straat,
                                woonplaats, gebied, created_at)
        VALUES (p_household_id, p_address_key, p_postcode, p_huisnummer, p_toevoeging,
                p_straat, p_woonplaats, p_gebied, p_now);
        INSERT INTO cases (id, household_id, status, gebied, opened_at)
        VALUES (p_case_id, p_household_id, 'open', p_gebied, p_now);
    END IF;

    INSERT INTO meldingen (id, source, external_id, request_hash, received_at, created_at,
                           kind, category, signals, summary, postcode, huisnummer, toevoeging,
                           straat, woonplaats, gebied_hint, gebied, household_id, case_id,
                           status, urgency_level, urgency_score, urgency_reasons,
                           respond_before, callback_required, rules_version, dedup_decision,
                           dedup_matched_case_id, dedup_score, dedup_detail,
                           submitted_by_client, submitted_by_user)
    VALUES (p_melding_id, p_source, p_external_id, p_request_hash, p_received_at, p_now,
            p_kind, p_category, p_signals, p_summary, p_postcode, p_huisnummer, p_toevoeging,
            p_straat, p_woonplaats, p_gebied_hint, p_gebied, p_household_id, p_case_id,
            p_status, p_level, p_score, p_reasons, p_respond_before, p_callback,
            p_rules_version, p_dedup_decision, p_dedup_matched_case_id, p_dedup_score,
            p_dedup_detail, p_client_id, p_user_id);

    INSERT INTO persons (id, melding_id, household_id, position, role, bsn, voornaam,
                         tussenvoegsel, achternaam, geboortedatum)
    SELECT gen_random_uuid(), p_melding_id, p_household_id, p.position, p.role, p.bsn,
           p.voornaam, p.tussenvoegsel, p.achternaam, p.geboortedatum
      FROM ROWS FROM (jsonb_to_recordset(p_persons)
                      AS (role text, bsn text, voornaam text, tussenvoegsel text,
                          achternaam text, geboortedatum date))
           WITH ORDINALITY AS p(role, bsn, voornaam, tussenvoegsel, achternaam,
                                geboortedatum, position);

    INSERT INTO audit_log (at, actor_kind, actor_id, actor_role, action, melding_id, case_id,
                           endpoint, request_id)
    VALUES (p_now, p_actor_kind, COALESCE(p_client_id, p_user_id), p_actor_role,
            'melding.create', p_melding_id, p_case_id, p_endpoint, p_request_id);
    RETURN 'stored';
END
$$;
