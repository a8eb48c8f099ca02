"""Are PostgreSQL and Redis answering? For `/readyz`, and every few seconds in every
process for `triage_dependency_up`, so that the alert fires when nobody asks `/readyz`
(one machine without an orchestrator) and in processes that have no HTTP API."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from triage.observability import metrics

#: How long a dependency has to answer before it counts as down.
TIMEOUT_SECONDS = 1.0


async def _answers(name: str, probe: Awaitable[Any]) -> bool:
    try:
        await asyncio.wait_for(probe, timeout=TIMEOUT_SECONDS)
    except Exception:
        metrics.DEPENDENCY_UP.labels(name).set(0)
        return False
    metrics.DEPENDENCY_UP.labels(name).set(1)
    return True


async def dependencies(pool: asyncpg.Pool, redis: aioredis.Redis) -> tuple[bool, bool]:
    """(PostgreSQL answers, Redis answers), each set on ``triage_dependency_up``."""
    postgres, redis_ok = await asyncio.gather(
        _answers("postgres", pool.fetchval("SELECT 1")), _answers("redis", redis.ping())
    )
    return postgres, redis_ok


async def watch(pool: asyncpg.Pool, redis: aioredis.Redis, every: float = 15.0) -> None:
    """Check the dependencies every ``every`` seconds, until cancelled."""
    while True:
        await dependencies(pool, redis)
        await asyncio.sleep(every)
