-- name: add
WITH made AS (
    INSERT INTO webhooks (organisation, url, secret, events, created_at)
    VALUES ($1, $2, $3, $4, $5)
 RETURNING id
), audit AS (
    INSERT INTO audit_log (at, actor_kind, actor_role, action, endpoint)
    SELECT $5, 'system', 'admin', 'webhook.add', 'triage webhooks add' FROM made
)
SELECT id FROM made;

-- name: move
-- An active webhook's new URL: what waits goes there at its next attempt, and dead
-- letters when replayed (the secret stays, so the receiver's check of signatures does
-- not change). Audited with the webhook and the hosts it went from and to: not the whole
-- URLs, which may carry a receiver's own key (in the path, the query or a user part
-- before the host, which the pattern passes over).
WITH old AS (
    SELECT id, url FROM webhooks WHERE id = $1 AND disabled_at IS NULL FOR UPDATE
), moved AS (
    UPDATE webhooks w SET url = $2 FROM old WHERE w.id = old.id
 RETURNING w.id, old.url AS was
), audit AS (
    INSERT INTO audit_log (at, actor_kind, actor_role, action, endpoint, detail)
    SELECT $3, 'system', 'admin', 'webhook.move', 'triage webhooks url',
           jsonb_build_object('webhook_id', id,
                              'from', substring(was from '^[a-z]+://(?:[^/?#@]*@)?([^/:?#]+)'),
                              'to', substring($2::text from '^[a-z]+://(?:[^/?#@]*@)?([^/:?#]+)'))
      FROM moved
)
SELECT id FROM moved;

-- name: disable
-- Its deliveries still waiting become dead letters: nobody would deliver them (nor one
-- recorded while this commits: the deliverers claim only an active webhook's).
WITH gone AS (
    UPDATE webhooks SET disabled_at = $2 WHERE id = $1 AND disabled_at IS NULL
 RETURNING id
), dropped AS (
    UPDATE webhook_deliveries d
       SET state = 'dead', dead_at = $2, last_error = 'webhook disabled'
      FROM gone
     WHERE d.webhook_id = gone.id AND d.state = 'pending'
), audit AS (
    INSERT INTO audit_log (at, actor_kind, actor_role, action, endpoint)
    SELECT $2, 'system', 'admin', 'webhook.disable', 'triage webhooks disable' FROM gone
)
SELECT id FROM gone;

-- name: list
SELECT w.id, w.organisation, w.url, w.events, w.created_at, w.disabled_at,
       count(*) FILTER (WHERE d.state = 'pending') AS pending,
       count(*) FILTER (WHERE d.state = 'dead') AS dead,
       max(d.delivered_at) AS last_delivered_at
  FROM webhooks w
  LEFT JOIN webhook_deliveries d ON d.webhook_id = w.id
 GROUP BY w.id
 ORDER BY w.organisation, w.id;

-- name: record
-- $1 organisations, $2 events, $3 payloads, $4 now (webhook_functions.sql).
SELECT webhook_record($1::text[], $2::text[], $3::jsonb[], $4);

-- name: oldest_due
-- The delivery that has waited longest for its attempt ($1 now): deliverers take a due
-- one within seconds (and push its next attempt past the attempt's time limit), so one
-- left waiting says that none is running. Of an active webhook: one written while its
-- webhook was being disabled is nobody's to send. The partial index on next_attempt_at.
SELECT min(d.next_attempt_at) AS oldest
  FROM webhook_deliveries d
  JOIN webhooks w ON w.id = d.webhook_id AND w.disabled_at IS NULL
 WHERE d.state = 'pending' AND d.next_attempt_at <= $1;

-- name: claim
-- Due deliveries, leased: their next attempt moves past the attempt's time limit, so a
-- deliverer that dies mid-attempt leaves them to be tried again (SKIP LOCKED: several
-- deliverers never take the same one). $1 limit, $2 now, $3 lease seconds.
WITH due AS (
    SELECT d.id FROM webhook_deliveries d
      JOIN webhooks w ON w.id = d.webhook_id AND w.disabled_at IS NULL
     WHERE d.state = 'pending' AND d.next_attempt_at <= $2
     ORDER BY d.next_attempt_at
     LIMIT $1
       FOR UPDATE OF d SKIP LOCKED
)
UPDATE webhook_deliveries d
   SET next_attempt_at = $2 + make_interval(secs => $3)
  FROM due, webhooks w
 WHERE d.id = due.id AND w.id = d.webhook_id AND w.disabled_at IS NULL
RETURNING d.id, d.event, d.payload, d.created_at, d.attempts, w.organisation, w.url, w.secret;

-- name: delivered
-- A round's deliveries that arrived, at once: $1 ids, $2 when, $3 the receivers' statuses.
UPDATE webhook_deliveries d
   SET state = 'delivered', attempts = d.attempts + 1, delivered_at = $2,
       last_status = r.status, last_error = NULL
  FROM unnest($1::uuid[], $3::int[]) AS r (id, status)
 WHERE d.id = r.id AND d.state = 'pending';

-- name: failed
-- $5: attempts allowed; after the last, the delivery is a dead letter.
UPDATE webhook_deliveries
   SET attempts = attempts + 1, last_status = $3, last_error = $4,
       state = CASE WHEN attempts + 1 >= $5 THEN 'dead' ELSE 'pending' END,
       dead_at = CASE WHEN attempts + 1 >= $5 THEN $2::timestamptz END,
       next_attempt_at = $6
 WHERE id = $1 AND state = 'pending'
RETURNING state;

-- name: dead_letters
SELECT d.id, d.webhook_id, w.organisation, d.event, d.payload, d.created_at, d.attempts,
       d.last_status, d.last_error, d.dead_at, d.replays
  FROM webhook_deliveries d
  JOIN webhooks w ON w.id = d.webhook_id
 WHERE d.state = 'dead' AND ($1::bigint IS NULL OR d.webhook_id = $1)
 ORDER BY d.dead_at DESC, d.id
 LIMIT $2;

-- name: dead_by_organisation
-- Dead letters that ops can still replay: a disabled webhook's count for nothing.
SELECT w.organisation, count(d.id) AS dead
  FROM webhooks w
  LEFT JOIN webhook_deliveries d ON d.webhook_id = w.id AND d.state = 'dead'
                                AND w.disabled_at IS NULL
 GROUP BY w.organisation;

-- name: replay
-- Dead letters back to pending, with their attempts afresh; the delivery keeps its id
-- (receivers recognise a delivery they already handled). Not for a disabled webhook.
-- $1 ids (NULL: every dead letter of webhook $2), $3 now; audited per delivery.
WITH back AS (
    UPDATE webhook_deliveries d
       SET state = 'pending', attempts = 0, next_attempt_at = $3, dead_at = NULL,
           replays = replays + 1
      FROM webhooks w
     WHERE w.id = d.webhook_id AND w.disabled_at IS NULL AND d.state = 'dead'
       AND ($1::uuid[] IS NULL OR d.id = ANY ($1))
       AND ($2::bigint IS NULL OR d.webhook_id = $2)
 RETURNING d.id
), audit AS (
    INSERT INTO audit_log (at, actor_kind, actor_id, actor_role, action, endpoint, request_id)
    SELECT $3, 'user', $4, $5, 'webhook.replay', $6, $7 FROM back
)
SELECT id FROM back;

-- name: prune
-- Delivered rows are kept for a while for questions ("did our system get it?"), then go.
DELETE FROM webhook_deliveries
 WHERE id IN (SELECT id FROM webhook_deliveries
               WHERE state = 'delivered' AND delivered_at < $1 LIMIT 1000);
