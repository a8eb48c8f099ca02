"""Bearer tokens: a verified one is cached for a while; when its entry runs out, the
requests that carry it meanwhile share one lookup (a source sending a thousand meldingen
a second sent as many lookups at that moment, and took the intake's connections)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

from helpers import TEST_CLOCK, Tokens
from triage.auth.accounts import add_user, disable_user
from triage.auth.tokens import TokenAuthenticator, new_token
from triage.runtime import Runtime
from triage.vocabulary import Source, UserRole


class _CountingPool:
    """The real pool, counting the lookups made through it. A spy, not a fake: every
    query still runs on PostgreSQL; only the count is added."""

    def __init__(self, runtime: Runtime) -> None:
        self._pool = runtime.pool
        self.lookups = 0

    async def fetchrow(self, *args: Any) -> Any:
        self.lookups += 1
        return await self._pool.fetchrow(*args)


async def test_requests_carrying_one_token_at_once_share_one_lookup(
    runtime: Runtime, tokens: Tokens
) -> None:
    token = tokens.clients[Source.politie]  # a source system's: cached
    pool = _CountingPool(runtime)
    auth = TokenAuthenticator(pool, cache_seconds=30, clock=TEST_CLOCK)  # type: ignore[arg-type]
    assert auth.cached(token) is None
    first = asyncio.ensure_future(auth.authenticate(token))
    await asyncio.sleep(0)
    assert auth.looking_up(token)  # the API skips the guesser check for those that join
    principals = await asyncio.gather(first, *(auth.authenticate(token) for _ in range(200)))
    assert pool.lookups == 1
    assert len(set(principals)) == 1
    assert principals[0] is not None
    assert not auth.looking_up(token)
    assert auth.cached(token) == principals[0]

    # An unknown token: one lookup too, and every caller is told it is not valid.
    unknown = new_token()
    answers = await asyncio.gather(*(auth.authenticate(unknown) for _ in range(50)))
    assert answers == [None] * 50
    assert pool.lookups == 2


async def test_a_caller_going_away_does_not_take_the_lookup_from_the_others(
    runtime: Runtime, tokens: Tokens
) -> None:
    pool = _CountingPool(runtime)
    auth = TokenAuthenticator(pool, cache_seconds=30, clock=TEST_CLOCK)  # type: ignore[arg-type]
    token = tokens.users["cit"]
    leaving = asyncio.ensure_future(auth.authenticate(token))
    staying = asyncio.ensure_future(auth.authenticate(token))
    await asyncio.sleep(0)
    leaving.cancel()  # its client hung up
    principal = await staying
    assert principal is not None
    assert principal.role == "cit"
    assert pool.lookups == 1


async def test_a_persons_token_dies_the_moment_they_are_disabled_or_it_expires(
    runtime: Runtime,
) -> None:
    """Not cached, unlike a source system's: no 30 s in which a disabled person's token
    still reads case files."""
    auth = TokenAuthenticator(runtime.pool, cache_seconds=30, clock=TEST_CLOCK)
    now = TEST_CLOCK.now()
    async with runtime.pool.acquire() as conn:
        leaving = await add_user(conn, f"leaving-{uuid.uuid4().hex[:6]}", UserRole.operator, now)
        short = await add_user(conn, f"short-{uuid.uuid4().hex[:6]}", UserRole.operator, now,
                               valid_for=timedelta(days=2))  # fmt: skip
    assert short.expires_at == now + timedelta(days=2)
    assert await auth.authenticate(leaving.token) is not None
    assert auth.cached(leaving.token) is None
    async with runtime.pool.acquire() as conn:
        await disable_user(conn, leaving.name, now)
    assert await auth.authenticate(leaving.token) is None

    assert await auth.authenticate(short.token) is not None
    with TEST_CLOCK.at(now + timedelta(days=2, seconds=1)):
        assert await auth.authenticate(short.token) is None
