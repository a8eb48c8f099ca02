"""Deliver webhook outbox rows: signed, retried with backoff, dead after the last attempt.

Runs on its own (``triage deliver``), or beside the dispatch worker in each API
process unless TRIAGE_DISPATCH_IN_API is false. Each round leases the due deliveries (SKIP LOCKED:
any number of deliverers, none sends the same delivery at the same time) and POSTs them
side by side. A 2xx is delivered; anything else, a timeout or a refused connection is
tried again after a growing wait (``backoff_seconds`` doubled per attempt up to
``backoff_cap_seconds``, with jitter so that receivers coming back are not hit by every
sender at once; a receiver's ``Retry-After`` is honoured up to the cap); after
``max_attempts`` it is a dead letter. Delivery is at least once: a deliverer that dies
after the receiver answered leaves the delivery to be sent again, with the same
``Triage-Delivery`` id, which receivers use to recognise it.

The request::

    POST <url>
    Content-Type: application/json
    Triage-Event: offer
    Triage-Delivery: <uuid>
    Triage-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the secret>

    {"id": "<uuid>", "event": "offer", "occurred_at": "...", "organisation": "...",
     "data": {"melding_id": "...", "assignment_id": "...", "link": "/api/v1/..."}}

The timestamp is signed with the body, so a receiver rejects both a forged body and an
old delivery played back (docs/design.md shows how to verify).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import random
import time
from dataclasses import dataclass
from datetime import timedelta

import aiohttp
import asyncpg
import orjson
import structlog

from triage.clock import Clock
from triage.notify import webhooks
from triage.observability import metrics
from triage.runtime import Runtime
from triage.store.sql import load_queries
from triage.tasks import stop_if_asked

log = structlog.get_logger(__name__)
_Q = load_queries("triage.notify", "webhooks.sql")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Triage-Signature`` header of ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


@dataclass(frozen=True, slots=True)
class Policy:
    max_attempts: int = 10
    backoff_seconds: float = 30.0
    backoff_cap_seconds: float = 3600.0
    timeout_seconds: float = 10.0

    def wait_after(self, attempts: int, retry_after: float | None) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt."""
        wait = min(self.backoff_seconds * 2.0 ** (attempts - 1), self.backoff_cap_seconds)
        wait *= random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not a secret
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.backoff_cap_seconds))
        return wait


@dataclass(frozen=True, slots=True)
class _Outcome:
    status: int | None
    error: str | None
    retry_after: float | None = None


def _retry_after(value: str | None) -> float | None:
    """A Retry-After given in seconds (the HTTP-date form is not worth its parsing here)."""
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class Deliverer:
    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: Clock,
        policy: Policy,
        *,
        batch: int = 32,
        poll_seconds: float = 0.5,
        housekeeping_seconds: float = 30.0,
        keep_delivered: timedelta = timedelta(days=7),
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._policy = policy
        self._batch = batch
        self._poll_seconds = poll_seconds
        self._housekeeping_seconds = housekeeping_seconds
        self._keep_delivered = keep_delivered
        self._last_housekeeping = 0.0
        self._session: aiohttp.ClientSession | None = None

    async def run(self) -> None:
        try:
            while True:
                try:
                    if time.monotonic() - self._last_housekeeping >= self._housekeeping_seconds:
                        self._last_housekeeping = time.monotonic()
                        await self.housekeeping()
                    if await self.round() < self._batch:
                        await asyncio.sleep(self._poll_seconds)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the database is down: try again shortly
                    stop_if_asked(exc)
                    log.warning("webhook_round_failed", error=type(exc).__name__)
                    await asyncio.sleep(1.0)
        finally:
            await self.close()

    async def __aenter__(self) -> Deliverer:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def round(self) -> int:
        """Send the due deliveries once; how many were attempted."""
        now = self._clock.now()
        lease = self._policy.timeout_seconds + 20.0
        rows = await self._pool.fetch(_Q["claim"], self._batch, now, lease)
        if not rows:
            return 0
        outcomes = await asyncio.gather(*(self._attempt(row) for row in rows),
                                        return_exceptions=True)  # fmt: skip
        # One attempt whose failure could not be recorded (the database) does not lose
        # the round's arrivals; its lease expires and it is tried again.
        arrived = [(row, o) for row, o in zip(rows, outcomes, strict=True)
                   if isinstance(o, _Outcome) and o.error is None]  # fmt: skip
        if arrived:  # one statement for the round's deliveries that arrived
            await self._pool.execute(_Q["delivered"], [row["id"] for row, _ in arrived],
                                     self._clock.now(), [o.status for _, o in arrived])  # fmt: skip
            for row, _ in arrived:
                metrics.WEBHOOK_DELIVERIES.labels(row["organisation"], "delivered").inc()
        return len(rows)

    async def housekeeping(self) -> None:
        """Dead letters per organisation for Prometheus; delivered rows past keeping go."""
        for organisation, dead in (await webhooks.dead_by_organisation(self._pool)).items():
            metrics.WEBHOOK_DEAD_LETTERS.labels(organisation).set(dead)
        await self._pool.execute(_Q["prune"], self._clock.now() - self._keep_delivered)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._policy.timeout_seconds),
                headers={"User-Agent": "triage-webhooks/1"},
            )
        return self._session

    async def _attempt(self, row: asyncpg.Record) -> _Outcome:
        """Send one delivery; a failure is recorded here, arrivals by the round."""
        body = orjson.dumps({
            "id": str(row["id"]), "event": row["event"], "occurred_at": row["created_at"],
            "organisation": row["organisation"], "data": row["payload"],
        })  # fmt: skip
        outcome = await self._post(row, body)
        if outcome.error is None:
            return outcome
        now = self._clock.now()
        organisation = row["organisation"]
        attempts = row["attempts"] + 1
        retry_at = now + timedelta(seconds=self._policy.wait_after(attempts, outcome.retry_after))
        state = await self._pool.fetchval(
            _Q["failed"], row["id"], now, outcome.status, outcome.error,
            self._policy.max_attempts, retry_at,
        )  # fmt: skip
        if state == "dead":
            metrics.WEBHOOK_DELIVERIES.labels(organisation, "dead").inc()
            log.warning("webhook_dead_letter", delivery_id=str(row["id"]), attempts=attempts,
                        webhook_event=row["event"], error=outcome.error)  # fmt: skip
        else:
            metrics.WEBHOOK_DELIVERIES.labels(organisation, "failed").inc()
        return outcome

    async def _post(self, row: asyncpg.Record, body: bytes) -> _Outcome:
        headers = {
            "Content-Type": "application/json",
            "Triage-Event": row["event"],
            "Triage-Delivery": str(row["id"]),
            "Triage-Signature": sign(row["secret"], int(time.time()), body),
        }
        try:
            # Redirects are not followed: a 301/302 would turn the POST into a GET without
            # the body (and a 200 for that would count as delivered), a 307/308 would send
            # the signed body wherever Location says.
            async with self._client().post(row["url"], data=body, headers=headers,
                                           allow_redirects=False) as response:  # fmt: skip
                if 200 <= response.status < 300:
                    return _Outcome(response.status, None)
                if 300 <= response.status < 400:
                    return _Outcome(response.status, f"HTTP {response.status}: redirected; "
                                    "register the webhook's new URL")  # fmt: skip
                # The receiver's body is not kept: it is theirs and may hold anything.
                return _Outcome(response.status, f"HTTP {response.status}",
                                _retry_after(response.headers.get("Retry-After")))  # fmt: skip
        except TimeoutError:
            return _Outcome(None, f"no answer within {self._policy.timeout_seconds:g} s")
        except aiohttp.ClientError as exc:
            return _Outcome(None, f"connection failed: {type(exc).__name__}")
        except Exception as exc:  # counted as a failed attempt, so it ends as a dead letter
            return _Outcome(None, f"failed: {type(exc).__name__}")


def deliverer_for(runtime: Runtime) -> Deliverer:
    """A deliverer on the process's own pool, with the configured retry policy."""
    s = runtime.settings
    return Deliverer(runtime.pool, runtime.clock, Policy(
        max_attempts=s.webhook_max_attempts, backoff_seconds=s.webhook_backoff_seconds,
        backoff_cap_seconds=s.webhook_backoff_cap_seconds,
        timeout_seconds=s.webhook_timeout_seconds,
    ))  # fmt: skip
