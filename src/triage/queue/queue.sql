-- name: queued_meldingen
-- Everything that should be in a queue now; the reconciler re-adds it (ZADD is idempotent).
SELECT id, gebied, urgency_level, respond_before
  FROM meldingen
 WHERE status = 'queued';
