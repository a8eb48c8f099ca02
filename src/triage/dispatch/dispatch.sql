-- name: meldingen_to_offer
-- Claimed meldingen with what routing needs, in the order claimed (no lock: the offer
-- statement is made only if a melding is still as read): the case's lead (continuity)
-- and who declined it or let its offer expire in this round (offered to someone else
-- next; a round starts anew when an escalation for want of candidates lapses).
SELECT m.id, m.case_id, m.gebied, m.status, m.category, m.signals, m.urgency_level,
       m.respond_before, m.created_at, c.lead,
       ARRAY(SELECT DISTINCT a.specialist FROM assignments a
              WHERE a.melding_id = m.id AND a.state IN ('declined', 'expired')
                AND a.answered_at >= coalesce(m.round_from, '-infinity')) AS passed
  FROM meldingen m
  JOIN cases c ON c.id = m.case_id
 WHERE m.id = ANY ($1::uuid[])
 ORDER BY array_position($1::uuid[], m.id);

-- name: loads
-- The open work of people on duty ($1, with their caseload caps $2): offers out and
-- accepted meldingen (of open cases: closing a case closes them), counted from the
-- partial index and only up to each one's cap. Routing only asks "under the cap?" and
-- "who has least", and a count that stops at the cap stays cheap when someone (a
-- coordinator at night) holds hundreds of offers. People without any are left out.
SELECT p.specialist, l.open
  FROM unnest($1::text[], $2::int[]) AS p (specialist, cap)
 CROSS JOIN LATERAL (
       SELECT count(*) AS open
         FROM (SELECT FROM assignments a
                WHERE a.specialist = p.specialist AND a.state IN ('offered', 'accepted')
                LIMIT p.cap) AS counted) AS l
 WHERE l.open > 0;

-- name: hold_people
-- The people a round offers to, held (shared) until it commits: a roster change that takes
-- one of them off duty holds them exclusively (routing/roster_changes.sql, hold_person),
-- so it waits for the offers in flight to them, which it then withdraws, and a round
-- after it waits for its commit and then sees the absence (offer_round reads it in a
-- statement of its own, after this one).
SELECT pg_advisory_xact_lock_shared(hashtextextended('triage.person:' || p, 0))
  FROM unnest($1::text[]) AS p;

-- name: offer_round
-- The offers of a round (offer.py; one alone when a round's statement failed), each
-- made only if its melding is still as it was read: queued, in the planned gebied, at
-- the planned level (the answer time depends on it), and not passed on by the chosen
-- person meanwhile. One offered, reassigned, moved, raised or declined meanwhile is
-- left out (the change that did it queued it again); the rest are made. Each offer's
-- status, assignment, audit (the system's act) and webhook deliveries commit together.
-- The meldingen are locked in id order, so two rounds that overlap (a duplicate claim)
-- wait for each other instead of deadlocking, and the second finds them no longer
-- queued. The meldingen offered come back.
--
-- It commits without waiting for the disk (synchronous_commit off for this transaction
-- only): a stall of the disk would otherwise hold up every offer behind it. An offer is
-- derived from the melding, not acknowledged to anyone outside: the few lost should
-- PostgreSQL crash within a fraction of a second of them leave their meldingen queued,
-- and the reconciler, which sees the crash recovery, queues them again
-- (queue/reconcile.py). The intake, which answers a source, waits for the disk.
WITH planned AS (
    -- The reasons ($6) come as JSON text: a list of lists would be read as a 2-D array.
    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[],
                         $6::text[], $7::timestamptz[], $8::text[], $9::jsonb[], $10::text[])
        AS p (assignment_id, melding_id, gebied, specialist, tier, reasons, answer_before,
              organisation, payload, urgency_level)
), locked AS (
    SELECT m.id FROM meldingen m
     WHERE m.id IN (SELECT melding_id FROM planned)
     ORDER BY m.id
       FOR UPDATE
), claimed AS (
    UPDATE meldingen m SET status = 'offered'
      FROM planned p
     WHERE m.id = p.melding_id AND m.id IN (SELECT id FROM locked)
       AND m.status = 'queued' AND m.gebied = p.gebied AND m.urgency_level = p.urgency_level
       AND NOT EXISTS (SELECT 1 FROM assignments a
                        WHERE a.melding_id = p.melding_id AND a.specialist = p.specialist
                          AND a.state IN ('declined', 'expired')
                          AND a.answered_at >= coalesce(m.round_from, '-infinity'))
       -- Marked absent, or no longer the case's lead (a handover), since the round read
       -- who is on duty and who leads: that change withdrew their offers; none is made.
       AND NOT EXISTS (SELECT 1 FROM roster_changes rc
                        WHERE rc.specialist = p.specialist AND rc.kind = 'absent'
                          AND rc.withdrawn_at IS NULL
                          AND rc.starts_at <= $12 AND rc.ends_at > $12)
       AND (p.tier <> 'continuity'
            OR EXISTS (SELECT 1 FROM cases c WHERE c.id = m.case_id AND c.lead = p.specialist))
 RETURNING m.id, m.case_id, p.assignment_id, p.specialist, p.gebied, p.tier, p.reasons,
           p.answer_before, p.organisation, p.payload
), offer AS (
    INSERT INTO assignments (id, melding_id, case_id, specialist, gebied, tier, reasons,
                             network_version, state, offered_at, answer_before)
    SELECT assignment_id, id, case_id, specialist, gebied, tier, reasons::jsonb, $11, 'offered',
           $12, answer_before
      FROM claimed
 RETURNING melding_id, case_id
), audit AS (
    INSERT INTO audit_log (at, actor_kind, actor_role, action, melding_id, case_id, endpoint)
    SELECT $12, 'system', 'dispatcher', 'melding.offer', melding_id, case_id, 'triage worker'
      FROM offer
)
SELECT set_config('synchronous_commit', 'off', true) AS commit_mode,
       ARRAY(SELECT melding_id FROM offer) AS offered,
       -- Left out while still queued (the person changed, see above): queued again.
       ARRAY(SELECT m.id FROM meldingen m
              WHERE m.id IN (SELECT melding_id FROM planned) AND m.status = 'queued'
                AND m.id NOT IN (SELECT melding_id FROM offer)) AS left_queued,
       (SELECT webhook_record(array_agg(organisation), array_agg('offer'::text), array_agg(payload),
                              $12)
          FROM claimed WHERE id IN (SELECT melding_id FROM offer)) AS deliveries;

-- name: escalate_unplaced
-- Meldingen nobody is left to offer to in this round, escalated to the chain's people by
-- name with a deadline ($5, per melding), each only if still as read (queued, in that
-- gebied, at that level); their coordinators act (reassign, move) or, when the deadline
-- passes, a new round starts (lapse_escalations). The meldingen escalated come back.
WITH planned AS (
    -- Whom to tell ($4) comes as JSON text: a list of lists would be read as a 2-D array.
    SELECT melding_id, gebied, urgency_level, told::jsonb AS told, until
      FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
        AS p (melding_id, gebied, urgency_level, told, until)
), locked AS (
    SELECT m.id FROM meldingen m
     WHERE m.id IN (SELECT melding_id FROM planned)
     ORDER BY m.id
       FOR UPDATE
), escalated AS (
    UPDATE meldingen m SET status = 'escalated', escalated_until = p.until
      FROM planned p
     WHERE m.id = p.melding_id AND m.id IN (SELECT id FROM locked)
       AND m.status = 'queued' AND m.gebied = p.gebied AND m.urgency_level = p.urgency_level
 RETURNING m.id, m.case_id, m.gebied, p.told, p.until
), recorded AS (
    INSERT INTO escalations (melding_id, kind, at, gebied, coordinator, status, told, until)
    SELECT id, 'no_candidate', $6, gebied, told ->> 0, 'queued',
           ARRAY(SELECT jsonb_array_elements_text(told)), until
      FROM escalated
), audit AS (
    INSERT INTO audit_log (at, actor_kind, actor_role, action, melding_id, case_id, endpoint)
    SELECT $6, 'system', 'dispatcher', 'melding.escalate', id, case_id, 'triage worker'
      FROM escalated
)
SELECT id, gebied, until FROM escalated;

-- name: lapse_escalations
-- Escalations for want of candidates whose deadline passed with nobody acting: a new
-- round of offers, in which the earlier declines and expiries no longer count. Each taken
-- by one timer (SKIP LOCKED); queued again after the commit.
WITH due AS (
    SELECT id FROM meldingen
     WHERE status = 'escalated' AND escalated_until <= $1
     ORDER BY escalated_until
     LIMIT 200
       FOR UPDATE SKIP LOCKED
), requeued AS (
    UPDATE meldingen m SET status = 'queued', escalated_until = NULL, round_from = $1
      FROM due WHERE m.id = due.id
 RETURNING m.id, m.case_id, m.gebied, m.urgency_level, m.respond_before
), audit AS (
    INSERT INTO audit_log (at, actor_kind, actor_role, action, melding_id, case_id, endpoint)
    SELECT $1, 'system', 'dispatcher', 'melding.new_round', id, case_id, 'triage worker'
      FROM requeued
)
SELECT id, gebied, urgency_level, respond_before FROM requeued;

-- name: assignment_for_answer
-- An assignment its specialist answers, locked with its melding.
SELECT a.id, a.melding_id, a.case_id, a.specialist, a.state, m.status, m.gebied,
       m.urgency_level, m.respond_before, m.created_at
  FROM assignments a
  JOIN meldingen m ON m.id = a.melding_id
 WHERE a.id = $1
   FOR UPDATE OF a, m;

-- name: accept
WITH answered AS (
    UPDATE assignments SET state = 'accepted', answered_at = $2 WHERE id = $1
 RETURNING melding_id, case_id, specialist
), status AS (
    UPDATE meldingen SET status = 'assigned' WHERE id = (SELECT melding_id FROM answered)
), lead AS (
    -- The first to accept a melding of the case leads it (casusregie) until handed over.
    UPDATE cases SET lead = (SELECT specialist FROM answered)
     WHERE id = (SELECT case_id FROM answered) AND lead IS NULL
)
INSERT INTO audit_log (at, actor_kind, actor_id, actor_role, action, melding_id, case_id,
                       endpoint, request_id)
SELECT $2, 'user', $3, $6, 'assignment.accept', melding_id, case_id, $4, $5
  FROM answered;

-- name: decline
WITH answered AS (
    UPDATE assignments SET state = 'declined', answered_at = $2, decline_reason = $6
     WHERE id = $1
 RETURNING melding_id, case_id
), status AS (
    UPDATE meldingen SET status = 'queued' WHERE id = (SELECT melding_id FROM answered)
)
INSERT INTO audit_log (at, actor_kind, actor_id, actor_role, action, melding_id, case_id,
                       endpoint, request_id)
SELECT $2, 'user', $3, $7, 'assignment.decline', melding_id, case_id, $4, $5
  FROM answered;

-- name: first_contact_refused
-- Why first contact with melding $1 by specialist $2 was not recorded: its state, when it
-- was received, and whether they accepted it.
SELECT m.status, m.received_at,
       EXISTS (SELECT 1 FROM assignments a
                WHERE a.melding_id = m.id AND a.state = 'accepted' AND a.specialist = $2) AS mine
  FROM meldingen m
 WHERE m.id = $1;

-- name: first_contact
-- At $2 (now, the audit's time) the specialist $6 records contact made at $8 (not before
-- the melding was received), by channel $9, with note $10; the trajectory's milestones
-- run from the contact itself.
WITH contacted AS (
    UPDATE meldingen SET status = 'contacted', first_contact_at = $8,
                         first_contact_channel = $9, first_contact_note = $10
     WHERE id = $1 AND status = 'assigned' AND received_at <= $8
       AND EXISTS (SELECT 1 FROM assignments
                    WHERE melding_id = $1 AND state = 'accepted' AND specialist = $6)
 RETURNING id, case_id
)
, audit AS (
    INSERT INTO audit_log (at, actor_kind, actor_id, actor_role, action, melding_id,
                           case_id, endpoint, request_id)
    SELECT $2, 'user', $3, $7, 'melding.first_contact', id, case_id, $4, $5
      FROM contacted
), milestones AS (
    -- The case's first first contact starts its trajectory (later ones change nothing).
    INSERT INTO case_milestones (case_id, kind, due_at)
    SELECT c.case_id, k.kind, $8 + make_interval(days => k.days)
      FROM contacted c
     CROSS JOIN (VALUES ('plan', 7), ('outreach', 30), ('handover', 100),
                        ('evaluation', 180)) AS k(kind, days)
    ON CONFLICT (case_id, kind) DO NOTHING
)
SELECT m.gebied, m.urgency_level, m.respond_before
  FROM contacted c JOIN meldingen m ON m.id = c.id;

-- name: expire_offers
-- Offers not answered in time, each taken by one timer (SKIP LOCKED: several instances
-- run this loop); their meldingen go back on the queue for the next candidate. A row per
-- expired offer, with whose it was (they are told) and its melding when queued again.
WITH due AS (
    SELECT id FROM assignments
     WHERE state = 'offered' AND answer_before <= $1
     ORDER BY answer_before
     LIMIT 200
       FOR UPDATE SKIP LOCKED
), expired AS (
    UPDATE assignments a SET state = 'expired', answered_at = $1
      FROM due WHERE a.id = due.id
 RETURNING a.id AS assignment_id, a.specialist, a.melding_id, a.case_id
), requeued AS (
    UPDATE meldingen m SET status = 'queued'
      FROM expired e WHERE m.id = e.melding_id AND m.status = 'offered'
 RETURNING m.id, m.gebied, m.urgency_level, m.respond_before
), audit AS (
    INSERT INTO audit_log (at, actor_kind, actor_role, action, melding_id, case_id, endpoint)
    SELECT $1, 'system', 'dispatcher', 'assignment.expire', melding_id, case_id,
           'triage worker'
      FROM expired
)
SELECT e.assignment_id, e.specialist, r.id, r.gebied, r.urgency_level, r.respond_before,
       e.melding_id AS expired_melding
  FROM expired e LEFT JOIN requeued r ON r.id = e.melding_id
 ORDER BY e.assignment_id;

-- name: my_assignments
-- A specialist's open offers and accepted meldingen, nearest deadline first (then by id:
-- the console's "Mijn werk" hashes this list, which must not change order by itself).
SELECT a.id, a.melding_id, a.case_id, a.state, a.tier, a.reasons, a.offered_at,
       a.answer_before, m.urgency_level, m.respond_before, m.status, m.gebied,
       m.category, m.woonplaats
  FROM assignments a
  JOIN meldingen m ON m.id = a.melding_id
 WHERE a.specialist = $1 AND a.state IN ('offered', 'accepted')
   AND m.status <> 'contacted'
 ORDER BY m.respond_before, a.id;

-- name: escalate
-- Meldingen without first contact whose window is used up to the fraction $2 (at_risk)
-- or past (breached), not escalated for that yet. The index range bounds the scan: a
-- melding is at risk only within (1 - $2) of the longest window of its deadline ($3).
-- ON CONFLICT: another instance escalated it first; nothing twice.
WITH due AS (
    SELECT m.id, m.gebied, m.status,
           CASE WHEN m.respond_before <= $1 THEN 'breached' ELSE 'at_risk' END AS kind
      FROM meldingen m
     WHERE m.status IN ('queued', 'offered', 'assigned', 'escalated')
       AND m.respond_before <= $1::timestamptz + $3::interval * (1 - $2::float8)
       AND m.received_at + (m.respond_before - m.received_at) * $2::float8 <= $1
     ORDER BY m.respond_before
     LIMIT 500
), made AS (
    INSERT INTO escalations (melding_id, kind, at, gebied, coordinator, status, told)
    SELECT d.id, d.kind, $1, d.gebied, c.told ->> 0, d.status,
           ARRAY(SELECT jsonb_array_elements_text(c.told))
      FROM due d
      -- Whom to tell per gebied ($5) as JSON text, as in escalate_unplaced.
      JOIN (SELECT g, t::jsonb FROM unnest($4::text[], $5::text[]) AS u (g, t))
        AS c (gebied, told) ON c.gebied = d.gebied
    ON CONFLICT (melding_id, kind) WHERE kind IN ('at_risk', 'breached') DO NOTHING
 RETURNING melding_id, kind, gebied, told
)
SELECT melding_id, kind, gebied, told FROM made;

-- name: escalations
-- Recent escalations, newest first, in the caller's scope ($1 everything, $2 gebied).
SELECT e.melding_id, e.kind, e.at, e.gebied, e.coordinator, e.told, e.until, e.status,
       m.status AS status_now, m.urgency_level, m.respond_before
  FROM escalations e
  JOIN meldingen m ON m.id = e.melding_id
 WHERE ($1 OR e.gebied = $2) AND e.at >= $3
 ORDER BY e.at DESC
 LIMIT $4;

-- name: chain_offers
-- What lies with the escalation chain now ($1, its people) for a gebied ($2): offers made
-- to a coordinator because nobody on duty with room was left, still out or taken, on
-- meldingen still waiting for first contact. By the index of a person's offers.
SELECT a.melding_id, a.specialist, a.state, a.offered_at, m.urgency_level, m.respond_before
  FROM assignments a
  JOIN meldingen m ON m.id = a.melding_id
 WHERE a.specialist = ANY ($1::text[]) AND a.state IN ('offered', 'accepted')
   AND a.tier = 'coordinator' AND m.gebied = $2
   AND m.status IN ('offered', 'assigned', 'escalated')
 ORDER BY a.offered_at DESC
 LIMIT $3;

-- name: gebied_queue
-- What waits in a gebied, in dispatch order (PostgreSQL's view, not Redis'): queued and
-- offered meldingen with their current offer. Levels ranked as in queue/priority.py.
SELECT m.id, m.case_id, m.status, m.urgency_level, m.respond_before, m.received_at,
       a.specialist, a.answer_before
  FROM meldingen m
  LEFT JOIN assignments a ON a.melding_id = m.id AND a.state = 'offered'
 WHERE m.gebied = $1 AND m.status IN ('queued', 'offered', 'escalated')
 ORDER BY array_position(ARRAY['crisis', 'acuut', 'hoog', 'regulier'], m.urgency_level),
          m.respond_before
 LIMIT $2;

-- name: melding_for_reassign
-- The melding and its active assignment, locked; scope: $2 everything, $3 gebied.
SELECT m.id, m.case_id, m.gebied, m.status, m.urgency_level, m.respond_before, m.kind,
       a.id AS assignment_id, a.specialist
  FROM meldingen m
  LEFT JOIN assignments a ON a.melding_id = m.id AND a.state IN ('offered', 'accepted')
 WHERE m.id = $1 AND ($2 OR m.gebied = $3)
   FOR UPDATE OF m;

-- name: end_active
-- Before a reassignment (its own statement: in one statement the new offer could meet
-- the old one in the one-active-assignment index).
UPDATE assignments SET state = 'reassigned', answered_at = $2
 WHERE melding_id = $1 AND state IN ('offered', 'accepted');

-- name: reassign
-- The named person gets the offer; audited.
WITH offer AS (
    INSERT INTO assignments (id, melding_id, case_id, specialist, gebied, tier, reasons,
                             network_version, state, offered_at, answer_before)
    VALUES ($2, $1, $3, $5, $6, 'operator', $7, $8, 'offered', $4, $9)
), status AS (
    UPDATE meldingen SET status = 'offered', escalated_until = NULL WHERE id = $1
)
INSERT INTO audit_log (at, actor_kind, actor_id, actor_role, action, melding_id, case_id,
                       endpoint, request_id)
VALUES ($4, 'user', $10, $11, 'melding.reassign', $1, $3, $12, $13);

-- name: lock_active
-- The melding's open offer or accepted assignment, locked before the melding: the order
-- in which an answer, the expiry of offers and a roster change lock them, so that a
-- reassignment or a move at the same moment waits for them instead of deadlocking.
SELECT id FROM assignments WHERE melding_id = $1 AND state IN ('offered', 'accepted')
   FOR UPDATE;

-- name: move_gebied
-- A melding not yet accepted goes to another gebied's team (moved by hand, or following
-- the case it was linked into): its open offer (if any) is withdrawn, an escalation ends,
-- and it is queued there for that gebied's people (the queue moves after the commit).
-- The person whose offer was withdrawn comes back. Audited as the actor's ($4-$6) act.
WITH withdrawn AS (
    UPDATE assignments SET state = 'withdrawn', answered_at = $3
     WHERE melding_id = $1 AND state = 'offered'
 RETURNING id, specialist
), moved AS (
    -- The note on why intake put it in its gebied no longer holds (the trail says why).
    UPDATE meldingen SET gebied = $2, status = 'queued', escalated_until = NULL,
                         gebied_note = NULL
     WHERE id = $1 AND status IN ('queued', 'offered', 'escalated')
 RETURNING id, case_id
), case_moved AS (
    -- Its case goes along when no other melding of it stays in the case's gebied: who may
    -- change, hand over and mark the case (its gebied's coordinator) follows who reads it.
    UPDATE cases c SET gebied = $2
      FROM moved m
     WHERE c.id = m.case_id AND c.gebied <> $2
       AND NOT EXISTS (SELECT 1 FROM meldingen o
                        WHERE o.case_id = c.id AND o.id <> m.id AND o.gebied = c.gebied)
), audit AS (
    -- The move, and the offer it withdrew, each with the melding: its trail explains why
    -- it is queued again (the endpoint says whether by hand or with the case it joined).
    INSERT INTO audit_log (at, actor_kind, actor_id, actor_role, action, melding_id, case_id,
                           endpoint, request_id)
    SELECT $3, $4, $5, $6, a.action, m.id, m.case_id, $7, $8
      FROM moved m
     CROSS JOIN (SELECT 'melding.gebied' AS action
                 UNION ALL SELECT 'assignment.withdraw' FROM withdrawn) AS a
)
SELECT (SELECT specialist FROM withdrawn) AS withdrawn_from,
       (SELECT id FROM withdrawn) AS assignment_id;

-- name: close_melding
-- A melding not contacted yet is closed by hand (outcome $3, reason $4, by $8): its open
-- offer or accepted assignment is withdrawn (not 'closed': that is an assignment ended
-- with its case, which comes back when its melding joins an open case), an escalation
-- ends; audited as the actor's ($5-$7) act. Returns who had it (to tell them) and whether
-- they had accepted it.
WITH ended AS (
    UPDATE assignments a SET state = 'withdrawn', answered_at = $2
      FROM assignments before
     WHERE a.melding_id = $1 AND a.state IN ('offered', 'accepted') AND before.id = a.id
 RETURNING a.id, a.specialist, before.state AS was
), closed AS (
    UPDATE meldingen
       SET status = 'closed', closed_at = $2, closed_by = $8, close_outcome = $3,
           close_reason = $4, escalated_until = NULL
     WHERE id = $1 AND status IN ('queued', 'offered', 'assigned', 'escalated')
 RETURNING id, case_id
), audit AS (
    INSERT INTO audit_log (at, actor_kind, actor_id, actor_role, action, melding_id, case_id,
                           endpoint, request_id)
    SELECT $2, $5, $6, $7, a.action, c.id, c.case_id, $9, $10
      FROM closed c
     CROSS JOIN (SELECT 'melding.close' AS action
                 UNION ALL SELECT 'assignment.close' FROM ended) AS a
)
SELECT (SELECT specialist FROM ended) AS specialist,
       (SELECT id FROM ended) AS assignment_id,
       (SELECT was FROM ended) AS was;

-- name: queue_state
-- What waits for an offer, by gebied and level (the meldingen_queued index).
SELECT gebied, urgency_level, count(*) AS depth, min(created_at) AS oldest
  FROM meldingen
 WHERE status = 'queued'
 GROUP BY gebied, urgency_level;

-- name: deadline_state
-- Meldingen without first contact at risk ($2 of their window used) and breached, by
-- gebied and level; bounded like `escalate` by the longest window ($3).
SELECT gebied, urgency_level,
       count(*) FILTER (WHERE respond_before <= $1) AS breached,
       count(*) FILTER (WHERE respond_before > $1) AS at_risk
  FROM meldingen
 WHERE status IN ('queued', 'offered', 'assigned', 'escalated')
   AND respond_before <= $1::timestamptz + $3::interval * (1 - $2::float8)
   AND received_at + (respond_before - received_at) * $2::float8 <= $1
 GROUP BY gebied, urgency_level;

-- name: review_state
-- Possible duplicates still to settle (the pending-review index).
SELECT count(*) AS waiting, min(received_at) AS oldest
  FROM meldingen
 WHERE dedup_decision = 'review' AND review_outcome IS NULL;

-- name: unreachable
-- Of the people $1 (ids in the network file, each of organisation $2), those whom an offer
-- reaches neither in the console (no enabled account under their id) nor through their
-- organisation's own system (no active webhook that hears of offers).
SELECT p.id
  FROM unnest($1::text[], $2::text[]) AS p (id, organisation)
 WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.username = p.id AND u.disabled_at IS NULL)
   AND NOT EXISTS (SELECT 1 FROM webhooks w
                    WHERE w.organisation = p.organisation AND w.disabled_at IS NULL
                      AND 'offer' = ANY (w.events));
