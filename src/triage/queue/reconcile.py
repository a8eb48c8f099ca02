"""Keep the Redis queues in line with PostgreSQL, the system of record.

Every API process runs this loop; a PostgreSQL advisory lock lets one process at a time do
a round. What a round re-adds depends on what can be missing, so that its cost stays
proportional to the damage, not to the size of the queues:

- everything queued, when Redis lost its data (restart, failover, ``FLUSHALL``): seen by
  the absence of a marker key, which is set *before* rebuilding so that a restart during
  the rebuild removes it again and the next round rebuilds once more;
- everything queued, when PostgreSQL recovered from a crash or failed over: offers
  commit without waiting for the disk (dispatch.sql), so the last of them before a
  crash can be gone, their meldingen queued again in PostgreSQL but on no queue. Seen by
  the absence of the row of the unlogged table ``queues_rebuilt``, which PostgreSQL
  empties in its crash recovery (migration 0013); the row is written in the rebuild's
  own transaction. This also covers a process that starts after the crash;
- everything queued, when an enqueue of this process failed (a Redis hiccup): the
  melding may have been queued again by a decline, an expiry or a move, long after it
  was created, so "created since" would miss it;
- at start-up, the last ten minutes (a predecessor that died between commit and enqueue);
- and every ten minutes everything queued, as a safety net (its cost is the backlog,
  which dispatch keeps small).

``ZADD NX`` of a member that is present changes nothing, so a round never duplicates.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import asyncpg
import redis.asyncio as aioredis
import structlog

from triage.clock import Clock
from triage.observability import metrics
from triage.queue.enqueue import Enqueuer
from triage.queue.keys import Keys
from triage.queue.priority import priority
from triage.store.sql import load_queries
from triage.tasks import stop_if_asked
from triage.vocabulary import Level

log = structlog.get_logger(__name__)
_Q = load_queries("triage.queue", "queue.sql")
_RECONCILE_LOCK = 0x7472_6961_6765_02
_BATCH = 1000
STARTUP_LOOKBACK = timedelta(minutes=10)
FULL_EVERY = timedelta(minutes=10)


async def reconcile_queues(
    pool: asyncpg.Pool, client: aioredis.Redis, keys: Keys, *, since: datetime | None = None
) -> int | None:
    """Re-add queued meldingen (all, or those created since ``since``) that Redis lacks.

    Returns how many were missing, or None when another process holds the round.
    """
    async with pool.acquire() as conn, conn.transaction():
        # Transaction-scoped: released at commit, also if this process dies mid-way.
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", _RECONCILE_LOCK):
            return None
        if since is None:
            await client.set(keys.rebuilt, "1")
            await conn.execute(_Q["mark_rebuilt"])
            cursor = conn.cursor(_Q["queued_meldingen"], prefetch=_BATCH)
        else:
            cursor = conn.cursor(_Q["recently_queued_meldingen"], since, prefetch=_BATCH)
        restored = 0
        pipe = client.pipeline(transaction=False)
        pending = 0
        async for row in cursor:
            score = priority(Level(row["urgency_level"]), row["respond_before"])
            pipe.zadd(keys.queue(row["gebied"]), {str(row["id"]): score}, nx=True)
            pending += 1
            if pending == _BATCH:
                restored += sum(await pipe.execute())
                pending = 0
        if pending:
            restored += sum(await pipe.execute())
        return restored


async def lost_since_rebuilt(pool: asyncpg.Pool, client: aioredis.Redis, keys: Keys) -> str | None:
    """What lost state since the last full rebuild ("redis", "postgres"), if anything."""
    if not await client.exists(keys.rebuilt):
        return "redis"
    if not await pool.fetchval(_Q["rebuilt_since_recovery"]):
        return "postgres"
    return None


async def reconcile_once(
    pool: asyncpg.Pool, client: aioredis.Redis, keys: Keys, since: datetime | None
) -> int | None:
    """One round: ``since`` None re-adds everything queued (and sets the markers)."""
    lost = await lost_since_rebuilt(pool, client, keys)
    if lost is not None:
        since = None
    restored = await reconcile_queues(pool, client, keys, since=since)
    if lost is not None and restored is not None:
        # A warning when the loss cost queue entries; a first start (no marker yet) or a
        # loss while nothing waited had nothing to repair, and warns no one.
        (log.warning if restored else log.info)("queues_rebuilt", lost=lost)
    if restored:
        metrics.RECONCILER_REPAIRS.inc(restored)
        log.warning("queue_reconciled", restored=restored, full=since is None)
    return restored


async def run_reconciler(
    pool: asyncpg.Pool,
    client: aioredis.Redis,
    keys: Keys,
    *,
    enqueuer: Enqueuer,
    clock: Clock,
    interval: float,
) -> None:
    """Reconcile as the module docstring says, checking every ``interval`` seconds."""
    pending_since: datetime | None = clock.now() - STARTUP_LOOKBACK
    last_full: datetime | None = clock.now()  # None: a full round is due
    while True:
        try:
            if enqueuer.failed_since is not None:
                enqueuer.failed_since = None
                last_full = None
            full = last_full is None or clock.now() - last_full >= FULL_EVERY
            if full or pending_since is not None or await lost_since_rebuilt(pool, client, keys):
                done = await reconcile_once(pool, client, keys, None if full else pending_since)
                if done is not None:  # None: another process holds this round; try later
                    pending_since = None
                    last_full = clock.now() if full else last_full
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a dependency is down; try again next round
            stop_if_asked(exc)
            log.warning("queue_reconcile_failed", error=type(exc).__name__)
        await asyncio.sleep(interval)
