-- name: take_pass
-- One eraser at a time in the deployment; another process skips the pass.
SELECT pg_try_advisory_xact_lock(hashtextextended('triage.retention', 0));

-- name: due
-- Cases whose term ran out ($1: closed before), oldest first, at most $2, with what of
-- them would go. A case with a melding still being worked on (queued, offered,
-- escalated) waits: its personal data is in use. Locked when erased ($3), so that no
-- correction or link writes to a case while its data goes.
SELECT c.id, c.gebied, c.closed_at,
       (SELECT count(*) FROM meldingen m WHERE m.case_id = c.id) AS meldingen,
       (SELECT count(*) FROM persons p JOIN meldingen m ON m.id = p.melding_id
         WHERE m.case_id = c.id) AS persons
  FROM cases c
 WHERE c.status = 'closed' AND c.erased_at IS NULL AND c.closed_at < $1
   AND NOT EXISTS (SELECT 1 FROM meldingen m
                    WHERE m.case_id = c.id AND m.status IN ('queued', 'offered', 'escalated'))
 ORDER BY c.closed_at, c.id
 LIMIT $2;

-- name: lock_due
SELECT id FROM cases WHERE id = ANY ($1::uuid[]) AND erased_at IS NULL
   FOR UPDATE SKIP LOCKED;

-- name: erase
-- Personal data of the cases $1 goes, at $2: who (persons, and their corrections with
-- them), where (addresses, the household's too when no other case keeps it), what was
-- said (summaries, reasons and notes written by people), and how to find them again
-- (match keys, the case's profile, the source's reference). What the process indicators
-- count stays: times, levels, gebied, statuses, who was offered what.
WITH m AS (
    UPDATE meldingen
       SET summary = '', external_id = 'gewist:' || id::text, request_hash = '\x'::bytea,
           postcode = NULL, huisnummer = NULL, toevoeging = '', straat = NULL,
           woonplaats = NULL, gebied_note = NULL, first_contact_note = NULL, close_reason = NULL,
           dedup_detail = jsonb_build_object('method', dedup_detail->'method'),
           -- An urgency set by hand carries its reason in the melding's reasons too
           -- ("... gezet (meldpunt): <reason>"): what it says up to the reason stays.
           urgency_reasons = (
               SELECT coalesce(jsonb_agg(CASE WHEN r->>'rule' LIKE 'handmatig.%'
                                              THEN jsonb_set(r, '{text}', to_jsonb(
                                                   split_part(r->>'text', '): ', 1)
                                                   || '): gewist (bewaartermijn)'))
                                              ELSE r END ORDER BY i), '[]'::jsonb)
                 FROM jsonb_array_elements(urgency_reasons) WITH ORDINALITY AS e (r, i)),
           erased_at = $2
     WHERE case_id = ANY ($1::uuid[])
    RETURNING id
), p AS (
    DELETE FROM persons WHERE melding_id IN (SELECT id FROM m) RETURNING 1
), a AS (
    -- A melding given by hand carries the reason in the assignment's reasons
    -- ("Met de hand toegewezen (meldpunt): <reason>"); the others' reasons are the
    -- routing's own words.
    UPDATE assignments
       SET decline_reason = NULL,
           reasons = CASE WHEN tier = 'operator'
                          THEN (SELECT coalesce(jsonb_agg(to_jsonb(
                                           split_part(r #>> '{}', '): ', 1)
                                           || '): gewist (bewaartermijn)') ORDER BY i),
                                       '[]'::jsonb)
                                  FROM jsonb_array_elements(reasons) WITH ORDINALITY
                                       AS e (r, i))
                          ELSE reasons END
     WHERE melding_id IN (SELECT id FROM m)
       AND (decline_reason IS NOT NULL OR tier = 'operator') RETURNING 1
), o AS (
    UPDATE urgency_overrides SET reason = 'gewist (bewaartermijn)'
     WHERE melding_id IN (SELECT id FROM m) RETURNING 1
), ch AS (
    UPDATE case_changes SET reason = 'gewist (bewaartermijn)'
     WHERE from_case = ANY ($1::uuid[]) OR to_case = ANY ($1::uuid[])
        OR melding_id IN (SELECT id FROM m)
    RETURNING 1
), h AS (
    UPDATE case_handovers SET reason = 'gewist (bewaartermijn)',
                              end_reason = CASE WHEN end_reason IS NULL THEN NULL
                                                ELSE 'gewist (bewaartermijn)' END
     WHERE case_id = ANY ($1::uuid[]) RETURNING 1
), ms AS (
    UPDATE case_milestones SET note = NULL WHERE case_id = ANY ($1::uuid[]) RETURNING 1
), cn AS (
    DELETE FROM case_notes WHERE case_id = ANY ($1::uuid[]) RETURNING 1
), k AS (
    DELETE FROM match_keys WHERE case_id = ANY ($1::uuid[]) RETURNING 1
), hh AS (
    UPDATE households h
       SET address_key = NULL, postcode = NULL, huisnummer = NULL, toevoeging = '',
           straat = NULL, woonplaats = NULL
     WHERE h.id IN (SELECT household_id FROM cases WHERE id = ANY ($1::uuid[]))
       AND NOT EXISTS (SELECT 1 FROM cases c
                        WHERE c.household_id = h.id AND c.erased_at IS NULL
                          AND c.id <> ALL ($1::uuid[]))
    RETURNING 1
), c AS (
    UPDATE cases SET match_persons = '[]', match_addresses = '[]', erased_at = $2
     WHERE id = ANY ($1::uuid[])
    RETURNING id
), audited AS (
    INSERT INTO audit_log (at, actor_kind, actor_role, action, case_id, endpoint)
    SELECT $2, 'system', 'retention', 'case.erased', id, 'triage retention' FROM c
    RETURNING 1
)
SELECT (SELECT count(*) FROM c) AS cases, (SELECT count(*) FROM m) AS meldingen,
       (SELECT count(*) FROM p) AS persons, (SELECT count(*) FROM audited) AS audited;
