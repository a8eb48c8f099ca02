-- name: cases_by_keys
-- Blocking: the cases sharing a key with any melding of the batch. One index probe per
-- key: OFFSET 0 keeps the planner from flattening the lateral subquery into a join that
-- scans all of match_keys (which it chooses when the table grew since its last ANALYZE).
-- (No LIMIT per key for the model's cap: on a table not analysed yet, the planner then
-- reads all of match_keys once per key, 60 ms a batch instead of 1. Python applies it.)
SELECT k.key, m.case_id
  FROM unnest($1::text[]) AS k(key)
 CROSS JOIN LATERAL (SELECT case_id FROM match_keys
                      WHERE match_keys.key = k.key OFFSET 0) AS m;

-- name: candidates
-- What matching and urgency need of each candidate case (its profile): one primary-key
-- lookup per case.
SELECT id AS case_id, household_id, status = 'open' AS open, closed_at, match_persons,
       match_addresses, recent, earlier_crisis
  FROM cases
 WHERE id = ANY ($1::uuid[]);

-- name: store_batch
-- See intake_functions.sql: one status per melding, in order.
SELECT intake_store_batch($1::jsonb, $2::integer[], $3);

-- name: meldingen_by_keys
-- Earlier meldingen under the given (source, external_id) keys, for replays.
SELECT m.source, m.external_id, m.id, m.request_hash, m.case_id, m.status, m.gebied,
       m.gebied_note, m.urgency_level, m.urgency_score, m.urgency_reasons, m.respond_before,
       m.callback_required, m.rules_version, m.dedup_decision, m.dedup_matched_case_id,
       m.dedup_score, m.dedup_detail, m.submitted_by_client
  FROM unnest($1::text[], $2::text[]) AS k(source, external_id)
  JOIN meldingen m ON m.source = k.source AND m.external_id = k.external_id;

-- name: audit_replays
-- Meldingen sent again, answered from what was stored, or refused (result 'denied': sent
-- by another client of the source, or with another body): audited before the answer.
INSERT INTO audit_log (at, actor_kind, actor_id, actor_role, action, melding_id, case_id,
                       endpoint, request_id, result, origin, on_behalf_of)
SELECT $1, kind, actor, role, 'melding.replay', melding, case_id, endpoint, request_id, result,
       origin, on_behalf_of
  FROM unnest($2::text[], $3::uuid[], $4::text[], $5::uuid[], $6::uuid[], $7::text[],
              $8::text[], $9::text[], $10::text[], $11::text[])
    AS r (kind, actor, role, melding, case_id, endpoint, request_id, result, origin,
          on_behalf_of);
