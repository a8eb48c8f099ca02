"""Every Redis key and pub/sub channel name of a deployment, under one prefix.

The prefix (``TRIAGE_REDIS_PREFIX``, default ``triage``) keeps deployments, and test
runs, that share a Redis server apart: database numbers would not do, since pub/sub
ignores them and a Redis Cluster has only database 0. A gebied's keys carry it as a
Redis Cluster hash tag (the braces), so each script touches one shard. Keys and
channels hold ids and digests only, never personal data.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import redis.asyncio as aioredis

#: Letters, digits and ``._-``: no ``:`` (the separator), braces (hash tags) or glob
#: characters (``forget`` matches on the prefix).
PREFIX_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = "triage"

    def __post_init__(self) -> None:
        if not re.match(PREFIX_PATTERN, self.prefix):
            raise ValueError(
                f"Redis prefix {self.prefix!r}: use 1-64 letters, digits, '.', '_' or '-'"
            )

    def queue(self, gebied: str) -> str:
        """The gebied's priority queue (sorted set of melding ids)."""
        return f"{self.prefix}:queue:{{{gebied}}}"

    def leases(self, gebied: str) -> tuple[str, str]:
        """The gebied's leases (id -> expiry) and the leased ids' priorities."""
        return f"{self.prefix}:leases:{{{gebied}}}", f"{self.prefix}:leased:{{{gebied}}}"

    @property
    def wake(self) -> str:
        """A list that wakes idle dispatch workers (queue/claim.py)."""
        return f"{self.prefix}:wake"

    @property
    def rebuilt(self) -> str:
        """Set when the queues were last rebuilt; its absence means Redis lost its data."""
        return f"{self.prefix}:queues-rebuilt"

    @property
    def rosters(self) -> str:
        """The channel on which a roster change made through the API is announced: the
        workers recompute who is on duty at once."""
        return f"{self.prefix}:rosters"

    def throttle(self, what: str) -> str:
        """A rate limiter's counter (auth/throttle.py): ``what`` is an id or a keyed
        digest, never an address or a name."""
        return f"{self.prefix}:throttle:{what}"

    def events(self, user: str) -> str:
        """A user's event channel, named by a digest: Redis holds no usernames."""
        return f"{self.prefix}:events:{hashlib.sha256(user.encode()).hexdigest()[:32]}"

    def board(self, gebied: str) -> str:
        """The channel on which every change to a waiting melding of ``gebied`` is
        announced (ids only), for the werkvoorraad pages that are open. Under the events
        pattern, so one subscription per process carries it; no user's channel (32 hex
        digits) is named so."""
        return f"{self.prefix}:events:werkvoorraad:{gebied}"

    def events_pattern(self) -> str:
        """Every user's event channel of this deployment, as a PSUBSCRIBE pattern. The
        prefix has no glob characters nor ':' (checked above): it matches no other
        deployment's channels."""
        return f"{self.prefix}:events:*"


async def forget(client: aioredis.Redis, keys: Keys) -> int:
    """Delete every key under ``keys``' prefix (and nothing else on the server): what
    a Redis restart does to one deployment. For tests and drills; how many went."""
    gone = 0
    batch: list[bytes] = []
    async for key in client.scan_iter(match=f"{keys.prefix}:*", count=1000):
        batch.append(key)
        if len(batch) == 1000:
            gone += await client.delete(*batch)
            batch = []
    if batch:
        gone += await client.delete(*batch)
    return gone
