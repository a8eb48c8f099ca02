"""Put committed meldingen on their gebied's queue, in the background and in batches.

The melding is already committed in PostgreSQL when it is handed over here, so the HTTP
answer does not wait for Redis: one pipelined ``ZADD`` round trip serves every melding
that arrived meanwhile, which under load is far cheaper than one command per request.
If Redis is unreachable the batch is dropped and counted; the reconciler puts those
meldingen back from PostgreSQL (invariant 1: Redis is derived state).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

import orjson
import redis.asyncio as aioredis
import structlog

from triage.observability import metrics
from triage.queue.keys import Keys
from triage.queue.priority import WAKE_TOKENS, priority
from triage.tasks import cancel_and_wait
from triage.vocabulary import Level

log = structlog.get_logger(__name__)
_MAX_BATCH = 1000


def board_messages(changed: Iterable[tuple[str, str]]) -> dict[str, bytes]:
    """What each gebied's werkvoorraad channel carries of ``changed`` (gebied, melding id):
    which of its meldingen changed (ids only, each once). A channel per gebied: a
    coordinator's stream hears of their own gebied's meldingen, not of the region's."""
    by_gebied: dict[str, dict[str, None]] = {}
    for gebied, melding_id in changed:
        by_gebied.setdefault(gebied, {})[melding_id] = None
    return {
        gebied: orjson.dumps({"event": "werkvoorraad", "melding_ids": list(ids)})
        for gebied, ids in by_gebied.items()
    }


class Enqueuer:
    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self._client = client
        self._keys = keys
        # (gebied, melding id, priority, committed at)
        self._pending: list[tuple[str, str, float, datetime]] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        #: When the oldest melding that this process failed to queue was committed; the
        #: reconciler then re-adds everything queued and clears it.
        self.failed_since: datetime | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="triage-enqueuer")

    def submit(
        self,
        gebied: str,
        melding_id: UUID,
        level: Level,
        respond_before: datetime,
        committed_at: datetime,
    ) -> None:
        member = (gebied, str(melding_id), priority(level, respond_before))
        self._pending.append((*member, committed_at))
        self._idle.clear()
        self._wake.set()

    async def withdraw(self, gebied: str, melding_id: UUID) -> None:
        """Take a melding off its gebied's queue (offered by hand, moved or closed), and
        end a worker's lease on it: a lease that expired later would put it back on the
        queue (queue/claim.py, requeue_expired), a closed melding waiting there for
        nobody. One transaction (the gebied's keys share a hash tag). If Redis is down it
        stays there, harmlessly: a worker that claims it finds it no longer queued in
        PostgreSQL and does nothing."""
        member = str(melding_id)
        leases, leased = self._keys.leases(gebied)
        with contextlib.suppress(Exception):
            pipe = self._client.pipeline(transaction=True)
            pipe.zrem(self._keys.queue(gebied), member)
            pipe.zrem(leases, member)
            pipe.hdel(leased, member)
            await pipe.execute()

    async def flush(self) -> None:
        """Wait until everything submitted so far has been sent (or counted as failed)."""
        await self._idle.wait()

    async def stop(self) -> None:
        if self._task is None:
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.flush(), timeout=5)
        await cancel_and_wait([self._task], within=1.0)
        self._task = None

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch, self._pending = self._pending[:_MAX_BATCH], self._pending[_MAX_BATCH:]
                await self._send(batch)
            self._idle.set()

    async def _send(self, batch: list[tuple[str, str, float, datetime]]) -> None:
        # One ZADD per gebied with all its members: fewer commands to build and send.
        by_gebied: dict[str, dict[str, float]] = {}
        for gebied, member, score, _committed in batch:
            by_gebied.setdefault(gebied, {})[member] = score
        pipe = self._client.pipeline(transaction=False)
        for gebied, members in by_gebied.items():
            pipe.zadd(self._keys.queue(gebied), members)
        pipe.lpush(self._keys.wake, *["1"] * min(WAKE_TOKENS, len(batch)))
        pipe.ltrim(self._keys.wake, 0, WAKE_TOKENS - 1)
        # The open werkvoorraad pages learn of them in the same round trip.
        for gebied, ids in board_messages((g, member) for g, member, _, _ in batch).items():
            pipe.publish(self._keys.board(gebied), ids)
        try:
            await pipe.execute()
        except Exception as exc:  # Redis down: the reconciler restores these from PostgreSQL
            oldest = min(committed for *_, committed in batch)
            if self.failed_since is None or oldest < self.failed_since:
                self.failed_since = oldest
            metrics.ENQUEUE_FAILURES.inc(len(batch))
            log.warning("enqueue_deferred", meldingen=len(batch), error=type(exc).__name__)
