"""The dispatch worker (``triage worker``): claim, offer, release; and keep offers moving.

Any number of workers run: claims are atomic in Redis (queue/claim.py), offers are
decided under the melding's row lock, and at most one offer or accepted assignment per
melding exists (a unique index). A worker:

1. claims at most ``per_round`` meldingen of every gebied in one round trip (crisis
   first, then the earliest deadline), so that a busy gebied does not starve the
   others, and offers them in one statement (dispatch/offer.py). Offers made at the same moment
   may both count a person as having room: a caseload cap can be passed by the few
   offers in flight, never more (the cap steers, it does not lock);
2. claims again at once only when a gebied gave all it was asked for (more may wait);
   otherwise the queues were empty when claimed, so it blocks until an enqueue wakes it
   (or ``idle_seconds`` pass, for what came back without a wake-up: an expired lease,
   the reconciler's repairs) instead of claiming from empty queues after every offer;
3. beside that, in a loop of its own, every ``timer_seconds``: returns expired leases
   to their queues (a worker that died mid-claim), expires offers not answered in time,
   queueing their meldingen again for the next candidate (FOR UPDATE SKIP LOCKED: one
   instance each), escalates meldingen at risk and breached (dispatch/deadlines.py),
   escalates overdue case milestones and counts them for Prometheus
   (cases/milestones.py).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import redis.asyncio as aioredis
import structlog

from triage.audit import seal as audit_seal
from triage.cases.milestones import count_overdue, escalate_overdue
from triage.clock import Clock
from triage.dispatch import gauges
from triage.dispatch.deadlines import escalate
from triage.dispatch.offer import offer
from triage.dispatch.watchdog import Watchdog
from triage.effects import AfterCommit, Tell, enqueue
from triage.notify import webhooks
from triage.observability import health, metrics
from triage.privacy.retention import RetentionJob
from triage.queue.claim import Claimer
from triage.queue.keys import Keys
from triage.region import REGIONAL_POOL
from triage.routing import roster_changes
from triage.routing.network import NetworkConfig
from triage.routing.roster import Duty, absent_at, on_duty
from triage.routing.roster_changes import as_changes
from triage.runtime import Runtime
from triage.store.sql import load_queries
from triage.tasks import stop_if_asked
from triage.vocabulary import LEVEL_ASCENDING

log = structlog.get_logger(__name__)
_Q = load_queries("triage.dispatch", "dispatch.sql")


class Worker:
    def __init__(
        self,
        pool: asyncpg.Pool,
        claimer: Claimer,
        after_commit: AfterCommit,
        *,
        config: NetworkConfig,
        clock: Clock,
        gebieden: list[str],
        redis: aioredis.Redis,
        per_round: int = 8,
        timer_seconds: float = 5.0,
        idle_seconds: float = 0.5,
        longest_window: timedelta = timedelta(hours=72),
        watchdog: Watchdog | None = None,
        keys: Keys | None = None,
        retention: RetentionJob | None = None,
    ) -> None:
        self._pool = pool
        self._claimer = claimer
        self._after_commit = after_commit
        self._config = config
        self._clock = clock
        self._gebieden = [*gebieden, REGIONAL_POOL]
        self._per_round = per_round
        self._timer_seconds = timer_seconds
        self._idle_seconds = idle_seconds
        self._longest_window = longest_window
        self._redis = redis
        #: Who is on duty and who is absent, for the minute they were computed in.
        self._duties: tuple[datetime, list[Duty], set[str]] | None = None
        self._watchdog = watchdog
        self._keys = keys
        self._retention = retention

    async def run(self) -> None:
        """Offer, keep the timers and (one worker of the deployment at a time) the
        watchdog and the retention term, side by side: a timer pass (a few statements
        every few seconds) does not hold up the offers that arrive meanwhile."""
        loops = [self._offer_loop(), self._timer_loop()]
        if self._watchdog is not None:
            loops.append(self._watchdog.run())
        if self._retention is not None:
            loops.append(self._retention.run())
        if self._keys is not None:
            loops.append(self.follow_rosters(self._keys))
        # One loop that ends by a fault ends them all (and the task, and a worker
        # process with it, to be restarted): none goes on alone, half a worker.
        async with asyncio.TaskGroup() as group:
            for loop in loops:
                group.create_task(loop)

    async def follow_rosters(self, keys: Keys) -> None:
        """A roster change made through the API takes effect at once: its announcement
        drops who is on duty, computed again for the next round. Lost announcements (Redis
        down) cost at most the minute after which it is computed again anyway."""
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(keys.rosters)
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True,
                                                       timeout=5.0)  # fmt: skip
                    if message is not None:
                        self._duties = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis down: listen again shortly
                stop_if_asked(exc)
                log.warning("roster_follow_failed", error=type(exc).__name__)
                await asyncio.sleep(1.0)
            finally:
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _offer_loop(self) -> None:
        while True:
            try:
                _, more = await self._round()
                if not more:
                    # Wait for an enqueue to wake us (or look again after a while).
                    await self._claimer.wait_for_work(self._idle_seconds)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a dependency is down: try again shortly
                stop_if_asked(exc)
                log.warning("dispatch_round_failed", error=type(exc).__name__)
                await asyncio.sleep(1.0)

    async def _timer_loop(self) -> None:
        while True:
            await self.timers()
            await asyncio.sleep(self._timer_seconds)

    async def timers(self) -> None:
        """One pass of the timers: dependencies, leases, unanswered offers, deadlines,
        milestones, the gauges (webhook deliveries waiting for a deliverer too). Each step
        on its own: with Redis down, the steps that need only PostgreSQL (expiry,
        escalation, the gauges) still run."""
        steps: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            ("dependencies", lambda: health.dependencies(self._pool, self._redis)),
            ("leases", self.requeue_expired_leases),
            ("offers", self.expire_offers),
            ("escalations", self.lapse_escalations),
            ("deadlines", self.escalate_deadlines),
            ("milestones", self.escalate_milestones),
            ("overdue", lambda: count_overdue(self._pool, self._clock.now())),
            ("gauges", lambda: gauges.refresh_queues(self._pool, self._config,
                                                     self._clock.now(), self._longest_window)),
            ("rosters", lambda: self.duties(self._clock.now())),
            ("audit", lambda: audit_seal.seal(self._pool)),  # one sealer per deployment
            ("webhooks", lambda: webhooks.refresh_overdue(self._pool, self._clock.now())),
        ]  # fmt: skip
        for name, step in steps:
            # At 0 until it first succeeds; then the wall clock, not the service's:
            # Prometheus compares it with its own time().
            done = metrics.TIMER_LAST_PASS.labels(name)
            try:
                await step()
                done.set_to_current_time()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a dependency is down: the next pass tries again
                stop_if_asked(exc)
                log.warning("dispatch_timer_failed", step=name, error=type(exc).__name__)

    async def duties(self, now: datetime) -> list[Duty]:
        """Who is on duty, computed once a minute (shifts and changes are set in minutes),
        with the roster changes coordinators made through the API."""
        minute = now.replace(second=0, microsecond=0)
        if self._duties is None or self._duties[0] != minute:
            extra = as_changes(await roster_changes.current(self._pool, now))
            duties = on_duty(self._config, now, extra)
            self._duties = (minute, duties, absent_at(self._config, now, extra))
            gauges.refresh_rosters(self._config, now, duties, extra)
        return self._duties[1]

    async def round(self) -> int:
        """One round (below); how many were offered."""
        offered, _ = await self._round()
        return offered

    async def _round(self) -> tuple[int, bool]:
        """Claim up to ``per_round`` meldingen of every gebied (in queue order, one round
        trip for all gebieden), offer them in one statement, release the leases and tell
        the people (one round trip each); how many were offered, and whether a gebied gave
        all that was asked (more may wait). One melding at a time per gebied could not
        keep up with a busy gebied (each offer is a few round trips)."""
        now = self._clock.now()
        claims = await self._claimer.claim(self._gebieden, now, self._per_round)
        if not claims:
            return 0, False
        per_gebied = Counter(c.gebied for c in claims)
        more = max(per_gebied.values()) >= self._per_round
        duties = await self.duties(now)
        absent = self._duties[2] if self._duties is not None else set()
        claimed = [(c.gebied, c.melding_id) for c in claims]
        done = await offer(self._pool, self._config, claimed, now, duties, absent=absent)
        committed = self._clock.now()  # the offers' time is the round's; this, their commit's
        # Released only after the offers and escalations committed (or turned out not
        # needed). A melding whose offer failed keeps its lease, and an error here leaves
        # all of them: the leases expire and the meldingen return to their queues.
        await self._claimer.release([c for c in claims if c.melding_id not in done.failed])
        for made in done.offered:
            waited = (committed - made.created_at).total_seconds()
            metrics.TIME_TO_OFFER.labels(made.level).observe(waited)
        if done.left:  # the roster or a lead changed since it was read: read it again
            self._duties = None
        await self._after_commit.apply(done.effects)
        return len(done.offered), more

    async def requeue_expired_leases(self) -> int:
        """Meldingen claimed by a worker that died go back on their queues."""
        return await self._claimer.requeue_expired(self._gebieden, self._clock.now())

    async def expire_offers(self) -> int:
        """Offers past their answer time go to the next candidate; whose they were is told,
        so that no open page still offers them to accept."""
        rows = await self._pool.fetch(_Q["expire_offers"], self._clock.now())
        lost: dict[str, list[UUID]] = {}
        for row in rows:
            lost.setdefault(row["specialist"], []).append(row["assignment_id"])
        await self._after_commit.apply([
            *(enqueue(row) for row in rows if row["id"] is not None),
            *(Tell(person, "offer_withdrawn", {"assignment_ids": ids, "expired": True,
                                               "why": "expired",
                                               "link": "/api/v1/me/assignments"})
              for person, ids in lost.items()),
        ])  # fmt: skip
        if rows:
            metrics.OFFERS_EXPIRED.inc(len(rows))
            log.info("offers_expired", count=len(rows))
        return len(rows)

    async def lapse_escalations(self) -> int:
        """Meldingen escalated for want of candidates whose deadline passed with nobody
        acting start a new round of offers."""
        rows = await self._pool.fetch(_Q["lapse_escalations"], self._clock.now())
        await self._after_commit.apply(enqueue(row) for row in rows)
        if rows:
            log.warning("escalations_lapsed", count=len(rows))
        return len(rows)

    async def escalate_deadlines(self) -> int:
        """Meldingen at risk and breached, escalated to their gebied's coordinators."""
        done = await escalate(self._pool, self._config, self._clock.now(), self._longest_window)
        await self._after_commit.apply(done.effects)
        return done.answer

    async def escalate_milestones(self) -> int:
        """Overdue case milestones, escalated to the coordinator and the lead."""
        done = await escalate_overdue(self._pool, self._config, self._clock.now())
        await self._after_commit.apply(done.effects)
        return done.answer


def worker_for(runtime: Runtime) -> Worker:
    """A worker on the process's own pools and configuration."""
    return Worker(
        runtime.pool,
        Claimer(runtime.redis, runtime.keys, runtime.settings.lease_seconds),
        runtime.after_commit,
        config=runtime.network,
        clock=runtime.clock,
        gebieden=runtime.region.gebied_codes,
        redis=runtime.redis,
        longest_window=timedelta(hours=max(
            runtime.rules.levels[lv].respond_within_hours for lv in LEVEL_ASCENDING
        )),
        watchdog=Watchdog(runtime.pool, runtime.redis, runtime.keys, runtime.after_commit,
                          runtime.clock),
        keys=runtime.keys,
        retention=RetentionJob(runtime.pool, runtime.region.retention, runtime.clock,
                               runtime.settings.retention_interval_seconds),
    )  # fmt: skip
