"""The dispatch worker (``triage worker``): claim, offer, release; and keep offers moving.

Any number of workers run: claims are atomic in Redis (queue/claim.py), offers are
decided under the melding's row lock, and at most one offer or accepted assignment per
melding exists (a unique index). Each round a worker:

1. returns expired leases to their queues (a worker that died mid-claim);
2. claims and offers at most ``per_round`` meldingen per gebied, gebieden in turn, so
   that a busy gebied does not starve the others (within a gebied: crisis first, then
   the earliest deadline);
3. every ``timer_seconds``, expires offers not answered in time and queues their
   meldingen again for the next candidate (FOR UPDATE SKIP LOCKED: one instance each).
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

import asyncpg
import structlog

from triage.clock import Clock
from triage.dispatch.offer import offer
from triage.observability import metrics
from triage.queue.claim import Claimer
from triage.queue.enqueue import Enqueuer
from triage.region import REGIONAL_POOL
from triage.routing.network import NetworkConfig
from triage.runtime import Runtime
from triage.store.sql import load_queries
from triage.vocabulary import Level

log = structlog.get_logger(__name__)
_Q = load_queries("triage.dispatch", "dispatch.sql")


class Worker:
    def __init__(
        self,
        pool: asyncpg.Pool,
        claimer: Claimer,
        enqueuer: Enqueuer,
        *,
        config: NetworkConfig,
        clock: Clock,
        gebieden: list[str],
        per_round: int = 8,
        timer_seconds: float = 5.0,
        idle_seconds: float = 0.02,
    ) -> None:
        self._pool = pool
        self._claimer = claimer
        self._enqueuer = enqueuer
        self._config = config
        self._clock = clock
        self._gebieden = [*gebieden, REGIONAL_POOL]
        self._per_round = per_round
        self._timer_seconds = timer_seconds
        self._idle_seconds = idle_seconds
        self._last_timers = 0.0

    async def run(self) -> None:
        while True:
            try:
                offered = await self.round()
                if time.monotonic() - self._last_timers >= self._timer_seconds:
                    self._last_timers = time.monotonic()
                    await self.expire_offers()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a dependency is down: try again shortly
                log.warning("dispatch_round_failed", error=type(exc).__name__)
                offered = 0
                await asyncio.sleep(1.0)
            if not offered:
                await asyncio.sleep(self._idle_seconds)

    async def round(self) -> int:
        """One pass over the gebieden; how many meldingen were offered."""
        offered = 0
        for gebied in self._gebieden:
            now = self._clock.now()
            await self._claimer.requeue_expired(gebied, now)
            for _ in range(self._per_round):
                claim = await self._claimer.claim(gebied, now)
                if claim is None:
                    break
                async with self._pool.acquire() as conn:
                    made = await offer(conn, self._config, claim.melding_id, self._clock.now())
                # Released only after the offer committed (or turned out not needed): a
                # crash before this leaves the lease to expire and the melding returns.
                await self._claimer.release(claim)
                offered += made is not None
        return offered

    async def expire_offers(self) -> int:
        """Offers past their answer time go to the next candidate."""
        now: datetime = self._clock.now()
        rows = await self._pool.fetch(_Q["expire_offers"], now)
        for row in rows:
            self._enqueuer.submit(
                row["gebied"], row["id"], Level(row["urgency_level"]), row["respond_before"], now
            )
        if rows:
            metrics.OFFERS_EXPIRED.inc(len(rows))
            log.info("offers_expired", count=len(rows))
        return len(rows)


def worker_for(runtime: Runtime) -> Worker:
    """A worker on the process's own pools and configuration."""
    return Worker(
        runtime.pool,
        Claimer(runtime.redis, runtime.settings.lease_seconds),
        runtime.enqueuer,
        config=runtime.network,
        clock=runtime.clock,
        gebieden=runtime.region.gebied_codes,
    )
