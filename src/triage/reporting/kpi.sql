-- name: meldingen
-- Per gebied, meldingen (not adviesvragen) received in [$1, $2): how many; first contact
-- within the norm (by respond_before) of those whose deadline passed or that had first
-- contact by $3 (the others cannot be judged yet, and those closed by hand before first
-- contact are not); herhaalmeldingen (the household had an
-- open case, a melding in the last 30 days, or a case closed in the last 180 days); and
-- escalated (at risk, breached) by melding. $4: everything, else gebied $5.
SELECT m.gebied,
       count(*) AS meldingen,
       -- A melding closed by hand before first contact (a second report, nothing to
       -- follow, taken on elsewhere) waits for no contact: it is not judged.
       count(*) FILTER (WHERE m.first_contact_at IS NOT NULL
                           OR (m.respond_before <= $3 AND m.status <> 'closed'))
           AS contact_due,
       count(*) FILTER (WHERE m.first_contact_at <= m.respond_before) AS contact_in_time,
       count(*) FILTER (WHERE m.urgency_reasons @> '[{"rule": "historie.open_casus"}]'
                           OR m.urgency_reasons @> '[{"rule": "historie.herhaalmelding_30d"}]'
                           OR m.urgency_reasons @> '[{"rule": "historie.afgesloten_casus"}]')
           AS herhaal,
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM escalations e
                                       WHERE e.melding_id = m.id AND e.kind = 'at_risk'))
           AS at_risk,
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM escalations e
                                       WHERE e.melding_id = m.id AND e.kind = 'breached'))
           AS breached
  FROM meldingen m
 WHERE m.kind = 'melding' AND m.received_at >= $1 AND m.received_at < $2
   AND ($4 OR m.gebied = $5)
 GROUP BY m.gebied;

-- name: milestones
-- Per gebied and milestone kind, those due in [$1, $2): done by their due date, and of
-- those due by $3 (judgeable) how many. The case's gebied counts. Not counted: a merged
-- case's (the household's history went on in the other case) and, unless done, those
-- of a case closed before they fell due (nothing left to do).
SELECT c.gebied, ms.kind,
       count(*) FILTER (WHERE ms.due_at <= $3 OR ms.done_at IS NOT NULL) AS due,
       count(*) FILTER (WHERE ms.done_at <= ms.due_at) AS in_time
  FROM case_milestones ms
  JOIN cases c ON c.id = ms.case_id
 WHERE ms.due_at >= $1 AND ms.due_at < $2 AND ($4 OR c.gebied = $5)
   AND c.merged_into IS NULL
   AND (ms.done_at IS NOT NULL OR c.closed_at IS NULL OR c.closed_at > ms.due_at)
 GROUP BY c.gebied, ms.kind;
