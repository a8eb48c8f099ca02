-- name: open_case_by_address
-- Provisional household recognition: an open case at the same dwelling.
SELECT c.id AS case_id, c.household_id
  FROM households h
  JOIN cases c ON c.household_id = h.id AND c.status = 'open'
 WHERE h.address_key = $1
 ORDER BY c.opened_at
 LIMIT 1;

-- name: store_melding
-- One statement, one round trip: the household and case (when new), the melding, its
-- persons and the audit entry. ON CONFLICT turns a concurrent replay into zero rows, and
-- the caller then rolls the whole transaction back.
WITH new_household AS (
    INSERT INTO households (id, address_key, postcode, huisnummer, toevoeging, straat,
                            woonplaats, gebied, created_at)
    SELECT $17, $20, $10, $11, $12, $13, $14, $16, $35
     WHERE $19
), new_case AS (
    INSERT INTO cases (id, household_id, status, gebied, opened_at)
    SELECT $18, $17, 'open', $16, $35
     WHERE $19
), melding AS (
    INSERT INTO meldingen (id, source, external_id, request_hash, received_at, created_at,
                           kind, category, signals, summary, postcode, huisnummer, toevoeging,
                           straat, woonplaats, gebied_hint, gebied, household_id, case_id,
                           status, urgency_level, urgency_score, urgency_reasons,
                           respond_before, callback_required, rules_version, dedup_decision,
                           dedup_matched_case_id, dedup_score, dedup_detail,
                           submitted_by_client, submitted_by_user)
    VALUES ($1, $2, $3, $4, $5, $35, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
            $18, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33)
    ON CONFLICT ON CONSTRAINT meldingen_idempotency DO NOTHING
    RETURNING id
), person AS (
    INSERT INTO persons (id, melding_id, household_id, position, role, bsn, voornaam,
                         tussenvoegsel, achternaam, geboortedatum)
    SELECT p.id, m.id, $17, p.position, p.role, p.bsn, p.voornaam, p.tussenvoegsel,
           p.achternaam, p.geboortedatum
      FROM melding m,
           unnest($36::uuid[], $37::text[], $38::text[], $39::text[], $40::text[],
                  $41::text[], $42::date[])
           WITH ORDINALITY AS p(id, role, bsn, voornaam, tussenvoegsel, achternaam,
                                geboortedatum, position)
), audit AS (
    INSERT INTO audit_log (at, actor_kind, actor_id, actor_role, action, melding_id, case_id,
                           endpoint, request_id)
    SELECT $35, $34, COALESCE($32, $33), $43, 'melding.create', m.id, $18, $44, $45
      FROM melding m
)
SELECT id FROM melding;

-- name: melding_by_key
SELECT id, request_hash, case_id, status, gebied, urgency_level, urgency_score,
       urgency_reasons, respond_before, callback_required, rules_version, dedup_decision,
       dedup_matched_case_id, dedup_score, dedup_detail
  FROM meldingen
 WHERE source = $1 AND external_id = $2;
