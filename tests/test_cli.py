"""The command line, run as a user runs it: a separate process against the real database."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import asyncpg

from helpers import migrated_database, owner_url
from triage.auth.tokens import hash_token


def triage(
    database_url: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRIAGE_DATABASE_URL": database_url, **(env or {})}
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
    # A gebied's specialist is someone of its network in the network file.
    stranger = triage(database_url, "users", "add", f"u-{uuid.uuid4().hex[:8]}", "--role",
                      "specialist", "--gebied", "oost")  # fmt: skip
    assert stranger.returncode == 2
    assert "not in the network of oost" in stranger.stderr
    elsewhere = triage(database_url, "users", "add", "sp-langstraat-7", "--role", "specialist",
                       "--gebied", "oost")  # fmt: skip
    assert elsewhere.returncode == 2
    ok = triage(database_url, "users", "add", "sp-langstraat-7", "--role", "specialist",
                "--gebied", "langstraat", "--expires", "7")  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "valid until " in ok.stdout
    never = triage(database_url, "users", "add", "sp-langstraat-7", "--role", "specialist",
                   "--gebied", "langstraat", "--expires", "0")  # fmt: skip
    assert never.returncode == 2
    assert "from 1 to 365" in never.stderr
    # Nor does a desk or ops account take the id of someone of the network file: their
    # offers and events go to that name.
    for role in ("operator", "ops"):
        taken = triage(database_url, "users", "add", "co-west", "--role", role)
        assert taken.returncode == 2
        assert "someone of the network file" in taken.stderr


def test_migrate_twice_is_a_no_op(database_url: str) -> None:
    result = triage(database_url, "migrate")
    assert result.returncode == 0, result.stderr
    assert "applied 0 migration(s)" in result.stdout


async def test_migrate_as_the_owner_grants_the_service_role_and_says_what_it_may(
    servers: dict[str, str],
) -> None:
    async with migrated_database(servers["admin_url"], "triage_cli_roles") as service:
        owner = owner_url(service, servers["admin_url"])
        conn = await asyncpg.connect(owner)
        try:  # as if the service's role were new: granted nothing yet
            role = await conn.fetchval("SELECT usename FROM pg_user WHERE usename LIKE "
                                       "'triage_cli_roles%'")  # fmt: skip
            await conn.execute(f'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM "{role}"')
        finally:
            await conn.close()
        denied = triage(service, "audit", "verify")
        assert denied.returncode != 0
        result = triage(service, "migrate", env={"TRIAGE_MIGRATION_DATABASE_URL": owner})
        assert result.returncode == 0, result.stderr
        assert f"the service's role {role} reads and writes the data, and may only add " in (
            result.stdout
        )
        assert triage(service, "audit", "verify").returncode == 0
        # Run as the owner itself, the service is told that its audit is not protected.
        alone = triage(owner, "migrate")
        assert alone.returncode == 0, alone.stderr
        assert "owns the audit table" in alone.stdout
        assert "append-only by courtesy only" in alone.stdout
