"""People's event streams (``GET /api/v1/me/events``) at the scale of a working desk.

Each open stream used to hold one of the process's 64 Redis connections; with more
consoles open than that, the enqueue after an intake's commit, the rate limiter and
every withdrawal found no connection (``MaxConnectionsError``), and a melding waited for
the next reconcile instead of its queue."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
import redis.asyncio as aioredis
import redis.exceptions
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from helpers import TEST_CLOCK, Tokens, free_port, melding_body, next_event
from triage.auth.accounts import add_user
from triage.notify import events
from triage.notify.events import EventHub, Publisher
from triage.observability import metrics
from triage.runtime import Runtime
from triage.vocabulary import UserRole

#: More streams than the process has Redis connections (runtime._REDIS_OPTIONS), fewer
#: than the test client's 100 connections, of which the other requests need one.
STREAMS = 90


async def _open(client: TestClient[Any, Any], token: str) -> ClientResponse:
    stream = await client.get("/api/v1/me/events", headers={"Authorization": f"Bearer {token}"})
    assert stream.status == 200
    assert (await stream.content.readline()).startswith(b": connected")
    return stream


async def test_ninety_open_streams_leave_redis_to_the_intake_and_each_hears_its_own(
    client: TestClient[Any, Any], tokens: Tokens, runtime: Runtime
) -> None:
    names = [f"console-{i}-{uuid.uuid4().hex[:6]}" for i in range(STREAMS)]
    async with runtime.pool.acquire() as conn:
        issued = [
            (await add_user(conn, name, UserRole.specialist, TEST_CLOCK.now(), gebied="oost"))
            for name in names
        ]
    streams = [await _open(client, user.token) for user in issued]
    try:
        failed_before = metrics.ENQUEUE_FAILURES._value.get()
        resp = await client.post("/api/v1/meldingen", json=melding_body(source="cit"),
                                 headers=tokens.user("operator"))  # fmt: skip
        assert resp.status == 201, await resp.text()
        melding = await resp.json()
        queue = runtime.keys.queue(melding["gebied"])
        for _ in range(100):  # the enqueuer sends in the background, within milliseconds
            if await runtime.redis.zscore(queue, melding["melding_id"]) is not None:
                break
            await asyncio.sleep(0.02)
        assert await runtime.redis.zscore(queue, melding["melding_id"]) is not None
        assert metrics.ENQUEUE_FAILURES._value.get() == failed_before

        # Each person hears what is published for them, and only that.
        first, last = names[0], names[-1]
        await runtime.after_commit._publisher.publish_many([
            (first, "offer", {"melding_id": "one"}), (last, "offer", {"melding_id": "two"}),
        ])  # fmt: skip
        assert (await next_event(streams[0]))[1]["melding_id"] == "one"
        assert (await next_event(streams[-1]))[1]["melding_id"] == "two"
        await runtime.after_commit._publisher.publish_many([(names[1], "offer", {"n": 3})])
        assert (await next_event(streams[1]))[1]["n"] == 3
    finally:
        for stream in streams:
            stream.close()


async def test_a_stream_that_falls_behind_is_ended_and_told_to_reconnect(
    runtime: Runtime,
) -> None:
    user = f"slow-{uuid.uuid4().hex[:6]}"
    publisher = Publisher(runtime.redis, runtime.keys)
    async with runtime.events.listen(user) as queue:
        await publisher.publish_many(
            [(user, "offer", {"n": n}) for n in range(EventHub.BACKLOG + 1)]
        )
        for _ in range(250):  # until the last one arrived (all are in order, one by one)
            if queue.qsize() == 1:
                break
            await asyncio.sleep(0.02)
        # It read none of them: what it held was dropped, and the next thing it reads
        # ends it; stream() then sends the frame that asks the client to reconnect (and
        # read its assignments again).
        assert queue.qsize() == 1
        assert queue.get_nowait() is None


async def test_without_redis_a_stream_does_not_start(runtime: Runtime) -> None:
    gone = aioredis.Redis(port=free_port(), socket_connect_timeout=0.5)
    hub = EventHub(gone, runtime.keys)
    frames = events.stream(hub, "nobody")
    with pytest.raises(redis.exceptions.ConnectionError):
        await anext(frames)  # the API answers 503 with Retry-After
    await hub.stop()
    await gone.aclose()
