-- Repeatable: (re)created by `triage migrate` whenever this file changes.
--
-- Intake writes meldingen in batches: the meldingen that arrive while an earlier batch is
-- being written go together in one call and one transaction (one commit, one round trip).
-- Python looks up the candidate cases and decides (case, urgency) first, without holding
-- locks; intake_store_batch() then takes the batch's household locks, and per melding
-- checks that the decision still holds (the open cases sharing a blocking key with it are
-- still the ones Python saw) and writes it, or writes nothing for it and reports 'stale'
-- so that Python decides again. A melding whose (source, external_id) exists is reported 'duplicate'
-- and not written. Nothing is ever half-written: the batch is one statement.

CREATE OR REPLACE FUNCTION intake_store_one(m jsonb, p_now timestamptz)
RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_keys     text[] := ARRAY(SELECT jsonb_array_elements_text(m->'keys'));
    v_expected uuid[] := ARRAY(SELECT jsonb_array_elements_text(m->'expected')::uuid);
    v_current  uuid[];
    v_case     uuid := (m->>'case_id')::uuid;
    v_house    uuid := (m->>'household_id')::uuid;
    v_address  jsonb := jsonb_build_object('postcode', m->'postcode',
                                           'huisnummer', m->'huisnummer',
                                           'toevoeging', m->'toevoeging',
                                           'straat', m->'straat',
                                           'woonplaats', m->'woonplaats');
BEGIN
    IF EXISTS (SELECT 1 FROM meldingen
                WHERE source = m->>'source' AND external_id = m->>'external_id') THEN
        RETURN 'duplicate';
    END IF;
    -- The decision holds only if the open cases sharing an identifying key with this
    -- melding (the dwelling, a BSN, a surname sound with birth date: the locked kinds)
    -- are still the ones Python saw (this statement sees what earlier lock holders
    -- committed).
    -- One index probe per key: OFFSET 0 keeps the planner from flattening the lateral
    -- subquery into a join that scans all of match_keys.
    SELECT coalesce(array_agg(DISTINCT x.case_id ORDER BY x.case_id), '{}')
      INTO v_current
      FROM unnest(v_keys) AS k(key)
     CROSS JOIN LATERAL (SELECT case_id FROM match_keys
                          WHERE match_keys.key = k.key AND match_keys.open OFFSET 0) AS x;
    IF v_current IS DISTINCT FROM v_expected THEN
        RETURN 'stale';
    END IF;

    IF (m->>'new_household')::boolean THEN
        INSERT INTO households (id, address_key, postcode, huisnummer, toevoeging, straat,
                                woonplaats, gebied, created_at)
        VALUES (v_house, m->>'address_key', m->>'postcode', (m->>'huisnummer')::integer,
                m->>'toevoeging', m->>'straat', m->>'woonplaats', m->>'gebied', p_now);
    END IF;
    IF (m->>'new_case')::boolean THEN
        -- A new case starts with this melding's profile (no update of a row just written).
        INSERT INTO cases (id, household_id, status, gebied, opened_at, previous_case_id,
                           match_persons, match_addresses, recent, earlier_crisis)
        VALUES (v_case, v_house, 'open', m->>'gebied', p_now, (m->>'previous_case_id')::uuid,
                m->'profile_persons', jsonb_build_array(v_address),
                jsonb_build_array(m->'profile_recent'), m->>'urgency_level' = 'crisis');
    ELSIF case_profile_add(v_case, m, v_address) IS NOT TRUE THEN
        -- The case was closed or merged by hand since Python decided (its row lock is
        -- held from here to the commit, so it cannot close after this).
        RETURN 'stale';
    END IF;

    INSERT INTO meldingen (id, source, external_id, request_hash, received_at, created_at,
                           kind, category, signals, summary, postcode, huisnummer, toevoeging,
                           straat, woonplaats, gebied_hint, gebied, gebied_note,
                           household_id, case_id,
                           status, urgency_level, urgency_score, urgency_reasons,
                           respond_before, callback_required, rules_version, dedup_decision,
                           dedup_matched_case_id, dedup_score, dedup_detail,
                           submitted_by_client, submitted_by_user)
    VALUES ((m->>'id')::uuid, m->>'source', m->>'external_id',
            decode(m->>'request_hash', 'hex'), (m->>'received_at')::timestamptz, p_now,
            m->>'kind', m->>'category',
            ARRAY(SELECT jsonb_array_elements_text(m->'signals')), m->>'summary',
            m->>'postcode', (m->>'huisnummer')::integer, m->>'toevoeging', m->>'straat',
            m->>'woonplaats', m->>'gebied_hint', m->>'gebied', m->>'gebied_note', v_house,
            v_case,
            m->>'status', m->>'urgency_level', (m->>'urgency_score')::smallint,
            m->'urgency_reasons', (m->>'respond_before')::timestamptz,
            (m->>'callback_required')::boolean, m->>'rules_version', m->>'dedup_decision',
            (m->>'dedup_matched_case_id')::uuid, (m->>'dedup_score')::real,
            m->'dedup_detail', (m->>'client_id')::uuid, (m->>'user_id')::uuid);

    INSERT INTO persons (id, melding_id, household_id, position, role, bsn, voornaam,
                         tussenvoegsel, achternaam, geboortedatum)
    SELECT gen_random_uuid(), (m->>'id')::uuid, v_house, p.position, p.role, p.bsn,
           p.voornaam, p.tussenvoegsel, p.achternaam, p.geboortedatum
      FROM ROWS FROM (jsonb_to_recordset(m->'persons')
                      AS (role text, bsn text, voornaam text, tussenvoegsel text,
                          achternaam text, geboortedatum date))
           WITH ORDINALITY AS p(role, bsn, voornaam, tussenvoegsel, achternaam,
                                geboortedatum, position);

    -- Every spelling seen for the case is a way to find it next time (Python sends the
    -- keys the case did not have when it decided; a concurrent writer may have added one).
    INSERT INTO match_keys (key, case_id, household_id)
    SELECT jsonb_array_elements_text(m->'new_keys'), v_case, v_house
    ON CONFLICT (key, case_id) DO NOTHING;

    INSERT INTO audit_log (at, actor_kind, actor_id, actor_role, action, melding_id, case_id,
                           endpoint, request_id, origin, on_behalf_of)
    VALUES (p_now, m->>'actor_kind', COALESCE((m->>'client_id')::uuid, (m->>'user_id')::uuid),
            m->>'actor_role', 'melding.create', (m->>'id')::uuid, v_case,
            m->>'endpoint', m->>'request_id', m->>'origin', m->>'on_behalf_of');
    RETURN 'stored';
END
$$;

-- Add a melding's people, address and time to its case's matching profile: people and
-- addresses not in it yet (containment, not re-sorting the whole profile), and the
-- melding's time and level, dropping the oldest beyond 60. Bounded: a case keeps at most
-- 40 people and 12 addresses for matching (all of them stay in persons and meldingen).
-- NULL when the case is no longer open. (Dropped first: it returned void before.)
DROP FUNCTION IF EXISTS case_profile_add(uuid, jsonb, jsonb);
CREATE FUNCTION case_profile_add(p_case uuid, m jsonb, p_address jsonb)
RETURNS boolean
LANGUAGE sql VOLATILE AS $$
    UPDATE cases c
       SET match_persons = c.match_persons || coalesce((
               SELECT jsonb_agg(p)
                 FROM jsonb_array_elements(m->'profile_persons') AS p
                WHERE NOT c.match_persons @> jsonb_build_array(p)
                  AND jsonb_array_length(c.match_persons) < 40), '[]'),
           match_addresses = CASE
               WHEN c.match_addresses @> jsonb_build_array(p_address)
                    OR jsonb_array_length(c.match_addresses) >= 12 THEN c.match_addresses
               ELSE c.match_addresses || jsonb_build_array(p_address) END,
           recent = CASE
               WHEN jsonb_array_length(c.recent) >= 60
                    THEN (c.recent - 0) || jsonb_build_array(m->'profile_recent')
               ELSE c.recent || jsonb_build_array(m->'profile_recent') END,
           earlier_crisis = c.earlier_crisis OR m->>'urgency_level' = 'crisis'
     WHERE c.id = p_case AND c.status = 'open'
 RETURNING true
$$;

-- One status per melding, in the order given: 'stored', 'stale' or 'duplicate'.
-- First the household locks of the whole batch, in ascending order: concurrent batches
-- then take them in one order and cannot deadlock; they are held until the commit.
CREATE OR REPLACE FUNCTION intake_store_batch(p_meldingen jsonb, p_locks integer[],
                                              p_now timestamptz)
RETURNS text[]
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_item     jsonb;
    v_statuses text[] := '{}';
BEGIN
    PERFORM pg_advisory_xact_lock(2, k)
       FROM (SELECT DISTINCT unnest(p_locks) AS k ORDER BY 1) AS sorted;
    FOR v_item IN SELECT value FROM jsonb_array_elements(p_meldingen) LOOP
        v_statuses := v_statuses || intake_store_one(v_item, p_now);
    END LOOP;
    RETURN v_statuses;
END
$$;
