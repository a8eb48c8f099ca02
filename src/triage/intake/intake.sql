-- name: open_cases_by_address
-- The open case (if any) of each address key, for a whole batch in one round trip.
SELECT k.key, c.case_id, c.household_id
  FROM unnest($1::text[]) AS k(key)
 CROSS JOIN LATERAL open_case_for_address(k.key) c;

-- name: store_batch
-- See intake_functions.sql: one status per melding, in order.
SELECT intake_store_batch($1::jsonb, $2);

-- name: meldingen_by_keys
-- Earlier meldingen under the given (source, external_id) keys, for replays.
SELECT m.source, m.external_id, m.id, m.request_hash, m.case_id, m.status, m.gebied,
       m.urgency_level, m.urgency_score, m.urgency_reasons, m.respond_before,
       m.callback_required, m.rules_version, m.dedup_decision, m.dedup_matched_case_id,
       m.dedup_score, m.dedup_detail
  FROM unnest($1::text[], $2::text[]) AS k(source, external_id)
  JOIN meldingen m ON m.source = k.source AND m.external_id = k.external_id;
