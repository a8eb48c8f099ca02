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

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from triage.queue.keys import Keys

_CLAIM = """
local items = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[3]) - 1, 'WITHSCORES')
local members = {}
for i = 1, #items, 2 do
  -- Leased before it leaves the queue: a write refused half-way (out of memory) leaves
  -- the member queued, never in neither place.
  redis.call('ZADD', KEYS[2], tonumber(ARGV[1]) + tonumber(ARGV[2]), items[i])
  redis.call('HSET', KEYS[3], items[i], items[i + 1])
  redis.call('ZREM', KEYS[1], items[i])
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


#: Calls of one script: (keys, args) each.
_Calls = Sequence[tuple[list[str], list[Any]]]


@dataclass(frozen=True, slots=True)
class Claim:
    gebied: str
    melding_id: UUID


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class Claimer:
    """The three scripts, run by digest, each for any number of gebieden at once."""

    def __init__(self, client: aioredis.Redis, keys: Keys, lease_seconds: float) -> None:
        self._client = client
        self._keys = keys
        self._lease_ms = int(lease_seconds * 1000)
        self._claim = client.register_script(_CLAIM)
        self._release = client.register_script(_RELEASE)
        self._requeue = client.register_script(_REQUEUE_EXPIRED)

    async def claim(self, gebieden: Sequence[str], now: datetime, count: int = 1) -> list[Claim]:
        """Up to ``count`` meldingen from the front of each gebied's queue, leased."""
        calls = [([self._keys.queue(g), *self._keys.leases(g)], [_ms(now), self._lease_ms,
                 count]) for g in gebieden]  # fmt: skip
        found = await self._run(self._claim, calls)
        return [Claim(g, UUID(m.decode())) for g, members in zip(gebieden, found, strict=True)
                for m in members]  # fmt: skip

    async def release(self, claims: Sequence[Claim]) -> None:
        """End the leases of ``claims``."""
        by_gebied: dict[str, list[str]] = {}
        for claim in claims:
            by_gebied.setdefault(claim.gebied, []).append(str(claim.melding_id))
        calls = [(list(self._keys.leases(g)), ids) for g, ids in by_gebied.items()]
        await self._run(self._release, calls)

    async def wait_for_work(self, seconds: float) -> None:
        """Block until an enqueue pushes a wake-up token, or ``seconds`` pass."""
        await self._client.blpop([self._keys.wake], timeout=seconds)

    async def requeue_expired(self, gebieden: Sequence[str], now: datetime) -> int:
        calls = [([self._keys.queue(g), *self._keys.leases(g)], [_ms(now)]) for g in gebieden]
        return sum(int(n) for n in await self._run(self._requeue, calls))

    async def _run(self, script: AsyncScript, calls: _Calls) -> list[Any]:
        """``script`` once per (keys, args), all in one round trip (a pipeline; each call
        still touches one gebied's keys, so this holds on a Redis Cluster too). Called by
        digest; the calls that found the script gone (a Redis restart) are run again
        after loading it, and only those: the others' results stand."""
        if not calls:
            return []
        results = await self._pipeline(script, calls)
        missing = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
        if missing:
            await self._client.script_load(script.script)
            again = await self._pipeline(script, [calls[i] for i in missing])
            for i, result in zip(missing, again, strict=True):
                results[i] = result
        for result in results:
            if isinstance(result, Exception):
                raise result
        return results

    async def _pipeline(self, script: AsyncScript, calls: _Calls) -> list[Any]:
        pipe = self._client.pipeline(transaction=False)
        for keys, args in calls:
            pipe.evalsha(script.sha, len(keys), *keys, *args)
        return list(await pipe.execute(raise_on_error=False))
