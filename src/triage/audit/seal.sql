-- name: take_sealing
-- One sealer at a time in the deployment (the chain is a sequence); others skip the pass.
SELECT pg_try_advisory_xact_lock(hashtextextended('triage.audit-seal', 0));

-- name: last_seal
SELECT seq, audit_id, chain FROM audit_seal ORDER BY seq DESC LIMIT 1;

-- name: unsealed
-- Audit rows without a seal, oldest first. Ids are taken when a row is written and
-- committed in another order, so a row may commit after a later id was sealed: the look
-- reaches back $1 ids below the last sealed one for those (a transaction open that long
-- is unheard of), each a probe of the seal's unique index.
SELECT a.*
  FROM audit_log a
 WHERE a.id > $1
   AND NOT EXISTS (SELECT 1 FROM audit_seal s WHERE s.audit_id = a.id)
 ORDER BY a.id
 LIMIT $2;

-- name: add_seals
INSERT INTO audit_seal (seq, audit_id, chain)
SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bytea[]);

-- name: chain_page
-- Seals in chain order with their audit rows (absent when deleted), for verification.
SELECT s.seq, s.audit_id, s.chain, a.*
  FROM audit_seal s
  LEFT JOIN audit_log a ON a.id = s.audit_id
 WHERE s.seq > $1
 ORDER BY s.seq
 LIMIT $2;

-- name: unsealed_before
-- Audit rows older than $1 that no seal covers: deleted seals, or a sealer that stopped.
SELECT a.id FROM audit_log a
 WHERE a.at < $1 AND NOT EXISTS (SELECT 1 FROM audit_seal s WHERE s.audit_id = a.id)
 ORDER BY a.id
 LIMIT 1;
