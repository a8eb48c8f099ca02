"""Helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import asyncpg
import redis.asyncio as aioredis

from triage.store.migrate import migrate
from triage.vocabulary import Source


class Tokens:
    """Bearer tokens for one API client per source and one user per role."""

    def __init__(self) -> None:
        self.clients: dict[Source, str] = {}
        self.users: dict[str, str] = {}

    def client(self, source: Source) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.clients[source]}"}

    def user(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.users[key]}"}


def melding_body(**overrides: Any) -> dict[str, Any]:
    """A valid melding with a fresh external_id and a dwelling no other test uses."""
    rnd = uuid.uuid4().int
    letters = "ABCDEFGHJKLMNPRTUVWXYZ"  # no S: SA, SD and SS are never issued
    postcode = f"50{rnd % 39 + 11} {letters[rnd // 39 % 22]}{letters[rnd // 858 % 22]}"
    number = rnd // 18876 % 999 + 1
    body: dict[str, Any] = {
        "source": "politie",
        "external_id": f"T-{uuid.uuid4().hex}",
        "received_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "kind": "melding",
        "category": "huiselijk_geweld",
        "signals": ["geweld_nu"],
        "summary": "Testmelding.",
        "address": {"postcode": postcode, "huisnummer": str(number), "woonplaats": "Tilburg"},
        "persons": [{"role": "slachtoffer", "voornaam": "Test", "achternaam": "Persoon"}],
    }
    body.update(overrides)
    return body


async def count(pool: asyncpg.Pool, sql: str, *args: Any) -> int:
    value = await pool.fetchval(sql, *args)
    return int(value)


def fresh_bsn() -> str:
    """A random BSN that passes the elfproef: tests must not meet through a shared BSN."""
    while True:
        digits = [int(d) for d in f"{uuid.uuid4().int % 10**8:08d}"]
        check = sum(d * w for d, w in zip(digits, range(9, 1, -1), strict=True)) % 11
        if check < 10 and any(digits):
            return "".join(map(str, digits)) + str(check)


def redis_db(url: str, number: int) -> str:
    """The same Redis server, database ``number`` (TCP URLs by path, sockets by query)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "unix":
        return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode({"db": number})))
    return urllib.parse.urlunsplit(parts._replace(path=f"/{number}"))


def free_port() -> int:
    """A TCP port nobody listens on now (for a process a test starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def migrated_database(admin_url: str, prefix: str) -> AsyncIterator[str]:
    """A database of its own on the test server, migrated; dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        base, _, query = admin_url.partition("?")  # DSNs here are URLs with a path or ?host=
        url = f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")
        conn = await asyncpg.connect(url)
        await migrate(conn)
        await conn.close()
        yield url
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def until_up(http: aiohttp.ClientSession, url: str) -> None:
    """Wait (up to 30 s) until ``url`` answers 200: a process the test started is up."""
    for _ in range(300):
        try:
            async with http.get(url) as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"{url} did not come up")


@contextlib.asynccontextmanager
async def own_servers(
    servers: dict[str, str], prefix: str, redis_number: int
) -> AsyncIterator[tuple[str, str]]:
    """A migrated database of its own and Redis database ``redis_number``, emptied
    before and after: for a test whose processes must see only its own meldingen.
    Numbers taken: 13 the session's tests, 14 the simulated week, 15 the scrape test,
    10 the PostgreSQL restart test, 11 the worker chaos test; the benchmarks use 12."""
    redis_url = redis_db(servers["redis_url"], redis_number)
    client = aioredis.from_url(redis_url)
    await client.flushdb()
    try:
        async with migrated_database(servers["admin_url"], prefix) as url:
            yield url, redis_url
    finally:
        await client.flushdb()
        await client.aclose()
