"""Rate limits, counted in Redis so that every API process shares them.

Two limits, each a fixed window (a counter per key and second, or minute, that expires):

- **Failed token checks per address.** Guessing tokens costs the guesser nothing and
  us a database lookup each: 3,000 random tokens took 1.4 s. After
  ``auth_failures_per_minute`` failures, an address's requests with a token the process
  has not verified recently get 429 with ``Retry-After`` (the rest of the minute) before
  any lookup. Valid tokens in the process's cache cost no Redis call at all.
- **Requests per caller.** An API client (a source system) or a person beyond their
  rate per second gets 429 with ``Retry-After: 1``: a runaway script or a source stuck
  in a loop cannot take the intake from the others. A round trip to Redis on every
  request made the intake's p99 at 1,000/s a third longer, so each process counts in
  memory and adds its counts to Redis every 100 ms, reading back the totals of all
  processes; a request is judged on the last totals plus what this process counted
  since. Across processes a caller can so exceed its rate by what the others take in
  100 ms.

Addresses are personal data and never reach Redis: the key is an HMAC of the address
under the deployment's secret (migration 0018), which Redis does not hold. Redis is
derived state: when it fails, the limits are not applied for a few seconds (fail open)
rather than refusing or slowing every request.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import time
from collections import Counter
from collections.abc import Callable, Collection

import asyncpg
import redis.asyncio as aioredis
import structlog
from aiohttp import web

from triage.auth.principal import Principal
from triage.problems import too_many
from triage.queue.keys import Keys
from triage.tasks import cancel_and_wait

log = structlog.get_logger(__name__)

#: After a Redis error the limits rest this long, so that a Redis that hangs does not
#: add its timeout to every request.
_REST_SECONDS = 5.0
#: How often a process adds its request counts to Redis and reads back the totals.
_FLUSH_SECONDS = 0.1


class Throttle:
    def __init__(
        self,
        redis: aioredis.Redis,
        pool: asyncpg.Pool,
        keys: Keys,
        *,
        failures_per_minute: int,
        client_rate: int,
        user_rate: int,
        trusted_proxies: Collection[str] = (),
        now: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis
        self._pool = pool
        self._keys = keys
        self._failures = failures_per_minute
        self._rates = {"client": client_rate, "user": user_rate}
        self._trusted = frozenset(trusted_proxies)
        self._now = now
        self._secret: bytes | None = None
        self._resting_until = 0.0
        # Requests per caller in the current second: counted here since the last flush,
        # and the totals of every process as of that flush.
        self._second = 0
        self._local: Counter[str] = Counter()
        self._totals: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None

    def address(self, request: web.Request) -> str:
        """The caller's address: the connection's, or, from a trusted proxy, the last
        address its X-Forwarded-For adds (the one it saw; earlier ones the caller wrote)."""
        remote = request.remote or ""
        if remote in self._trusted:
            forwarded = request.headers.get("X-Forwarded-For", "").rsplit(",", 1)[-1].strip()
            try:
                return str(ipaddress.ip_address(forwarded))
            except ValueError:
                return remote
        return remote

    async def refuse_guesser(self, address: str) -> None:
        """429 when ``address`` failed too many token checks this minute."""
        key = await self._failure_key(address)
        if key is None:
            return
        try:
            count = await self._redis.get(key)
        except Exception as exc:  # Redis down: no limit for a while (fail open)
            self._rest(exc)
            return
        if count is not None and int(count) >= self._failures:
            raise too_many("too many failed token checks from this address; wait",
                           60 - int(self._now()) % 60)  # the rest of the minute  # fmt: skip

    async def failed(self, address: str) -> None:
        """Count a failed token check from ``address``."""
        key = await self._failure_key(address)
        if key is None:
            return
        try:
            await self._count(key, expire=120)
        except Exception as exc:
            self._rest(exc)

    def refuse_flood(self, principal: Principal) -> None:
        """429 when ``principal`` made more requests this second than its rate, over every
        process as far as the last flush knows, and in this one since."""
        second = int(self._now())
        if second != self._second:  # a new window: what was unflushed of the last is moot
            self._second, self._local, self._totals = second, Counter(), {}
        who = f"{principal.kind}:{principal.id}"
        self._local[who] += 1
        rate = self._rates[principal.kind]
        if self._totals.get(who, 0) + self._local[who] > rate:
            raise too_many(f"more than {rate} requests per second", 1)

    def start(self) -> None:
        self._task = asyncio.create_task(self._flush_every(_FLUSH_SECONDS), name="throttle")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait([self._task], within=1.0)
            self._task = None

    async def flush(self) -> None:
        """Add this process's counts to Redis and take back the totals of all processes."""
        if not self._local or time.monotonic() < self._resting_until:
            return
        second, counted = self._second, self._local
        self._local = Counter()
        pipe = self._redis.pipeline(transaction=False)
        for who, n in counted.items():
            key = self._keys.throttle(f"rate:{who}:{second}")
            pipe.incrby(key, n)
            pipe.expire(key, 2)
        try:
            answers = await pipe.execute()
        except Exception as exc:  # this process's own counts still hold meanwhile
            self._rest(exc)
            return
        if second == self._second:
            self._totals.update(zip(counted, map(int, answers[::2]), strict=True))

    async def _flush_every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            await self.flush()

    async def _count(self, key: str, *, expire: int) -> int:
        """One more on ``key``'s counter, which expires after its window: how many now."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, expire)
        count, _ = await pipe.execute()
        return int(count)

    async def origin(self, address: str) -> str | None:
        """The keyed digest of ``address`` that Redis and the audit hold instead of it;
        None while the deployment's key cannot be read (PostgreSQL down)."""
        if self._secret is None:
            try:
                self._secret = await self._pool.fetchval("SELECT key FROM deployment_secret")
            except Exception as exc:  # PostgreSQL down: the token check fails anyway
                self._rest(exc)
                return None
        assert self._secret is not None
        return hmac.new(self._secret, address.encode(), hashlib.sha256).hexdigest()[:32]

    async def _failure_key(self, address: str) -> str | None:
        if time.monotonic() < self._resting_until:
            return None
        digest = await self.origin(address)
        if digest is None:
            return None
        return self._keys.throttle(f"authfail:{digest}:{int(self._now()) // 60}")

    def _rest(self, exc: Exception) -> None:
        self._resting_until = time.monotonic() + _REST_SECONDS
        log.warning("throttle_resting", error=type(exc).__name__, seconds=_REST_SECONDS)
