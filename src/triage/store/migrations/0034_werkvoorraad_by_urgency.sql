-- The werkvoorraad most urgent first, then nearest deadline: a crisis received a minute
-- ago comes before a regulier whose 72 hours run out sooner, as on the dispatch queues
-- (queue/priority.py). urgency_rank() is the order of the levels (vocabulary.Level);
-- the index serves the list's order and its keyset cursor (rank, deadline, id).
CREATE FUNCTION urgency_rank(level text) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE level WHEN 'crisis' THEN 0 WHEN 'acuut' THEN 1 WHEN 'hoog' THEN 2
                  WHEN 'regulier' THEN 3 ELSE 4 END;

CREATE INDEX meldingen_werkvoorraad_urgent
    ON meldingen (urgency_rank(urgency_level), respond_before, id)
 WHERE status IN ('queued', 'offered', 'assigned', 'escalated');
