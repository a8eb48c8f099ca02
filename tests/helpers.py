"""Helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import urllib.parse
import uuid
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

import aiohttp
import asyncpg
import pytest
import redis.asyncio as aioredis

from triage.clock import Clock, ShiftedClock
from triage.config import Settings
from triage.queue.keys import Keys, forget
from triage.runtime import Runtime, open_runtime
from triage.store.migrate import migrate
from triage.store.roles import with_user
from triage.vocabulary import Source

#: The session's clock: the system's, shifted by ``TRIAGE_TEST_CLOCK_SHIFT_DAYS`` (CI runs
#: the suite a year ahead too: nothing may depend on today's date). The session's runtime
#: runs on it, and so do the bodies the tests build. Processes a test starts run on the
#: real clock: what they are sent is dated ``real_now()``.
TEST_CLOCK = ShiftedClock(
    timedelta(days=float(os.environ.get("TRIAGE_TEST_CLOCK_SHIFT_DAYS", "0")))
)


def real_now() -> datetime:
    """The system's time, for what a test sends to a process it started."""
    return datetime.now(UTC)


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
    """A valid melding with a fresh external_id, and a dwelling and a household name no
    other test uses: a shared name in the same four-digit postcode (there are 39 here) can
    reach the review threshold, and a test expecting a new case then fails now and then."""
    rnd = uuid.uuid4().int
    letters = "ABCDEFGHJKLMNPRTUVWXYZ"  # no S: SA, SD and SS are never issued
    postcode = f"50{rnd % 39 + 11} {letters[rnd // 39 % 22]}{letters[rnd // 858 % 22]}"
    number = rnd // 18876 % 999 + 1
    body: dict[str, Any] = {
        "source": "politie",
        "external_id": f"T-{uuid.uuid4().hex}",
        "received_at": TEST_CLOCK.now().replace(microsecond=0).isoformat(),
        "kind": "melding",
        "category": "huiselijk_geweld",
        "signals": ["geweld_nu"],
        "summary": "Testmelding.",
        "address": {"postcode": postcode, "huisnummer": str(number), "woonplaats": "Tilburg"},
        "persons": [{"role": "slachtoffer", "voornaam": "Test", "achternaam": household_name()}],
    }
    body.update(overrides)
    return body


async def count(pool: asyncpg.Pool, sql: str, *args: Any) -> int:
    value = await pool.fetchval(sql, *args)
    return int(value)


def household_name() -> str:
    """A surname no other test uses and like none of theirs: households must not meet
    across tests. Random letters throughout: names sharing a prefix ("Test...") look
    alike to recognition (Jaro-Winkler weighs a common start)."""
    rnd = uuid.uuid4().int
    letters = "bcdfghjklmnpqrstvwxz"
    vowels = "aeiou"
    name = "".join(
        (letters if i % 2 == 0 else vowels)[rnd // 20**i % (20 if i % 2 == 0 else 5)]
        for i in range(10)
    )
    return name.capitalize()


def born_of(name: str) -> str:
    """A birth date of its own for the household ``name`` (ISO): people of different test
    households must not share a first name and birth date either (recognition looks
    people up by the first name's sound with the birth date)."""
    # Born 1960-1999: an adult, never 75 or older, whatever the test clock (scoring
    # weighs children and the elderly: tests comparing urgencies must not meet that).
    day = date(1960, 1, 1) + timedelta(days=zlib.crc32(name.encode()) % 14600)
    return day.isoformat()


def day_mistyped(iso: str) -> str:
    """The date (ISO) with one digit of its day typed wrong, still a date: the last
    digit, or for the 30th of a 30-day month (no 31st to make) the first."""
    for position in (-1, -2):
        for digit in "1234567890":
            typed = iso[:position] + digit + (iso[position + 1 :] if position == -2 else "")
            if typed != iso:
                with contextlib.suppress(ValueError):
                    return date.fromisoformat(typed).isoformat()
    raise AssertionError(f"no date one digit off {iso}")


def fresh_bsn() -> str:
    """A random BSN that passes the elfproef: tests must not meet through a shared BSN."""
    while True:
        digits = [int(d) for d in f"{uuid.uuid4().int % 10**8:08d}"]
        check = sum(d * w for d, w in zip(digits, range(9, 1, -1), strict=True)) % 11
        if check < 10 and any(digits):
            return "".join(map(str, digits)) + str(check)


def free_port() -> int:
    """A TCP port nobody listens on now (for a process a test starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def migrated_database(admin_url: str, prefix: str) -> AsyncIterator[str]:
    """A database of its own on the test server, migrated by its owner (the server's
    admin), and a role of its own for the service, as in a deployment: the URL given is
    the service's. Both dropped afterwards; ``owner_url`` gives the owner's."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    role = f"{name}_service"
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.execute(f'CREATE ROLE "{role}" LOGIN')
        base, _, query = admin_url.partition("?")  # DSNs here are URLs with a path or ?host=
        url = f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")
        conn = await asyncpg.connect(url)
        await migrate(conn, service_role=role)
        await conn.close()
        yield with_user(url, role)
    finally:  # a failing test leaves neither behind
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        await admin.close()


def owner_url(service_url: str, admin_url: str) -> str:
    """A test database's URL as its owner (the server's admin), from the service's."""
    admin = urllib.parse.urlsplit(admin_url)
    return urllib.parse.urlunsplit(urllib.parse.urlsplit(service_url)._replace(netloc=admin.netloc))


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


class OwnServers(NamedTuple):
    database_url: str  # the service's role
    migration_database_url: str  # the schema's owner
    redis_url: str
    redis_prefix: str

    def env(self) -> dict[str, str]:
        """The settings that point a process started by the test at them."""
        return {"TRIAGE_DATABASE_URL": self.database_url,
                "TRIAGE_MIGRATION_DATABASE_URL": self.migration_database_url,
                "TRIAGE_REDIS_URL": self.redis_url,
                "TRIAGE_REDIS_PREFIX": self.redis_prefix}  # fmt: skip


@contextlib.asynccontextmanager
async def own_servers(servers: dict[str, str], name: str) -> AsyncIterator[OwnServers]:
    """A migrated database of its own and a Redis key prefix of its own (its keys
    deleted afterwards): for a test whose processes must see only its own meldingen."""
    prefix = f"{servers['redis_prefix']}-{name}"
    client = aioredis.from_url(servers["redis_url"])
    try:
        async with migrated_database(servers["admin_url"], name) as url:
            owner = owner_url(url, servers["admin_url"])
            yield OwnServers(url, owner, servers["redis_url"], prefix)
    finally:
        await forget(client, Keys(prefix))
        await client.aclose()


@contextlib.asynccontextmanager
async def own_runtime(
    settings: Settings, database_url: str, redis_url: str, name: str, clock: Clock | None = None
) -> AsyncIterator[Runtime]:
    """A runtime on a Redis key prefix of its own (its keys deleted afterwards): its
    worker or reconciler sees only what the test queued there."""
    own = settings.model_copy(update={"redis_prefix": f"{settings.redis_prefix}-{name}"})
    runtime = await open_runtime(own, database_url, redis_url, clock=clock or TEST_CLOCK)
    try:
        yield runtime
    finally:
        await forget(runtime.redis, runtime.keys)
        await runtime.close()


async def next_event(stream: aiohttp.ClientResponse) -> tuple[str, dict[str, Any]]:
    """The next server-sent event of an open ``/me/events`` stream: (event, data)."""
    event = ""
    while True:
        line = (await asyncio.wait_for(stream.content.readline(), timeout=5)).decode()
        if line.startswith("event: "):
            event = line.removeprefix("event: ").strip()
        elif line.startswith("data: "):
            data: dict[str, Any] = json.loads(line.removeprefix("data: "))
            return event, data


#: Debian's Chromium, which the browser tests drive through Playwright (its own browser
#: download is not reachable here).
CHROMIUM = os.environ.get("TRIAGE_TEST_CHROMIUM", "/usr/bin/chromium")
#: Chromium flags for this machine's closed network (no background calls home).
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def need_chromium() -> None:
    """Skip the calling test module without Chromium; in CI, which installs it
    (.ci/run), its absence is a failure."""
    if shutil.which(CHROMIUM) or os.path.exists(CHROMIUM):
        return
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install -y chromium")
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)",
                allow_module_level=True)  # fmt: skip
