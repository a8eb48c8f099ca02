"""A dependency that fails: 503 with Retry-After and nothing half-written."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from helpers import TEST_CLOCK, Tokens, count, melding_body
from triage.app import create_app
from triage.clock import FrozenClock
from triage.config import Settings
from triage.queue.keys import forget
from triage.queue.reconcile import reconcile_once, reconcile_queues, run_reconciler
from triage.runtime import Runtime, open_runtime
from triage.vocabulary import Source

Client = TestClient[Any, Any]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens here once the socket closes


@pytest.fixture
async def no_database(settings: Settings, redis_url: str) -> AsyncIterator[Client]:
    dead = f"postgresql://postgres@127.0.0.1:{_closed_port()}/none"
    rt = await open_runtime(settings, dead, redis_url, clock=TEST_CLOCK)
    async with TestClient(TestServer(create_app(rt, background=False))) as test_client:
        yield test_client


@pytest.fixture
async def no_redis(settings: Settings, database_url: str) -> AsyncIterator[tuple[Client, Runtime]]:
    rt = await open_runtime(
        settings, database_url, f"redis://127.0.0.1:{_closed_port()}/0", clock=TEST_CLOCK
    )
    async with TestClient(TestServer(create_app(rt, background=False))) as test_client:
        yield test_client, rt


async def test_database_down_answers_503_with_retry_after(
    no_database: Client, tokens: Tokens, runtime: Runtime
) -> None:
    # The token check needs the database too, so even authentication answers 503, not 401.
    body = melding_body()
    resp = await no_database.post(
        "/api/v1/meldingen", json=body, headers=tokens.client(Source.politie)
    )
    assert resp.status == 503
    assert resp.headers["Retry-After"] == "5"
    assert resp.content_type == "application/problem+json"
    assert (
        await count(
            runtime.pool,
            "SELECT count(*) FROM meldingen WHERE external_id = $1",
            body["external_id"],
        )
        == 0
    )
    ready = await no_database.get("/readyz")
    assert ready.status == 503
    assert (await ready.json())["postgres"] == "unreachable"
    assert (await no_database.get("/healthz")).status == 200
    # A person at the console gets a page that says so, with Retry-After, not JSON.
    page = await no_database.post("/login", data={"username": "x", "password": "y" * 12})
    assert page.status == 503
    assert page.content_type == "text/html"
    assert page.headers["Retry-After"] == "5"
    assert "over 5 seconden opnieuw" in await page.text()


async def test_redis_down_still_stores_and_the_reconciler_queues_it_later(
    no_redis: tuple[Client, Runtime], tokens: Tokens, runtime: Runtime
) -> None:
    client, broken = no_redis
    body = melding_body(address={"woonplaats": "Dongen"})
    resp = await client.post("/api/v1/meldingen", json=body, headers=tokens.client(Source.politie))
    assert resp.status == 201  # PostgreSQL is the system of record; Redis is derived
    melding_id = (await resp.json())["melding_id"]
    await broken.enqueuer.flush()  # the background ZADD failed and was counted
    # Still ready: taken out of the load balancer it would turn away what it can store.
    ready = await client.get("/readyz")
    assert ready.status == 200
    assert await ready.json() == {"status": "degraded", "postgres": "ok", "redis": "unreachable"}
    assert await runtime.redis.zscore(runtime.keys.queue("west"), melding_id) is None
    await reconcile_queues(runtime.pool, runtime.redis, runtime.keys)
    assert await runtime.redis.zscore(runtime.keys.queue("west"), melding_id) is not None


async def test_flushed_redis_is_rebuilt_from_postgres(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    ids = []
    for place in ("Waalwijk", "Drunen", "Oisterwijk"):
        body = melding_body(address={"woonplaats": place})
        resp = await client.post(
            "/api/v1/meldingen", json=body, headers=tokens.client(Source.politie)
        )
        ids.append((await resp.json())["melding_id"])
    await runtime.enqueuer.flush()
    before = {
        k: await runtime.redis.zrange(k, 0, -1, withscores=True)
        for k in await runtime.redis.keys("triage:queue:*")
    }
    await forget(runtime.redis, runtime.keys)
    restored = await reconcile_queues(runtime.pool, runtime.redis, runtime.keys)
    assert restored is not None
    assert restored >= len(ids)
    after = {
        k: await runtime.redis.zrange(k, 0, -1, withscores=True)
        for k in await runtime.redis.keys("triage:queue:*")
    }
    assert after == before  # same members, same priorities
    assert await reconcile_queues(runtime.pool, runtime.redis, runtime.keys) == 0  # idempotent


async def test_reconciler_rounds_cost_what_can_be_missing(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    body = melding_body(address={"woonplaats": "Hulten"})
    resp = await client.post("/api/v1/meldingen", json=body, headers=tokens.client(Source.politie))
    melding_id = (await resp.json())["melding_id"]
    await runtime.enqueuer.flush()
    assert await reconcile_once(runtime.pool, runtime.redis, runtime.keys, since=None) is not None
    await runtime.redis.zrem(runtime.keys.queue("west"), melding_id)
    # Marker present, nothing failed since a minute from now: nothing to repair.
    later = runtime.clock.now() + timedelta(minutes=1)
    assert await reconcile_once(runtime.pool, runtime.redis, runtime.keys, since=later) == 0
    assert await runtime.redis.zscore(runtime.keys.queue("west"), melding_id) is None
    # A failed enqueue reported by this process: the loop repairs from that moment.
    runtime.enqueuer.failed_since = runtime.clock.now() - timedelta(minutes=1)
    loop = asyncio.create_task(
        run_reconciler(
            runtime.pool,
            runtime.redis,
            runtime.keys,
            enqueuer=runtime.enqueuer,
            clock=runtime.clock,
            interval=60,
        )
    )
    for _ in range(50):
        if await runtime.redis.zscore(runtime.keys.queue("west"), melding_id) is not None:
            break
        await asyncio.sleep(0.1)
    loop.cancel()
    assert await runtime.redis.zscore(runtime.keys.queue("west"), melding_id) is not None
    assert runtime.enqueuer.failed_since is None
    # Redis lost everything (no marker): a full rebuild, whatever ``since`` says.
    await forget(runtime.redis, runtime.keys)
    assert await reconcile_once(runtime.pool, runtime.redis, runtime.keys, since=later)
    assert await runtime.redis.zscore(runtime.keys.queue("west"), melding_id) is not None


async def test_the_clock_is_injected(settings: Settings, database_url: str, redis_url: str,
                                     tokens: Tokens) -> None:  # fmt: skip
    """The service keeps time by the clock it is given (tests travel in time with it)."""
    later = FrozenClock(TEST_CLOCK.now() + timedelta(days=3))
    rt = await open_runtime(settings, database_url, redis_url, clock=later)
    async with TestClient(TestServer(create_app(rt, background=False))) as travelled:
        # Two days ahead of the suite's clock, but in the past for the injected one.
        body = melding_body(received_at=(TEST_CLOCK.now() + timedelta(days=2)).isoformat())
        resp = await travelled.post(
            "/api/v1/meldingen", json=body, headers=tokens.client(Source.politie)
        )
        assert resp.status == 201, await resp.text()
        created = await rt.pool.fetchval(
            "SELECT created_at FROM meldingen WHERE external_id = $1", body["external_id"]
        )
    assert created == later.now()
