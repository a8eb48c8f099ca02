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

-- name: rebuilt_since_recovery
SELECT EXISTS (SELECT FROM queues_rebuilt);

-- name: mark_rebuilt
-- In the rebuild's transaction: a rebuild cut off leaves no mark, and the next round
-- rebuilds again.
INSERT INTO queues_rebuilt DEFAULT VALUES ON CONFLICT (only_row) DO NOTHING;
