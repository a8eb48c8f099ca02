-- name: open_case_by_address
SELECT case_id, household_id FROM open_case_for_address($1);

-- name: store_melding
-- Parameters in the order of intake_store() in intake_functions.sql.
SELECT intake_store($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                    $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30,
                    $31, $32, $33, $34, $35, $36, $37, $38, $39);

-- name: melding_by_key
SELECT id, request_hash, case_id, status, gebied, urgency_level, urgency_score,
       urgency_reasons, respond_before, callback_required, rules_version, dedup_decision,
       dedup_matched_case_id, dedup_score, dedup_detail
  FROM meldingen
 WHERE source = $1 AND external_id = $2;
