"""The watchdog: the promise that no melding waits silently, checked and kept.

At every moment each dispatchable melding (not an adviesvraag, not contacted or closed)
is exactly one of: on its gebied's queue; leased by a worker; offered (one open offer:
the database's unique index); accepted; escalated to named people with a running
deadline. Every few seconds one process of the deployment (a transaction-scoped
advisory lock; each worker tries) reads the suspects with one query of index probes
(``watchdog.sql``), repairs what breaks the promise and counts each repair in
``triage_invariant_repairs_total{kind}``, on which an alert fires (docs/runbooks/
invariant-repair.md). The kinds:

- ``not_queued``: queued in PostgreSQL, on no Redis queue and leased by nobody, on two
  passes in a row (an enqueue that is on its way is not a fault): put back on its queue;
- ``offered_without_offer`` / ``assigned_without_assignment``: the status says someone
  has it and no open offer or assignment says who: queued again;
- ``escalation_lapsed``: escalated, past its deadline by more than the grace, with no
  timer that started a new round: queued again for a new round;
- ``offer_overdue``: an offer past its answer time by more than the grace, with no timer
  that expired it: expired, and its melding queued for the next candidate.

A repair is the system's act, audited (``melding.repair``). Nothing here decides whom
to offer to: the worker does, from the queue.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from uuid import UUID

import asyncpg
import redis.asyncio as aioredis
import structlog

from triage.clock import Clock
from triage.effects import AfterCommit, enqueue
from triage.observability import metrics
from triage.queue.keys import Keys
from triage.store.sql import load_queries

log = structlog.get_logger(__name__)
_Q = load_queries("triage.dispatch", "watchdog.sql")
_DISPATCH = load_queries("triage.dispatch", "dispatch.sql")
WATCHDOG_LOCK = 0x7472_6961_6765_03
#: Requeued by the ``requeue`` statement, by the status they were found in.
_REQUEUED_KIND = {
    "offered": "offered_without_offer",
    "assigned": "assigned_without_assignment",
    "escalated": "escalation_lapsed",
}
_STATUS_OF = {kind: status for status, kind in _REQUEUED_KIND.items()}


@dataclass
class Watchdog:
    pool: asyncpg.Pool
    redis: aioredis.Redis
    keys: Keys
    after_commit: AfterCommit
    clock: Clock
    #: How late a timer may be before its work counts as a repair (a few timer passes).
    grace: timedelta = timedelta(seconds=60)
    interval: float = 5.0
    #: Queued meldingen on no queue at the last pass: repaired if still so at the next.
    _missing: set[UUID] = field(default_factory=set)

    async def run(self) -> None:
        while True:
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a dependency is down: the next pass tries again
                log.warning("watchdog_failed", error=type(exc).__name__)
            await asyncio.sleep(self.interval)

    async def check(self) -> Counter[str] | None:
        """One pass; the repairs by kind, or None when another process holds the pass."""
        now = self.clock.now()
        repaired: Counter[str] = Counter()
        requeued: list[asyncpg.Record] = []  # queued again after the commit
        async with self.pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", WATCHDOG_LOCK):
                return None
            suspects = await conn.fetch(_Q["suspects"], now, self.grace)
            queued = [r for r in suspects if r["kind"] == "queued"]
            broken = [r for r in suspects if r["kind"] in _STATUS_OF]
            if broken:
                rows = await conn.fetch(
                    _Q["requeue"], [r["id"] for r in broken],
                    [_STATUS_OF[r["kind"]] for r in broken], now,
                )  # fmt: skip
                repaired.update(_REQUEUED_KIND[r["status"]] for r in rows)
                requeued += rows
            if any(r["kind"] == "offer_overdue" for r in suspects):
                rows = await conn.fetch(_DISPATCH["expire_offers"], now)
                repaired["offer_overdue"] += len(rows)
                requeued += rows
        repaired["not_queued"] += await self._queue_missing(queued, requeued)
        for kind, count in repaired.items():
            if count:
                metrics.INVARIANT_REPAIRS.labels(kind).inc(count)
                log.warning("invariant_repaired", kind=kind, count=count)
        return repaired

    async def _queue_missing(
        self, queued: list[asyncpg.Record], requeued: list[asyncpg.Record]
    ) -> int:
        """Queued meldingen on no queue and leased by nobody, two passes in a row, go
        back on their queue, with those ``requeued`` in this pass (after its commit)."""
        pipe = self.redis.pipeline(transaction=False)
        for row in queued:
            pipe.zscore(self.keys.queue(row["gebied"]), str(row["id"]))
            pipe.zscore(self.keys.leases(row["gebied"])[0], str(row["id"]))
        found = await pipe.execute() if queued else []
        missing = {
            row["id"]: row for i, row in enumerate(queued)
            if found[2 * i] is None and found[2 * i + 1] is None
        }  # fmt: skip
        confirmed = [row for melding_id, row in missing.items() if melding_id in self._missing]
        self._missing = set(missing) - {row["id"] for row in confirmed}
        await self.after_commit.apply(enqueue(row) for row in [*requeued, *confirmed])
        return len(confirmed)
