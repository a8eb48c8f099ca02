"""Events for a person, as server-sent events: a new offer, an offer's answer time
shortened (its melding's urgency was raised), a reassignment, an escalation.

Published on a Redis channel per user after the change committed, and streamed to the
user's open ``GET /api/v1/me/events``. The payload holds ids, codes, times and a link,
never personal data. Delivery is best effort (a user who is not connected misses it):
clients fetch ``/api/v1/me/assignments`` when they (re)connect, which is the truth.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis
import structlog

from triage.queue.keys import Keys

log = structlog.get_logger(__name__)
#: How often an idle stream sends a comment, so proxies keep it open.
KEEPALIVE_SECONDS = 15.0
#: The last frame of a stream when its process stops: reconnect in a second. Browsers'
#: EventSource reconnects by itself, through the load balancer to an instance that runs.
STOPPING_FRAME = b": this instance is stopping; reconnect\nretry: 1000\n\n"


@dataclass(frozen=True, slots=True)
class Publisher:
    """Publishes events on the users' channels of one deployment (its key prefix)."""

    client: aioredis.Redis
    keys: Keys

    async def publish_many(self, notices: Sequence[tuple[str, str, dict[str, Any]]]) -> None:
        """Several (user, event, data) in one round trip. Best effort: a Redis failure
        loses the events, not the change (clients read their assignments on reconnect)."""
        if not notices:
            return
        pipe = self.client.pipeline(transaction=False)
        for user, event, data in notices:
            pipe.publish(
                self.keys.events(user), orjson.dumps({"event": event, **data}, default=str)
            )
        try:
            await pipe.execute()
        except Exception as exc:
            events = sorted({event for _, event, _ in notices})
            log.warning("event_not_published", event=",".join(events), error=type(exc).__name__)

    async def rosters_changed(self) -> None:
        """Announce a roster change to the workers; if it is lost, they see it within a
        minute (they recompute who is on duty every minute anyway)."""
        try:
            await self.client.publish(self.keys.rosters, b"changed")
        except Exception as exc:
            log.warning("roster_change_not_announced", error=type(exc).__name__)


def encode(message: bytes) -> bytes:
    """One server-sent event from a published message."""
    event = str(orjson.loads(message).get("event", "message"))
    return b"event: " + event.encode() + b"\ndata: " + message + b"\n\n"


async def stream(
    client: aioredis.Redis, keys: Keys, user: str, stopping: asyncio.Event | None = None
) -> AsyncGenerator[bytes, None]:
    """Server-sent event frames for ``user``, with keep-alive comments, until cancelled or
    ``stopping`` is set (this process is stopping): then a last frame asks the client to
    reconnect, which it does to another instance, and the stream ends (within a second:
    the wait for a message is a second at most)."""
    pubsub = client.pubsub()
    await pubsub.subscribe(keys.events(user))
    stopping = stopping or asyncio.Event()
    try:
        yield b": connected\n\n"
        idle = 0.0
        while not stopping.is_set():
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is None:
                idle += 1.0
                if idle >= KEEPALIVE_SECONDS:
                    idle = 0.0
                    yield b": keep-alive\n\n"
                await asyncio.sleep(0)
                continue
            idle = 0.0
            yield encode(message["data"])
        yield STOPPING_FRAME
    finally:
        await pubsub.unsubscribe()
        await pubsub.aclose()  # type: ignore[no-untyped-call]
