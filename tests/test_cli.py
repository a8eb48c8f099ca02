"""The command line, run as a user runs it: a separate process against the real database."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import asyncpg

from triage.auth.tokens import hash_token


def triage(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRIAGE_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "triage", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


async def test_clients_add_prints_a_token_that_is_stored_only_as_a_hash(database_url: str) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    result = triage(database_url, "clients", "add", name, "--source", "wijkteam")
    assert result.returncode == 0, result.stderr
    token = result.stdout.split("token (shown once, store it now): ")[1].strip()
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(
            "SELECT source, token_hash FROM api_clients WHERE name = $1", name
        )
        assert row["source"] == "wijkteam"
        assert row["token_hash"] == hash_token(token)
        again = triage(database_url, "clients", "add", name, "--source", "wijkteam")
        assert again.returncode == 2
        assert "clients rotate" in again.stderr
        assert triage(database_url, "clients", "disable", name).returncode == 0
        assert await conn.fetchval("SELECT disabled_at FROM api_clients WHERE name = $1", name)
    finally:
        await conn.close()


def test_users_add_requires_a_gebied_for_specialists(database_url: str) -> None:
    result = triage(
        database_url, "users", "add", f"u-{uuid.uuid4().hex[:8]}", "--role", "specialist"
    )
    assert result.returncode == 2
    assert "--gebied" in result.stderr
    ok = triage(database_url, "users", "add", f"u-{uuid.uuid4().hex[:8]}", "--role", "specialist",
                "--gebied", "oost")  # fmt: skip
    assert ok.returncode == 0, ok.stderr


def test_migrate_twice_is_a_no_op(database_url: str) -> None:
    result = triage(database_url, "migrate")
    assert result.returncode == 0, result.stderr
    assert "applied 0 migration(s)" in result.stdout
