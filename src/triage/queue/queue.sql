-- name: queued_meldingen
-- Everything that should be in a queue now; a full rebuild re-adds it all.
SELECT id, gebied, urgency_level, respond_before
  FROM meldingen
 WHERE status = 'queued';

-- name: recently_queued_meldingen
-- What an enqueue may have missed lately (Redis hiccup, a process that died after commit).
SELECT id, gebied, urgency_level, respond_before
  FROM meldingen
 WHERE status = 'queued' AND created_at >= $1;
