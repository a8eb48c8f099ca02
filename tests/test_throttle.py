"""Rate limits in Redis, shared by every API process: token guessing from one address is
refused before it costs a database lookup, and one caller cannot flood the rest. Tried
as an attacker would, with the limits low so that a test reaches them."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from helpers import TEST_CLOCK, Tokens, own_runtime
from triage.app import create_app
from triage.auth.accounts import add_client
from triage.auth.principal import Principal
from triage.auth.throttle import Throttle
from triage.config import Settings
from triage.problems import Problem
from triage.queue.keys import Keys, forget
from triage.runtime import Runtime
from triage.vocabulary import Source

Client = TestClient[Any, Any]
SIGNALS = "/api/v1/vocabulary/signals"


@pytest.fixture
async def limited(
    settings: Settings, database_url: str, redis_url: str
) -> AsyncIterator[tuple[Client, Runtime]]:
    low = settings.model_copy(update={
        "auth_failures_per_minute": 5, "client_requests_per_second": 10,
        "user_requests_per_second": 10, "trusted_proxies": ["127.0.0.1"],
    })  # fmt: skip
    async with own_runtime(low, database_url, redis_url, "throttle", TEST_CLOCK) as runtime:
        app = create_app(runtime, background=False)
        app.cleanup_ctx.clear()  # own_runtime closes the runtime
        async with TestClient(TestServer(app)) as client:
            yield client, runtime


async def test_guessing_tokens_is_refused_before_the_lookup(
    limited: tuple[Client, Runtime], tokens: Tokens
) -> None:
    client, runtime = limited
    guesser = {"X-Forwarded-For": "203.0.113.7"}
    statuses: Counter[int] = Counter()
    for i in range(30):
        guess = {**guesser, "Authorization": f"Bearer trg_guess{i}"}
        resp = await client.get(SIGNALS, headers=guess)
        statuses[resp.status] += 1
        if resp.status == 429:
            assert 1 <= int(resp.headers["Retry-After"]) <= 60
    assert statuses == {401: 5, 429: 25}
    # Even a valid token from that address waits (it has not been verified here lately);
    # another address is not held up.
    valid = tokens.user("operator")["Authorization"]
    held = await client.get(SIGNALS, headers={**guesser, "Authorization": valid})
    assert held.status == 429
    other = await client.get(SIGNALS, headers={"X-Forwarded-For": "198.51.100.2",
                                               "Authorization": valid})  # fmt: skip
    assert other.status == 200
    # Redis holds no address: the counter is keyed by a digest under the deployment's key.
    keys = [k.decode() async for k in runtime.redis.scan_iter(match=f"{runtime.keys.prefix}:*")]
    assert keys
    assert not [k for k in keys if "203.0.113" in k or "198.51.100" in k]


async def test_a_caller_beyond_its_rate_gets_429_and_others_go_on(
    limited: tuple[Client, Runtime], tokens: Tokens
) -> None:
    client, runtime = limited
    async with runtime.pool.acquire() as conn:
        flood = (await add_client(conn, "flooding-source", Source.wijkteam, TEST_CLOCK.now())).token
    headers = {"Authorization": f"Bearer {flood}"}
    answers = await asyncio.gather(*(client.get(SIGNALS, headers=headers) for _ in range(40)))
    statuses = Counter(r.status for r in answers)
    refused = [r for r in answers if r.status == 429]
    assert 10 <= statuses[200] <= 20, statuses  # the second may turn over once
    assert refused
    assert {r.headers["Retry-After"] for r in refused} == {"1"}
    assert (await refused[0].json())["type"].endswith("/too-many-requests")
    other = await client.get(SIGNALS, headers=tokens.user("operator"))
    assert other.status == 200


async def test_the_counts_of_every_process_add_up(runtime: Runtime) -> None:
    """Two processes' throttles on one Redis: each judges on the totals of both as of the
    last flush, plus its own since (the clock is fixed: one second's window)."""
    keys = Keys(f"{runtime.keys.prefix}-flood")
    second = 2_000_000_000.25

    def throttle() -> Throttle:
        return Throttle(runtime.redis, runtime.pool, keys, failures_per_minute=5,
                        client_rate=10, user_rate=10, now=lambda: second)  # fmt: skip

    one, two = throttle(), throttle()
    caller = Principal(kind="client", id=uuid.uuid4(), name="loop", role="client",
                       source=Source.wijkteam)  # fmt: skip
    try:
        for _ in range(8):
            one.refuse_flood(caller)
        await one.flush()
        two.refuse_flood(caller)
        two.refuse_flood(caller)  # 10 in all: still within the rate
        await two.flush()
        with pytest.raises(Problem) as refused:
            two.refuse_flood(caller)
        assert (refused.value.status, refused.value.headers) == (429, {"Retry-After": "1"})
        await one.flush()  # one has nothing new: it does not call Redis
        one.refuse_flood(caller)  # its totals are old (8): it lets one more through...
        await one.flush()
        with pytest.raises(Problem):  # ...and then knows better
            one.refuse_flood(caller)
    finally:
        await forget(runtime.redis, keys)


async def test_a_process_adds_its_counts_to_redis_by_itself(
    limited: tuple[Client, Runtime], tokens: Tokens
) -> None:
    """The runtime's throttle flushes on its own, every 100 ms: other processes see what
    this one let through."""
    client, runtime = limited
    async with runtime.pool.acquire() as conn:
        issued = await add_client(conn, "counted-source", Source.ggz, TEST_CLOCK.now())
    for _ in range(3):
        resp = await client.get(SIGNALS, headers={"Authorization": f"Bearer {issued.token}"})
        assert resp.status == 200
    pattern = runtime.keys.throttle(f"rate:client:{issued.id}:*")
    counted: list[int] = []
    # Up to 2 s: a flush every 100 ms. One may come between the second request and the
    # third (they are counted as they come in), and take two; the next takes the third.
    for _ in range(20):
        await asyncio.sleep(0.1)
        counted = [
            int(await runtime.redis.get(k)) async for k in runtime.redis.scan_iter(match=pattern)
        ]
        if sum(counted) >= 3:
            break
    assert sum(counted) == 3
