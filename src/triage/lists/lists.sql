-- name: werkvoorraad
-- Meldingen waiting for first contact, most urgent first (urgency_rank, migration 0034),
-- then by deadline and id ($12 true), or by deadline and id alone ($12 false), after the
-- cursor ($1 rank, $2 deadline, $3 id). Each order has its index
-- (meldingen_werkvoorraad_urgent, meldingen_werkvoorraad): planned for the values, the
-- CASE on $12 folds to one of them, and the status list literal lets the planner walk
-- that index in order and stop at the limit ($10), whatever the filters: statuses $4,
-- gebieden $5, levels $6, sources $7 (NULL: any), received from $8 until $9. With a
-- review still open ($11).
SELECT m.id, m.received_at, m.source, m.kind, m.category, m.urgency_level,
       urgency_rank(m.urgency_level) AS rank, m.urgency_score, m.gebied, m.status,
       m.respond_before, m.case_id, m.escalated_until,
       (m.dedup_decision = 'review' AND m.review_outcome IS NULL) AS review_pending,
       a.specialist AS holder, a.state AS holder_state, a.answer_before
  FROM meldingen m
  LEFT JOIN assignments a ON a.melding_id = m.id AND a.state IN ('offered', 'accepted')
 WHERE m.status IN ('queued', 'offered', 'assigned', 'escalated')
   AND m.status = ANY($4::text[])
   AND ($2::timestamptz IS NULL OR CASE
        WHEN $12::boolean THEN (urgency_rank(m.urgency_level), m.respond_before, m.id)
                               > ($1::smallint, $2, $3::uuid)
        ELSE (m.respond_before, m.id) > ($2, $3::uuid) END)
   AND ($5::text[] IS NULL OR m.gebied = ANY($5))
   AND ($6::text[] IS NULL OR urgency_rank(m.urgency_level) = ANY(
            ARRAY(SELECT urgency_rank(level) FROM unnest($6::text[]) AS level)))
   AND ($7::text[] IS NULL OR m.source = ANY($7))
   -- A deadline never lies before the receipt (received_at plus a norm), so a window's
   -- start bounds the deadline too.
   AND ($8::timestamptz IS NULL OR (m.received_at >= $8 AND m.respond_before >= $8))
   AND ($9::timestamptz IS NULL OR m.received_at < $9)
   AND (NOT $11::boolean OR (m.dedup_decision = 'review' AND m.review_outcome IS NULL))
 ORDER BY CASE WHEN $12 THEN urgency_rank(m.urgency_level) ELSE 0::smallint END,
          m.respond_before,
          m.id
 LIMIT $10;

-- name: cases
-- Cases newest first (opened), after the cursor ($1 opened, $2 id), of gebied $3, status
-- $4, lead $5 (NULL: any), at most $6; merged cases are left out (their meldingen are in
-- the case they joined). Per case what a list shows: open meldingen and the most urgent
-- of them, the last melding, the next milestone due.
SELECT c.id, c.household_id, c.status, c.gebied, c.opened_at, c.closed_at, c.lead,
       w.waiting, w.top_level, w.last_received, ms.kind AS next_milestone,
       ms.due_at AS next_milestone_due
  FROM cases c
  LEFT JOIN LATERAL (
      SELECT count(*) FILTER (WHERE m.status IN ('queued', 'offered', 'assigned', 'escalated'))
                 AS waiting,
             (array_agg(m.urgency_level ORDER BY
                  array_position(ARRAY['crisis', 'acuut', 'hoog', 'regulier', 'advies'],
                                 m.urgency_level))
                  FILTER (WHERE m.status IN ('queued', 'offered', 'assigned', 'escalated')))[1]
                 AS top_level,
             max(m.received_at) AS last_received
        FROM meldingen m
       WHERE m.case_id = c.id
  ) w ON true
  LEFT JOIN LATERAL (
      SELECT kind, due_at FROM case_milestones
       WHERE case_id = c.id AND done_at IS NULL
       ORDER BY due_at LIMIT 1
  ) ms ON true
 WHERE c.merged_into IS NULL
   AND ($1::timestamptz IS NULL OR (c.opened_at, c.id) < ($1, $2::uuid))
   AND ($3::text IS NULL OR c.gebied = $3)
   AND ($4::text IS NULL OR c.status = $4)
   AND ($5::text IS NULL OR c.lead = $5)
 ORDER BY c.opened_at DESC, c.id DESC
 LIMIT $6;

-- name: households
-- Cases sharing a blocking key with the search ($1 exact keys; $2 a 'n:<sound>|%' pattern
-- for a surname without a birth date and $6 a 'w:<sound>|%' one for the same among people
-- without a fixed address, $5 an 'a:<postcode>|<number>|%' one for a dwelling without its
-- addition), in gebied $3 if given: open ones first, then the newest; at most $4. Which
-- kinds of key matched is the search's evidence. Every one is a probe of the primary
-- key's index: the keys compare byte by byte (0037), so a prefix pattern is a range of it.
WITH hits AS (
    SELECT case_id, array_agg(DISTINCT left(key, 1) ORDER BY left(key, 1)) AS kinds
      FROM match_keys
     WHERE key = ANY($1::text[])
        OR ($2::text IS NOT NULL AND key LIKE $2)
        OR ($6::text IS NOT NULL AND key LIKE $6)
        OR ($5::text IS NOT NULL AND key LIKE $5)
     GROUP BY case_id
), found AS (
    SELECT c.id, c.household_id, c.status, c.gebied, c.lead, c.opened_at, c.closed_at,
           hits.kinds
      FROM hits
      JOIN cases c ON c.id = hits.case_id
     WHERE c.merged_into IS NULL AND c.erased_at IS NULL
       AND ($3::text IS NULL OR c.gebied = $3)
     ORDER BY c.status = 'open' DESC, c.opened_at DESC, c.id
     LIMIT $4
)
-- The address and people of the few found only (a common surname shares its sound with
-- thousands of cases).
SELECT f.*, h.postcode, h.huisnummer, h.toevoeging, h.straat, h.woonplaats,
       (SELECT count(*) FROM meldingen m
         WHERE m.case_id = f.id
           AND m.status IN ('queued', 'offered', 'assigned', 'escalated')) AS waiting,
       (SELECT coalesce(json_agg(json_build_object(
                   'role', p.role, 'bsn', p.bsn, 'voornaam', p.voornaam,
                   'tussenvoegsel', p.tussenvoegsel, 'achternaam', p.achternaam,
                   'geboortedatum', p.geboortedatum) ORDER BY m.received_at, p.position),
               '[]'::json)
          FROM meldingen m JOIN persons p ON p.melding_id = m.id
         WHERE m.case_id = f.id) AS persons
  FROM found f
  JOIN households h ON h.id = f.household_id
 ORDER BY f.status = 'open' DESC, f.opened_at DESC, f.id;

-- name: audit_search
-- A search of people, audited with the purpose stated ($5) and its terms and findings
-- ($6: ids only beside the terms themselves).
INSERT INTO audit_log (at, actor_kind, actor_id, actor_role, action, endpoint, request_id,
                       reason, detail)
VALUES ($1, 'user', $2, $3, 'household.search', $4, $7, $5, $6);
