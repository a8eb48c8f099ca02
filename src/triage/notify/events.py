"""Events for a person, as server-sent events: a new offer, an offer's answer time
shortened (its melding's urgency was raised), a reassignment, an escalation.

Published on a Redis channel per user after the change committed, and streamed to the
user's open ``GET /api/v1/me/events``. The payload holds ids, codes, times and a link,
never personal data. Delivery is best effort (a user who is not connected misses it):
clients fetch ``/api/v1/me/assignments`` when they (re)connect, which is the truth.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis
import structlog

from triage.queue.enqueue import board_messages
from triage.queue.keys import Keys
from triage.tasks import cancel_and_wait, stop_if_asked

log = structlog.get_logger(__name__)
#: How often an idle stream sends a comment, so proxies keep it open.
KEEPALIVE_SECONDS = 15.0
#: The last frame of a stream when its process stops: reconnect in a second. Browsers'
#: EventSource reconnects by itself, through the load balancer to an instance that runs.
STOPPING_FRAME = b": this instance is stopping; reconnect\nretry: 1000\n\n"
#: The last frame of a stream that fell behind or lost its subscription: reconnect, and
#: read the assignments again for what may have been missed.
INTERRUPTED_FRAME = b": events were interrupted; reconnect\nretry: 1000\n\n"


@dataclass(frozen=True, slots=True)
class Publisher:
    """Publishes events on the users' channels of one deployment (its key prefix)."""

    client: aioredis.Redis
    keys: Keys

    async def publish_many(
        self,
        notices: Sequence[tuple[str, str, dict[str, Any]]],
        changed: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Several (user, event, data) in one round trip, and the (gebied, melding id) of
        ``changed`` on their gebieden's werkvoorraad channels. Best effort: a Redis failure
        loses the events, not the change (clients read their assignments on reconnect)."""
        if not notices and not changed:
            return
        pipe = self.client.pipeline(transaction=False)
        for user, event, data in notices:
            pipe.publish(
                self.keys.events(user), orjson.dumps({"event": event, **data}, default=str)
            )
        for gebied, ids in board_messages(changed).items():  # the open werkvoorraad pages
            pipe.publish(self.keys.board(gebied), ids)
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


class EventHub:
    """Every open event stream of this process on one Redis connection.

    One subscription to the pattern of the deployment's event channels, started with the
    first stream, feeds a queue per open stream. A subscription per stream would take one
    of the process's Redis connections each: with more consoles open than the pool holds,
    the enqueue after an intake's commit, the rate limiter and withdrawals found none.
    Every event of the deployment reaches every API process that has a stream open; they
    are few (offers, answers, escalations) and hold ids only.

    A stream that falls ``BACKLOG`` events behind, or every stream when the subscription
    fails (Redis down), is ended with a frame that asks the client to reconnect: it then
    reads its assignments again, which are the truth.
    """

    #: Events a stream may fall behind before it is ended (its client reconnects).
    BACKLOG = 256

    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self._client = client
        self._keys = keys
        self._queues: dict[str, set[asyncio.Queue[bytes | None]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._subscribed: asyncio.Future[None] | None = None

    @contextlib.asynccontextmanager
    async def listen(
        self, user: str, *, board: Collection[str] = ()
    ) -> AsyncIterator[asyncio.Queue[bytes | None]]:
        """A queue of ``user``'s events (payloads), and those of the werkvoorraad channels
        of the gebieden in ``board``, subscribed when this returns; None in it means the
        stream must end and its client reconnect."""
        await self._subscribe()
        channels = [self._keys.events(user), *(self._keys.board(g) for g in board)]
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(self.BACKLOG)
        for channel in channels:
            self._queues.setdefault(channel, set()).add(queue)
        try:
            yield queue
        finally:
            for channel in channels:
                listeners = self._queues.get(channel, set())
                listeners.discard(queue)
                if not listeners:
                    self._queues.pop(channel, None)

    async def stop(self) -> None:
        if self._reader is not None:
            await cancel_and_wait([self._reader], within=1.0)

    async def _subscribe(self) -> None:
        if self._subscribed is None or (self._reader is not None and self._reader.done()):
            self._subscribed = asyncio.get_running_loop().create_future()
            self._reader = asyncio.create_task(self._read(self._subscribed), name="events")
        await asyncio.shield(self._subscribed)

    async def _read(self, subscribed: asyncio.Future[None]) -> None:
        pubsub = self._client.pubsub()
        try:
            await pubsub.psubscribe(self._keys.events_pattern())
            subscribed.set_result(None)
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is not None:
                    self._deliver(message["channel"].decode(), message["data"])
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # Redis down: the streams end, their clients reconnect
            stop_if_asked(exc)
            if not subscribed.done():
                subscribed.set_exception(exc)
            else:
                log.warning("event_streams_interrupted", error=type(exc).__name__)
            self._end_all()
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _deliver(self, channel: str, data: bytes) -> None:
        for queue in list(self._queues.get(channel, ())):
            try:
                queue.put_nowait(data)
            except asyncio.QueueFull:  # this client does not keep up: it reconnects
                _end(queue)

    def _end_all(self) -> None:
        for listeners in self._queues.values():
            for queue in listeners:
                _end(queue)


def _end(queue: asyncio.Queue[bytes | None]) -> None:
    """Make ``None`` the next thing the stream reads, whatever it had not read yet."""
    while not queue.empty():
        queue.get_nowait()
    queue.put_nowait(None)


async def stream(
    hub: EventHub,
    user: str,
    stopping: asyncio.Event | None = None,
    *,
    board: Collection[str] = (),
) -> AsyncGenerator[bytes, None]:
    """Server-sent event frames for ``user``, with keep-alive comments, until cancelled or
    ``stopping`` is set (this process is stopping): then a last frame asks the client to
    reconnect, which it does to another instance, and the stream ends (within a second:
    the wait for a message is a second at most)."""
    stopping = stopping or asyncio.Event()
    async with hub.listen(user, board=board) as queue:
        yield b": connected\n\n"
        idle = 0.0
        while not stopping.is_set():
            try:
                data = await asyncio.wait_for(queue.get(), timeout=1.0)
            except TimeoutError:
                idle += 1.0
                if idle >= KEEPALIVE_SECONDS:
                    idle = 0.0
                    yield b": keep-alive\n\n"
                continue
            if data is None:
                yield INTERRUPTED_FRAME
                return
            idle = 0.0
            yield encode(data)
        yield STOPPING_FRAME
