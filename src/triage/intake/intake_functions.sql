-- Repeatable: (re)created by `triage migrate` whenever this file changes.
--
-- Intake writes meldingen in batches: the meldingen that arrive while an earlier batch is
-- being written go together in one call and one transaction (one commit, one round trip).
-- Python looks up the households and decides (case, urgency) first, without holding
-- locks; intake_store_batch() then, per melding in lock-key order, takes the household's
-- lock, checks that the decision still holds (the open case for the address is still the
-- one Python saw) and writes it, or writes nothing for it and reports 'stale' so Python
-- decides again. A melding whose (source, external_id) exists is reported 'duplicate'
-- and not written. Nothing is ever half-written: the batch is one statement.

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

CREATE OR REPLACE FUNCTION intake_store_one(m jsonb, p_now timestamptz)
RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_key      text := m->>'address_key';
    v_expected uuid := (m->>'expected_case_id')::uuid;
    v_current  uuid;
BEGIN
    IF EXISTS (SELECT 1 FROM meldingen
                WHERE source = m->>'source' AND external_id = m->>'external_id') THEN
        RETURN 'duplicate';
    END IF;
    IF v_key IS NOT NULL THEN
        -- A VOLATILE function takes a new snapshot per statement: the lookup below sees a
        -- case committed by whoever held this lock before us.
        PERFORM pg_advisory_xact_lock(1, (m->>'lock_key')::integer);
        SELECT case_id INTO v_current FROM open_case_for_address(v_key);
        IF v_current IS DISTINCT FROM v_expected THEN
            RETURN 'stale';
        END IF;
    END IF;

    IF v_expected IS NULL THEN
        INSERT INTO households (id, address_key, postcode, huisnummer, toevoeging, straat,
                                woonplaats, gebied, created_at)
        VALUES ((m->>'household_id')::uuid, v_key, m->>'postcode',
                (m->>'huisnummer')::integer, m->>'toevoeging', m->>'straat',
                m->>'woonplaats', m->>'gebied', p_now);
        INSERT INTO cases (id, household_id, status, gebied, opened_at)
        VALUES ((m->>'case_id')::uuid, (m->>'household_id')::uuid, 'open', m->>'gebied',
                p_now);
    END IF;

    INSERT INTO meldingen (id, source, external_id, request_hash, received_at, created_at,
                           kind, category, signals, summary, postcode, huisnummer, toevoeging,
                           straat, woonplaats, gebied_hint, gebied, household_id, case_id,
                           status, urgency_level, urgency_score, urgency_reasons,
                           respond_before, callback_required, rules_version, dedup_decision,
                           dedup_matched_case_id, dedup_score, dedup_detail,
                           submitted_by_client, submitted_by_user)
    VALUES ((m->>'id')::uuid, m->>'source', m->>'external_id',
            decode(m->>'request_hash', 'hex'), (m->>'received_at')::timestamptz, p_now,
            m->>'kind', m->>'category',
            ARRAY(SELECT jsonb_array_elements_text(m->'signals')), m->>'summary',
            m->>'postcode', (m->>'huisnummer')::integer, m->>'toevoeging', m->>'straat',
            m->>'woonplaats', m->>'gebied_hint', m->>'gebied', (m->>'household_id')::uuid,
            (m->>'case_id')::uuid, m->>'status', m->>'urgency_level',
            (m->>'urgency_score')::smallint, m->'urgency_reasons',
            (m->>'respond_before')::timestamptz, (m->>'callback_required')::boolean,
            m->>'rules_version', m->>'dedup_decision',
            (m->>'dedup_matched_case_id')::uuid, (m->>'dedup_score')::real,
            m->'dedup_detail', (m->>'client_id')::uuid, (m->>'user_id')::uuid);

    INSERT INTO persons (id, melding_id, household_id, position, role, bsn, voornaam,
                         tussenvoegsel, achternaam, geboortedatum)
    SELECT gen_random_uuid(), (m->>'id')::uuid, (m->>'household_id')::uuid, p.position,
           p.role, p.bsn, p.voornaam, p.tussenvoegsel, p.achternaam, p.geboortedatum
      FROM ROWS FROM (jsonb_to_recordset(m->'persons')
                      AS (role text, bsn text, voornaam text, tussenvoegsel text,
                          achternaam text, geboortedatum date))
           WITH ORDINALITY AS p(role, bsn, voornaam, tussenvoegsel, achternaam,
                                geboortedatum, position);

    INSERT INTO audit_log (at, actor_kind, actor_id, actor_role, action, melding_id, case_id,
                           endpoint, request_id)
    VALUES (p_now, m->>'actor_kind', COALESCE((m->>'client_id')::uuid, (m->>'user_id')::uuid),
            m->>'actor_role', 'melding.create', (m->>'id')::uuid, (m->>'case_id')::uuid,
            m->>'endpoint', m->>'request_id');
    RETURN 'stored';
END
$$;

-- One status per melding, in the order given: 'stored', 'stale' or 'duplicate'.
-- The caller sorts the batch by lock_key, so concurrent batches take household locks in
-- the same order and cannot deadlock on each other.
CREATE OR REPLACE FUNCTION intake_store_batch(p_meldingen jsonb, p_now timestamptz)
RETURNS text[]
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_item     jsonb;
    v_statuses text[] := '{}';
BEGIN
    FOR v_item IN SELECT value FROM jsonb_array_elements(p_meldingen) LOOP
        v_statuses := v_statuses || intake_store_one(v_item, p_now);
    END LOOP;
    RETURN v_statuses;
END
$$;
