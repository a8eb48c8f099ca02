-- name: melding_for_change
-- The melding to move or settle. Scope: $2 everything, $3 gebied. Not locked: its case's
-- locks come first (see melding_locked).
SELECT id, case_id, gebied, status, dedup_decision, dedup_matched_case_id, review_outcome
  FROM meldingen
 WHERE id = $1 AND ($2 OR gebied = $3);

-- name: melding_locked
-- The same, locked, once its case is: every change takes case locks before melding locks.
SELECT id, case_id, gebied, status, dedup_decision, dedup_matched_case_id, review_outcome
  FROM meldingen
 WHERE id = $1 AND ($2 OR gebied = $3)
   FOR UPDATE;

-- name: case_keys
-- The blocking keys of the cases a change touches: their advisory locks are the ones the
-- intake takes, so that no intake decides against these cases while they change.
SELECT DISTINCT key FROM match_keys WHERE case_id = ANY ($1::uuid[]);

-- name: advisory_locks
-- Ascending, as intake_store_batch() takes them: no deadlock between the two.
SELECT count(pg_advisory_xact_lock(2, k))
  FROM (SELECT DISTINCT unnest($1::integer[]) AS k ORDER BY 1) AS sorted;

-- name: lock_cases
-- The cases a change touches, locked in id order (an intake adding a melding to one of
-- them waits for the change, then finds it closed or still open: case_profile_add()).
SELECT id, household_id, status, gebied, merged_into
  FROM cases
 WHERE id = ANY ($1::uuid[])
 ORDER BY id
   FOR UPDATE;

-- name: case_meldingen
-- Every melding of the given cases with what the profile and a re-scoring need.
SELECT m.id, m.case_id, m.received_at, m.urgency_level, m.urgency_score, m.urgency_reasons,
       m.respond_before, m.status, m.kind, m.category, m.signals, m.gebied, m.postcode,
       m.huisnummer, m.toevoeging, m.straat, m.woonplaats,
       (SELECT coalesce(json_agg(json_build_object(
                   'bsn', p.bsn, 'voornaam', p.voornaam, 'tussenvoegsel', p.tussenvoegsel,
                   'achternaam', p.achternaam, 'geboortedatum', p.geboortedatum)
                   ORDER BY p.position), '[]'::json)
          FROM persons p
         WHERE p.melding_id = m.id) AS persons
  FROM meldingen m
 WHERE m.case_id = ANY ($1::uuid[]);

-- name: move_meldingen
-- The meldingen, their persons and their dispatch history go to case $2 (an open one).
-- An assignment that ended with a closed case it leaves is the specialist's work again.
WITH moved AS (
    UPDATE meldingen SET case_id = $2, household_id = $3
     WHERE id = ANY ($1::uuid[])
 RETURNING id
), assigned AS (
    UPDATE assignments
       SET case_id = $2, state = CASE WHEN state = 'closed' THEN 'accepted' ELSE state END
     WHERE melding_id IN (SELECT id FROM moved)
)
UPDATE persons SET household_id = $3
 WHERE melding_id IN (SELECT id FROM moved);

-- name: set_profile
UPDATE cases
   SET match_persons = $2, match_addresses = $3, recent = $4, earlier_crisis = $5
 WHERE id = $1;

-- name: drop_keys
-- Before the rebuilt keys are added (two statements: rows deleted in a CTE still count
-- for the unique check of an insert in the same statement).
DELETE FROM match_keys WHERE case_id = ANY ($1::uuid[]);

-- name: add_keys
INSERT INTO match_keys (key, case_id, household_id, open)
SELECT * FROM unnest($1::text[], $2::uuid[], $3::uuid[], $4::boolean[]);

-- name: close_case
-- A merged case ($3 the case it went into) keeps no keys: it is no longer a household's
-- case. A closed one keeps them, not open, as history for 180 days. Its accepted
-- assignments end ('closed'): they no longer count in anyone's caseload.
WITH closed AS (
    UPDATE cases SET status = 'closed', closed_at = $2, merged_into = $3
     WHERE id = $1
 RETURNING id
), ended AS (
    UPDATE assignments SET state = 'closed'
     WHERE case_id = $1 AND state = 'accepted'
), dropped AS (
    DELETE FROM match_keys WHERE case_id = $1 AND $3::uuid IS NOT NULL
)
UPDATE match_keys SET open = false
 WHERE case_id = $1 AND $3::uuid IS NULL;

-- name: waiting_count
-- Meldingen of the case that have not had first contact yet.
SELECT count(*) FROM meldingen
 WHERE case_id = $1 AND status IN ('queued', 'offered', 'assigned', 'escalated');

-- name: new_case
-- A case of its own for a melding taken out of its case: a new household at the
-- melding's address.
WITH house AS (
    INSERT INTO households (id, address_key, postcode, huisnummer, toevoeging, straat,
                            woonplaats, gebied, created_at)
    SELECT $2, CASE WHEN m.postcode IS NOT NULL
                    THEN m.postcode || '|' || m.huisnummer || '|' || m.toevoeging END,
           m.postcode, m.huisnummer, m.toevoeging, m.straat, m.woonplaats, m.gebied, $4
      FROM meldingen m
     WHERE m.id = $1
 RETURNING id, gebied
)
INSERT INTO cases (id, household_id, status, gebied, opened_at)
SELECT $3, h.id, 'open', h.gebied, $4 FROM house h;

-- name: raise_urgency
UPDATE meldingen
   SET urgency_level = $2, urgency_score = $3, urgency_reasons = $4, respond_before = $5
 WHERE id = $1;

-- name: settle_review
UPDATE meldingen SET review_outcome = $2, review_at = $3 WHERE id = $1;

-- name: record_change
-- The change and its audit entries (one per case touched), in one statement.
WITH change AS (
    INSERT INTO case_changes (at, action, melding_id, from_case, to_case, actor_kind,
                              actor_id, actor_role, reason, detail)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
 RETURNING id
)
INSERT INTO audit_log (at, actor_kind, actor_id, actor_role, action, melding_id, case_id,
                       endpoint, request_id)
SELECT $1, $6, $7, $8, 'case.' || $2, $3, c, $11, $12
  FROM unnest(ARRAY[$4, $5]::uuid[]) AS c
 WHERE c IS NOT NULL;

-- name: pending_reviews
-- Possible duplicates still to settle, oldest first, in the caller's scope ($1
-- everything, $2 gebied). The case to compare with is followed through any merges.
SELECT m.id AS melding_id, m.case_id, m.received_at, m.gebied, m.urgency_level,
       m.dedup_score, m.dedup_detail->'reasons' AS reasons,
       (WITH RECURSIVE chain(id, merged_into, depth) AS (
            SELECT id, merged_into, 0 FROM cases WHERE id = m.dedup_matched_case_id
            UNION ALL
            SELECT c.id, c.merged_into, chain.depth + 1
              FROM cases c JOIN chain ON c.id = chain.merged_into
             WHERE chain.depth < 50)
        SELECT id FROM chain ORDER BY depth DESC LIMIT 1) AS candidate_case_id
  FROM meldingen m
 WHERE m.dedup_decision = 'review' AND m.review_outcome IS NULL
   AND ($1 OR m.gebied = $2)
 ORDER BY m.received_at
 LIMIT $3;

-- name: live_case
-- Where a case went: itself, or the case it was merged into (and so on).
WITH RECURSIVE chain(id, status, merged_into, depth) AS (
    SELECT id, status, merged_into, 0 FROM cases WHERE id = $1
    UNION ALL
    SELECT c.id, c.status, c.merged_into, chain.depth + 1
      FROM cases c JOIN chain ON c.id = chain.merged_into
     WHERE chain.depth < 50
)
SELECT id, status FROM chain ORDER BY depth DESC LIMIT 1;

-- name: lock_work
-- The open offers and accepted assignments of the meldingen a change moves (given, $1, or
-- those of the cases given, $2), locked first and in id order: the order in which an
-- answer, the expiry of offers and a roster change lock an assignment, its melding and
-- (accepting) its case, so that a correction at the same moment waits for them instead
-- of deadlocking with them.
SELECT id FROM assignments
 WHERE (melding_id = ANY ($1::uuid[])
        OR melding_id IN (SELECT id FROM meldingen WHERE case_id = ANY ($2::uuid[])))
   AND state IN ('offered', 'accepted')
 ORDER BY id
   FOR UPDATE;

-- name: has_override
SELECT EXISTS (SELECT 1 FROM urgency_overrides WHERE melding_id = $1);

-- name: rescore
-- Urgency set again from the melding alone (taken out of a case: the history of the case
-- it left no longer counts); may be lower than before.
UPDATE meldingen
   SET urgency_level = $2, urgency_score = $3, urgency_reasons = $4, respond_before = $5
 WHERE id = $1;

-- name: case_of
-- The case a melding is in now.
SELECT case_id FROM meldingen WHERE id = $1;
