-- name: cases_by_keys
-- Blocking: the cases sharing a key with any melding of the batch (index lookups only).
SELECT key, case_id, open
  FROM match_keys
 WHERE key = ANY ($1::text[]);

-- name: candidates
-- What matching and urgency need of each candidate case: the addresses and people
-- reported in its household, and its recent history ($2: from when, for history).
SELECT c.id AS case_id, c.household_id, c.status = 'open' AS open, c.closed_at,
       (SELECT coalesce(json_agg(DISTINCT jsonb_build_object(
                   'postcode', m.postcode, 'huisnummer', m.huisnummer,
                   'toevoeging', m.toevoeging, 'woonplaats', m.woonplaats)), '[]'::json)
          FROM (SELECT postcode, huisnummer, toevoeging, woonplaats
                  FROM meldingen
                 WHERE household_id = c.household_id
                 ORDER BY received_at DESC
                 LIMIT 20) m) AS addresses,
       (SELECT coalesce(json_agg(DISTINCT jsonb_build_object(
                   'bsn', p.bsn, 'voornaam', p.voornaam, 'tussenvoegsel', p.tussenvoegsel,
                   'achternaam', p.achternaam, 'geboortedatum', p.geboortedatum)), '[]'::json)
          FROM (SELECT bsn, voornaam, tussenvoegsel, achternaam, geboortedatum
                  FROM persons
                 WHERE household_id = c.household_id
                 LIMIT 60) p) AS persons,
       (SELECT coalesce(json_agg(json_build_object(
                   'received_at', m.received_at, 'level', m.urgency_level)), '[]'::json)
          FROM meldingen m
         WHERE m.household_id = c.household_id AND m.received_at >= $2) AS recent,
       EXISTS (SELECT 1 FROM meldingen m
                WHERE m.household_id = c.household_id AND m.urgency_level = 'crisis')
           AS earlier_crisis
  FROM cases c
 WHERE c.id = ANY ($1::uuid[]);

-- name: store_batch
-- See intake_functions.sql: one status per melding, in order.
SELECT intake_store_batch($1::jsonb, $2::integer[], $3);

-- name: meldingen_by_keys
-- Earlier meldingen under the given (source, external_id) keys, for replays.
SELECT m.source, m.external_id, m.id, m.request_hash, m.case_id, m.status, m.gebied,
       m.urgency_level, m.urgency_score, m.urgency_reasons, m.respond_before,
       m.callback_required, m.rules_version, m.dedup_decision, m.dedup_matched_case_id,
       m.dedup_score, m.dedup_detail
  FROM unnest($1::text[], $2::text[]) AS k(source, external_id)
  JOIN meldingen m ON m.source = k.source AND m.external_id = k.external_id;
