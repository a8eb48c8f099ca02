"""Rebuild the Redis queues from PostgreSQL, the system of record.

Runs at start-up and then periodically in every API process; a PostgreSQL advisory lock
lets one process do the work while the others skip. Because ``ZADD`` of the same member and
score is idempotent, running it against a healthy Redis changes nothing, and after a Redis
restart or ``FLUSHALL`` it restores every queued melding.
"""

from __future__ import annotations

import asyncio

import asyncpg
import redis.asyncio as aioredis
import structlog

from triage.observability import metrics
from triage.queue.priority import priority, queue_key
from triage.store.sql import load_queries
from triage.vocabulary import Level

log = structlog.get_logger(__name__)
_Q = load_queries("triage.queue", "queue.sql")
_RECONCILE_LOCK = 0x7472_6961_6765_02
_BATCH = 1000


async def reconcile_queues(pool: asyncpg.Pool, client: aioredis.Redis) -> int | None:
    """Re-add every queued melding; the number re-added, or None if another process runs it."""
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        # Transaction-scoped: released at commit, also if this process dies mid-way.
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", _RECONCILE_LOCK):
            return None
        restored = 0
        pipe = client.pipeline(transaction=False)
        pending = 0
        async for row in conn.cursor(_Q["queued_meldingen"], prefetch=_BATCH):
            score = priority(Level(row["urgency_level"]), row["respond_before"])
            pipe.zadd(queue_key(row["gebied"]), {str(row["id"]): score}, nx=True)
            pending += 1
            if pending == _BATCH:
                restored += sum(await pipe.execute())
                pending = 0
        if pending:
            restored += sum(await pipe.execute())
        return restored


async def run_reconciler(pool: asyncpg.Pool, client: aioredis.Redis, interval: float) -> None:
    """Reconcile now and then every ``interval`` seconds until cancelled."""
    while True:
        try:
            restored = await reconcile_queues(pool, client)
            if restored:
                metrics.RECONCILER_REPAIRS.inc(restored)
                log.warning("queue_reconciled", restored=restored)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a dependency is down; try again next round
            log.warning("queue_reconcile_failed", error=type(exc).__name__)
        await asyncio.sleep(interval)
