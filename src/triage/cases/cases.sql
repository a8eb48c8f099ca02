-- name: read_melding
-- The scope ($2 everything, $3 gebied, $4 submitting client, $11 the specialist whose
-- work it must be, $12 their reason to read it all the same) is applied here, so a row
-- outside it is never fetched; the read is audited in the same statement, as breaking
-- the glass when only the reason let it through (with the reader's gebied, whose
-- coordinator is shown it). A specialist's work: an offer out to them or accepted by
-- them on a melding of the case, or the case's lead proposed to them (a warm handover:
-- they read it before they take it over). A case's lead has that (a handover moves it
-- along); one whose melding was given to someone else by hand no longer does.
WITH found AS (
    SELECT meldingen.*,
           $11::text IS NOT NULL AND (EXISTS (
               SELECT 1 FROM assignments a JOIN meldingen o ON o.id = a.melding_id
                WHERE o.case_id = meldingen.case_id AND a.specialist = $11
                  AND a.state IN ('offered', 'accepted')
           ) OR EXISTS (
               SELECT 1 FROM case_handovers ho
                WHERE ho.case_id = meldingen.case_id AND ho.state = 'open'
                  AND ho.to_lead = $11
           )) AS their_work
      FROM meldingen
     WHERE id = $1
), m AS (
    SELECT *, $11::text IS NOT NULL AND NOT their_work AS broke_glass FROM found
     WHERE $2 OR submitted_by_client = $4 OR their_work
        OR (gebied = $3 AND ($11::text IS NULL OR $12::text IS NOT NULL))
), audit AS (
    INSERT INTO audit_log (at, actor_kind, actor_id, actor_role, action, melding_id, case_id,
                           endpoint, request_id, reason, gebied)
    SELECT $5, $6, $7, $8,
           CASE WHEN m.broke_glass THEN 'melding.read.break_glass' ELSE 'melding.read' END,
           m.id, m.case_id, $9, $10,
           CASE WHEN m.broke_glass THEN $12 END, CASE WHEN m.broke_glass THEN $3 END
      FROM m
)
SELECT m.*,
       -- A source ($4, the client reading) reads back what it sent: a field corrected
       -- since (AVG art. 16) shows as it came, the first correction's old value; the
       -- correction is not the source's to learn.
       (SELECT coalesce(json_agg(json_build_object(
                   'role', p.role,
                   'bsn', CASE WHEN sent ? 'bsn' THEN sent->'bsn' ELSE to_jsonb(p.bsn) END,
                   'voornaam', CASE WHEN sent ? 'voornaam' THEN sent->'voornaam'
                                    ELSE to_jsonb(p.voornaam) END,
                   'tussenvoegsel', CASE WHEN sent ? 'tussenvoegsel' THEN sent->'tussenvoegsel'
                                         ELSE to_jsonb(p.tussenvoegsel) END,
                   'achternaam', CASE WHEN sent ? 'achternaam' THEN sent->'achternaam'
                                      ELSE to_jsonb(p.achternaam) END,
                   'geboortedatum', CASE WHEN sent ? 'geboortedatum' THEN sent->'geboortedatum'
                                         ELSE to_jsonb(p.geboortedatum) END)
                   ORDER BY p.position), '[]'::json)
          FROM persons p
         CROSS JOIN LATERAL (
               SELECT coalesce(jsonb_object_agg(first.field, first.old_value), '{}') AS sent
                 FROM (SELECT DISTINCT ON (c.field) c.field, c.old_value
                         FROM person_corrections c
                        WHERE c.person_id = p.id AND $4::uuid IS NOT NULL
                        ORDER BY c.field, c.id) AS first
         ) AS as_sent
         WHERE p.melding_id = m.id) AS persons,
       (SELECT coalesce(json_agg(json_build_object(
                   'assignment_id', a.id, 'specialist', a.specialist, 'tier', a.tier,
                   'reasons', a.reasons, 'state', a.state, 'offered_at', a.offered_at,
                   'answer_before', a.answer_before, 'answered_at', a.answered_at,
                   'decline_reason', a.decline_reason) ORDER BY a.offered_at, a.id), '[]'::json)
          FROM assignments a
         WHERE a.melding_id = m.id) AS offers
  FROM m;

-- name: read_case
-- A case is of the gebieden its meldingen are in now (a melding moved to another gebied
-- takes its case's need-to-know along), one without meldingen of its own gebied. The
-- scope as for read_melding: $2 everything, $3 gebied, $10 the specialist, $11 reason.
WITH found AS (
    SELECT c.id, c.household_id, c.status, c.gebied, c.opened_at, c.closed_at,
           c.merged_into, c.previous_case_id, c.lead, h.postcode, h.huisnummer,
           h.toevoeging, h.straat, h.woonplaats,
           $10::text IS NOT NULL AND (EXISTS (
               SELECT 1 FROM assignments a JOIN meldingen o ON o.id = a.melding_id
                WHERE o.case_id = c.id AND a.specialist = $10
                  AND a.state IN ('offered', 'accepted')
           ) OR EXISTS (
               SELECT 1 FROM case_handovers ho
                WHERE ho.case_id = c.id AND ho.state = 'open' AND ho.to_lead = $10
           )) AS their_work,
           CASE WHEN EXISTS (SELECT 1 FROM meldingen o WHERE o.case_id = c.id)
                THEN EXISTS (SELECT 1 FROM meldingen o WHERE o.case_id = c.id AND o.gebied = $3)
                ELSE c.gebied = $3 END AS in_gebied
      FROM cases c
      JOIN households h ON h.id = c.household_id
     WHERE c.id = $1
), c AS (
    SELECT *, $10::text IS NOT NULL AND NOT their_work AS broke_glass FROM found
     WHERE $2 OR their_work OR (in_gebied AND ($10::text IS NULL OR $11::text IS NOT NULL))
), audit AS (
    INSERT INTO audit_log (at, actor_kind, actor_id, actor_role, action, case_id, endpoint,
                           request_id, reason, gebied)
    SELECT $4, $5, $6, $7,
           CASE WHEN c.broke_glass THEN 'case.read.break_glass' ELSE 'case.read' END,
           c.id, $8, $9,
           CASE WHEN c.broke_glass THEN $11 END, CASE WHEN c.broke_glass THEN $3 END
      FROM c
)
SELECT c.*,
       (SELECT coalesce(json_agg(json_build_object(
                   'melding_id', m.id, 'source', m.source, 'received_at', m.received_at,
                   'kind', m.kind, 'category', m.category, 'level', m.urgency_level,
                   'status', m.status, 'respond_before', m.respond_before)
                   -- Meldingen received in one second (a source's batch): in the order
                   -- they were stored, not as the plan happens to meet them.
                   ORDER BY m.received_at, m.created_at, m.id), '[]'::json)
          FROM meldingen m
         WHERE m.case_id = c.id) AS meldingen,
       (SELECT coalesce(json_agg(json_build_object(
                   'role', p.role, 'bsn', p.bsn, 'voornaam', p.voornaam,
                   'tussenvoegsel', p.tussenvoegsel, 'achternaam', p.achternaam,
                   'geboortedatum', p.geboortedatum) ORDER BY p.melding_id, p.position),
               '[]'::json)
          FROM persons p
          JOIN meldingen m ON m.id = p.melding_id
         WHERE m.case_id = c.id) AS persons,
       (SELECT coalesce(json_agg(json_build_object(
                   'at', x.at, 'action', x.action, 'melding_id', x.melding_id,
                   'from_case', x.from_case, 'to_case', x.to_case,
                   'actor_role', x.actor_role, 'reason', x.reason) ORDER BY x.id), '[]'::json)
          FROM case_changes x
         WHERE x.from_case = c.id OR x.to_case = c.id) AS changes,
       (SELECT coalesce(json_agg(json_build_object(
                   'kind', ms.kind, 'due_at', ms.due_at, 'done_at', ms.done_at,
                   'done_by', ms.done_by, 'note', ms.note) ORDER BY ms.due_at), '[]'::json)
          FROM case_milestones ms
         WHERE ms.case_id = c.id) AS milestones,
       (SELECT coalesce(json_agg(json_build_object(
                   'id', n.id, 'case_id', n.case_id, 'at', n.at, 'author', n.author,
                   'author_role', n.author_role, 'text', n.text) ORDER BY n.at), '[]'::json)
          FROM case_notes n
         WHERE n.case_id = c.id) AS notes
  FROM c;


-- name: cases_in_gebied
-- Which of the cases $1 lie in gebied $2, as read_case counts it: a melding of the case
-- there, or, for a case without meldingen, the case's own gebied.
SELECT c.id FROM cases c
 WHERE c.id = ANY ($1::uuid[])
   AND CASE WHEN EXISTS (SELECT 1 FROM meldingen o WHERE o.case_id = c.id)
            THEN EXISTS (SELECT 1 FROM meldingen o WHERE o.case_id = c.id AND o.gebied = $2)
            ELSE c.gebied = $2 END;

-- name: in_gebied_not_their_work
-- Whether a melding ($1, else a case $2) a specialist could not read lies in their gebied
-- ($3): then they are told how to read it (a reason), else it is as if there were none.
SELECT EXISTS (SELECT 1 FROM meldingen WHERE id = $1 AND gebied = $3)
    OR EXISTS (SELECT 1 FROM meldingen WHERE case_id = $2 AND gebied = $3)
    OR EXISTS (SELECT 1 FROM cases c WHERE c.id = $2 AND c.gebied = $3
                  AND NOT EXISTS (SELECT 1 FROM meldingen o WHERE o.case_id = c.id));

-- name: break_glass
-- Reads that took a stated reason in gebied $1 (the reader's, when they read) since $2,
-- newest first, before audit entry $4 if given (the next page): who, when, what and why.
SELECT a.id, a.at, a.action, a.melding_id, a.case_id, a.reason, a.actor_role,
       coalesce(u.username, a.actor_id::text) AS actor
  FROM audit_log a
  LEFT JOIN users u ON u.id = a.actor_id
 WHERE a.action IN ('melding.read.break_glass', 'case.read.break_glass')
   AND a.gebied = $1 AND a.at >= $2 AND ($4::bigint IS NULL OR a.id < $4)
 ORDER BY a.id DESC
 LIMIT $3;

-- name: audit_trail
-- Who read or changed melding $1, oldest first: the newest $2 entries (every read is one,
-- and what was changed last is what the people working it look for), after their own
-- read of the melding was allowed (and audited).
SELECT t.at, t.action, t.actor_role, t.reason, t.actor
  FROM (SELECT a.id, a.at, a.action, a.actor_role, a.reason,
               coalesce(u.username, c.name, a.actor_kind) AS actor
          FROM audit_log a
          LEFT JOIN users u ON a.actor_kind = 'user' AND u.id = a.actor_id
          LEFT JOIN api_clients c ON a.actor_kind = 'client' AND c.id = a.actor_id
         WHERE a.melding_id = $1
         ORDER BY a.id DESC
         LIMIT $2) t
 ORDER BY t.id;

-- name: moved_by_hand
-- The last time melding $1 was put in another case by hand (linked or unlinked), if ever,
-- with the reason given.
SELECT x.at, 'case.' || x.action AS action, x.actor_role, x.reason,
       coalesce(u.username, x.actor_kind) AS actor
  FROM case_changes x
  LEFT JOIN users u ON x.actor_kind = 'user' AND u.id = x.actor_id
 WHERE x.melding_id = $1 AND x.action IN ('link', 'unlink')
 ORDER BY x.id DESC
 LIMIT 1;

-- name: open_handover
SELECT to_lead, from_lead, requested_by, requested_at, reason
  FROM case_handovers WHERE case_id = $1 AND state = 'open';

-- name: past_handovers
-- The case's handovers that ended (taken over, or not), oldest first.
SELECT to_lead, from_lead, requested_by, requested_at, reason, state, accepted_at,
       ended_by, ended_at, end_reason
  FROM case_handovers WHERE case_id = $1 AND state <> 'open'
 ORDER BY requested_at;

-- name: handovers_to
-- Cases whose lead is proposed to $1 (a warm handover waits for them to take it over).
SELECT h.case_id, h.from_lead, h.requested_by, h.requested_at, h.reason, c.gebied
  FROM case_handovers h JOIN cases c ON c.id = h.case_id
 WHERE h.to_lead = $1 AND h.state = 'open'
 ORDER BY h.requested_at, h.case_id;

-- name: also_open
-- Of the cases $2, those open now and not kept apart from case $1 by a person (an unlink
-- that took a melding out of one into the other), with their gebied. A page shows what a
-- decision found, which may have been merged, closed or corrected since.
SELECT c.id, c.gebied
  FROM cases c
 WHERE c.id = ANY($2::uuid[]) AND c.status = 'open'
   AND NOT EXISTS (
       SELECT 1 FROM case_changes x
        WHERE x.action = 'unlink'
          AND ((x.from_case = $1 AND x.to_case = c.id)
               OR (x.from_case = c.id AND x.to_case = $1)));

-- name: led_addresses
-- Where the households of the cases $2 that $1 leads were last reported (a melding with
-- an address before one without): for the lead's own list.
SELECT DISTINCT ON (m.case_id)
       m.case_id, m.postcode, m.huisnummer, m.toevoeging, m.straat, m.woonplaats
  FROM meldingen m
  JOIN cases c ON c.id = m.case_id
 WHERE c.lead = $1 AND m.case_id = ANY ($2::uuid[])
 ORDER BY m.case_id, (m.postcode IS NULL AND m.woonplaats IS NULL), m.received_at DESC;
