"""The OpenAPI document says what the service does. Schemathesis generates requests from it
(the documented examples, boundary values, and random data; valid and invalid) and runs
all of its checks against the real service in a process of its own, on PostgreSQL and
Redis: no 500, only documented statuses, content types and headers, answers that match
their schemas, every valid request accepted and every invalid one refused. Once as a
source system's API client with its token, once as staff (a desk operator) in the
session that logging in with a password gives.

The intake's relative and arithmetic rules, which JSON Schema cannot state, are applied to
the bodies it generates as valid (tests/schema_hooks.py), so that those reach the
database: the run as a source must store at least 100 of them. The number of examples
per operation is bounded for ``make test``; ``TRIAGE_SCHEMA_EXAMPLES`` raises it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import aiohttp
import asyncpg
import pytest

from helpers import free_port, own_servers, until_up
from triage.auth.accounts import add_client, add_user
from triage.auth.sessions import COOKIE
from triage.vocabulary import Source, UserRole

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = int(os.environ.get("TRIAGE_SCHEMA_EXAMPLES", "100"))
#: Fixed, so that a run in CI is the run that passed here; another by the variable.
SEED = os.environ.get("TRIAGE_SCHEMA_SEED", "20261127")
STAFF_PASSWORD = "een zin voor het schema"


class Service(NamedTuple):
    url: str
    database_url: str
    client_token: str
    staff_session: str


def _serve(env: dict[str, str], logs: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "triage", "serve"], cwd=REPO, env=env,
        stdout=(logs / "stdout").open("wb"), stderr=(logs / "stderr").open("wb"),
    )  # fmt: skip


@pytest.fixture(scope="module")
async def service(servers: dict[str, str], tmp_path_factory: pytest.TempPathFactory
                  ) -> AsyncIterator[Service]:  # fmt: skip
    logs = tmp_path_factory.mktemp("schema")
    async with own_servers(servers, "triage_schema") as own:
        conn = await asyncpg.connect(own.database_url)
        now = datetime.now(UTC)  # the service runs on the real clock
        client = await add_client(conn, "schema-politie", Source.politie, now)
        await add_user(conn, "schema-desk", UserRole.operator, now, password=STAFF_PASSWORD)
        await conn.close()
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
        env.update(own.env(), TRIAGE_PORT=str(port), TRIAGE_DATA_DIR=str(logs),
                   TRIAGE_CLIENT_REQUESTS_PER_SECOND="100000",
                   TRIAGE_USER_REQUESTS_PER_SECOND="100000",
                   # Its logins fail by the hundred from one address (tests/test_sessions.py
                   # checks that limit).
                   TRIAGE_AUTH_FAILURES_PER_MINUTE="1000000")  # fmt: skip
        serve = _serve(env, logs)
        try:
            url = f"http://127.0.0.1:{port}"
            async with aiohttp.ClientSession() as http:
                await until_up(http, f"{url}/readyz")
                form = {"username": "schema-desk", "password": STAFF_PASSWORD}
                async with http.post(f"{url}/auth/login", data=form) as resp:
                    assert resp.status == 200, await resp.text()
                    session = resp.cookies[COOKIE].value
            yield Service(url, own.database_url, client.token, session)
        finally:
            serve.terminate()
            try:
                serve.wait(timeout=10)
            except subprocess.TimeoutExpired:  # say so, and leave nothing running
                serve.kill()
                serve.wait()
                raise AssertionError(f"triage serve did not stop on SIGTERM; see {logs}") from None


async def _schemathesis(
    service: Service, credentials: str, examples: int, *select: str, **env: str
) -> tuple[int, str]:
    """One run of Schemathesis's command line with every check, sending ``credentials``
    (a header) with each request; its exit code and report."""
    command = [
        str(Path(sys.executable).with_name("st")),
        "--config-file", str(REPO / "tests" / "schemathesis.toml"),
        "run", f"{service.url}/api/openapi.json",
        "--checks", "all", "--phases", "examples,coverage,fuzzing",
        "--max-examples", str(examples), "--seed", SEED, "--workers", "2",
        "-H", credentials, "--no-color", *select,
    ]  # fmt: skip
    run_env = {**os.environ, "SCHEMATHESIS_HOOKS": "schema_hooks",
               "PYTHONPATH": str(REPO / "tests"), **env}  # fmt: skip
    with tempfile.TemporaryDirectory() as scratch:  # it keeps a cache where it runs
        done = await asyncio.to_thread(
            subprocess.run, command, env=run_env, cwd=scratch, capture_output=True,
            text=True, timeout=900,
        )  # fmt: skip
    report = done.stdout + done.stderr
    return done.returncode, report


async def test_the_schema_holds_for_a_source_system(service: Service) -> None:
    # Its own operations: every other one refuses it before reading anything, which
    # tests/test_authorisation.py checks for every operation and caller.
    code, report = await _schemathesis(
        service, f"Authorization: Bearer {service.client_token}", EXAMPLES,
        "--include-path-regex", "^/api/v1/meldingen",
        TRIAGE_SCHEMA_SOURCE=Source.politie.value,
    )  # fmt: skip
    assert code == 0, report[-20000:]
    conn = await asyncpg.connect(service.database_url)
    try:
        stored = await conn.fetchval("SELECT count(*) FROM meldingen")
    finally:
        await conn.close()
    assert stored >= 100, f"only {stored} generated intake bodies were stored"
    print(f"as a source: {_summary(report)}; {stored} intake bodies stored")  # pytest -s


async def test_the_schema_holds_for_staff_in_a_session(service: Service) -> None:
    # Every operation but logout, which would end the session the run works in
    # (tests/test_sessions.py tests it).
    code, report = await _schemathesis(
        service, f"Cookie: {COOKIE}={service.staff_session}", EXAMPLES * 2 // 5,
        "--exclude-path", "/auth/logout",
    )  # fmt: skip
    assert code == 0, report[-20000:]
    print(f"as the desk: {_summary(report)}")  # pytest -s


def _summary(report: str) -> str:
    """Schemathesis's count of test cases ("2007 generated, 2007 passed, 20 skipped")."""
    lines = report.splitlines()
    found = [lines[i + 1].strip() for i, line in enumerate(lines[:-1]) if line == "Test cases:"]
    return found[-1] if found else "no count in the report"
