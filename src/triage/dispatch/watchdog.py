"""The watchdog: the promise that no melding waits silently, checked and kept.

At every moment each dispatchable melding (not an adviesvraag, not contacted or closed)
is exactly one of: on its gebied's queue; leased by a worker; offered (one open offer:
the database's unique index); accepted; escalated to named people with a running
deadline. Every few seconds one process of the deployment (each worker tries; the one
that moves ``watchdog_state.last_pass`` on takes the pass) reads the suspects with one
query of index probes (``watchdog.sql``), repairs what breaks the promise and counts each
repair in
``triage_invariant_repairs_total{kind}``, on which an alert fires (docs/runbooks/
invariant-repair.md). The kinds:

- ``not_queued``: queued in PostgreSQL, on no Redis queue and leased by nobody (or by a
  lease long expired), on two passes in a row (an enqueue on its way is no fault; the
  list of the last pass is kept in ``watchdog_state``): put back on its queue;
- ``offered_without_offer`` / ``assigned_without_assignment``: the status says someone
  has it and no open offer or assignment says who: queued again;
- ``escalation_lapsed``: escalated, past its deadline by more than the grace, with no
  timer that started a new round: queued again for a new round;
- ``offer_overdue``: an offer past its answer time by more than the grace, with no timer
  that expired it: expired, and its melding queued for the next candidate.

A repair is the system's act, audited (``melding.repair``, actor ``watchdog``; an offer
it expired also as the expiry, ``assignment.expire``). Nothing here decides whom
to offer to: the worker does, from the queue.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
import redis.asyncio as aioredis
import structlog

from triage.clock import Clock
from triage.effects import AfterCommit, enqueue
from triage.observability import metrics
from triage.queue.keys import Keys
from triage.store.sql import load_queries
from triage.tasks import stop_if_asked

log = structlog.get_logger(__name__)
_Q = load_queries("triage.dispatch", "watchdog.sql")
_DISPATCH = load_queries("triage.dispatch", "dispatch.sql")
#: Requeued by the ``requeue`` statement, by the status they were found in.
_REQUEUED_KIND = {
    "offered": "offered_without_offer",
    "assigned": "assigned_without_assignment",
    "escalated": "escalation_lapsed",
}
_STATUS_OF = {kind: status for status, kind in _REQUEUED_KIND.items()}
#: Every kind of repair: each is counted from 0 in a process that runs a watchdog, so
#: that the alert sees a first repair (a series that appears at 1 is no increase).
REPAIR_KINDS = ("not_queued", *_REQUEUED_KIND.values(), "offer_overdue")


@dataclass
class Watchdog:
    pool: asyncpg.Pool
    redis: aioredis.Redis
    keys: Keys
    after_commit: AfterCommit
    clock: Clock
    #: How late a timer may be before its work counts as a repair (a few timer passes).
    grace: timedelta = timedelta(seconds=60)
    #: Seconds between passes of the deployment (whichever process takes each).
    interval: float = 5.0

    def __post_init__(self) -> None:
        for kind in REPAIR_KINDS:
            metrics.INVARIANT_REPAIRS.labels(kind)

    async def run(self) -> None:
        while True:
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a dependency is down: the next pass tries again
                stop_if_asked(exc)
                log.warning("watchdog_failed", error=type(exc).__name__)
            await asyncio.sleep(self.interval)

    async def check(self) -> Counter[str] | None:
        """One pass; the repairs by kind, or None when another process took this pass.
        Everything a pass repairs in PostgreSQL commits with it, or (Redis down while it
        looks) nothing does and the next pass tries again; the queues follow the commit."""
        now = self.clock.now()
        repaired: Counter[str] = Counter()
        requeued: list[asyncpg.Record] = []
        async with self.pool.acquire() as conn, conn.transaction():
            taken = await conn.fetchrow(
                _Q["take_pass"], now, timedelta(seconds=self.interval * 0.8)
            )
            if taken is None:
                return None
            suspects = await conn.fetch(_Q["suspects"], now, self.grace)
            broken = [r for r in suspects if r["kind"] in _STATUS_OF]
            if broken:
                rows = await conn.fetch(
                    _Q["requeue"], [r["id"] for r in broken],
                    [_STATUS_OF[r["kind"]] for r in broken], now,
                )  # fmt: skip
                repaired.update(_REQUEUED_KIND[r["status"]] for r in rows)
                requeued += rows
            overdue = [r["id"] for r in suspects if r["kind"] == "offer_overdue"]
            if overdue:  # the timers' own statement, which takes every offer due
                expired = await conn.fetch(_DISPATCH["expire_offers"], now)
                requeued += expired
                # A repair only what this pass expired: a timer may hold one (SKIP LOCKED)
                # and the statement takes at most a batch; the rest are the next pass's.
                done = {r["expired_melding"] for r in expired}
                fixed = [melding_id for melding_id in overdue if melding_id in done]
                await conn.execute(_Q["audit_repaired"], fixed, now)
                repaired["offer_overdue"] += len(fixed)
            queued = [r for r in suspects if r["kind"] == "queued"]
            missing = await self._not_on_a_queue(queued, now)
            # The same spell in the queue (the same row version) on no queue twice.
            seen_before = set(taken["missing"])
            confirmed = [row for row in missing if row["spell"] in seen_before]
            if confirmed:
                await conn.execute(_Q["audit_repaired"], [r["id"] for r in confirmed], now)
            first_seen = [r["spell"] for r in missing if r["spell"] not in seen_before]
            await conn.execute(_Q["keep_missing"], first_seen)
        repaired["not_queued"] += len(confirmed)
        for kind, count in repaired.items():
            if count:
                metrics.INVARIANT_REPAIRS.labels(kind).inc(count)
                log.warning("invariant_repaired", kind=kind, count=count)
        await self.after_commit.apply(enqueue(row) for row in [*requeued, *confirmed])
        # The wall clock, not the service's: Prometheus compares it with its own time().
        metrics.WATCHDOG_LAST_PASS.set_to_current_time()
        return repaired

    async def _not_on_a_queue(
        self, queued: list[asyncpg.Record], now: datetime
    ) -> list[asyncpg.Record]:
        """Those of the ``queued`` meldingen that are on no queue and not leased (a lease
        past its expiry by more than the grace counts as none: its worker is gone and
        nothing put it back)."""
        if not queued:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for row in queued:
            pipe.zscore(self.keys.queue(row["gebied"]), str(row["id"]))
            pipe.zscore(self.keys.leases(row["gebied"])[0], str(row["id"]))
        found = await pipe.execute()
        stale = (now - self.grace).timestamp() * 1000  # lease expiries are in milliseconds
        return [
            row for i, row in enumerate(queued)
            if found[2 * i] is None and (found[2 * i + 1] is None or found[2 * i + 1] < stale)
        ]  # fmt: skip
