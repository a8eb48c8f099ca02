"""Claiming from a gebied's queue with a lease, atomically (Lua), for any number of workers.

A claim moves the queue's first members (crisis first, then the earliest deadline; as
many as asked, in one round trip) into the gebied's lease set, with the lease's expiry
as their score and their priority kept beside them; the worker then offers the
meldingen in PostgreSQL and releases the leases. A
worker that dies between claim and release leaves its lease to expire: ``requeue_expired``
puts the member back with its priority. A member claimed twice (the reconciler re-added
it meanwhile) is harmless: PostgreSQL's one-active-assignment constraint and the
melding's status decide, and the second worker finds nothing to do.

All keys of a gebied share one Redis Cluster hash tag, so each script touches one shard.
Times are milliseconds from the injectable clock, so tests can travel in time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import redis.asyncio as aioredis

from triage.queue.priority import WAKE_KEY, queue_key

_CLAIM = """
local items = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[3]) - 1, 'WITHSCORES')
local members = {}
for i = 1, #items, 2 do
  redis.call('ZREM', KEYS[1], items[i])
  redis.call('ZADD', KEYS[2], tonumber(ARGV[1]) + tonumber(ARGV[2]), items[i])
  redis.call('HSET', KEYS[3], items[i], items[i + 1])
  members[#members + 1] = items[i]
end
return members
"""

_RELEASE = """
redis.call('ZREM', KEYS[1], unpack(ARGV))
return redis.call('HDEL', KEYS[2], unpack(ARGV))
"""

_REQUEUE_EXPIRED = """
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, 500)
for _, member in ipairs(expired) do
  local score = redis.call('HGET', KEYS[3], member)
  if score then redis.call('ZADD', KEYS[1], 'NX', score, member) end
  redis.call('ZREM', KEYS[2], member)
  redis.call('HDEL', KEYS[3], member)
end
return #expired
"""


def lease_keys(gebied: str) -> tuple[str, str]:
    return f"triage:leases:{{{gebied}}}", f"triage:leased:{{{gebied}}}"


@dataclass(frozen=True, slots=True)
class Claim:
    gebied: str
    melding_id: UUID


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class Claimer:
    """The three scripts, registered once per Redis client."""

    def __init__(self, client: aioredis.Redis, lease_seconds: float) -> None:
        self._client = client
        self._lease_ms = int(lease_seconds * 1000)
        self._claim = client.register_script(_CLAIM)
        self._release = client.register_script(_RELEASE)
        self._requeue = client.register_script(_REQUEUE_EXPIRED)

    async def claim(self, gebied: str, now: datetime, count: int = 1) -> list[Claim]:
        """Up to ``count`` meldingen from the front of the gebied's queue, leased."""
        leases, leased = lease_keys(gebied)
        members = await self._claim(keys=[queue_key(gebied), leases, leased],
                                    args=[_ms(now), self._lease_ms, count])  # fmt: skip
        return [Claim(gebied, UUID(m.decode())) for m in members]

    async def release(self, gebied: str, claims: list[Claim]) -> None:
        """End the leases of ``claims`` (all of ``gebied``)."""
        if claims:
            await self._release(keys=list(lease_keys(gebied)),
                                args=[str(c.melding_id) for c in claims])  # fmt: skip

    async def wait_for_work(self, seconds: float) -> None:
        """Block until an enqueue pushes a wake-up token, or ``seconds`` pass."""
        await self._client.blpop([WAKE_KEY], timeout=seconds)

    async def requeue_expired(self, gebied: str, now: datetime) -> int:
        leases, leased = lease_keys(gebied)
        count = await self._requeue(keys=[queue_key(gebied), leases, leased], args=[_ms(now)])
        return int(count)
