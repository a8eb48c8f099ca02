"""The audit log's hash chain: sealed after the fact, and `triage audit verify` names the
first row a superuser changed or deleted behind the triggers' back. On a database of its
own: the tampering below would break the chain for everyone else."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import NamedTuple

import asyncpg
import pytest

from helpers import TEST_CLOCK, migrated_database, owner_url
from triage.audit.seal import seal, verify
from triage.store.roles import audit_exposed

REPO = Path(__file__).resolve().parents[1]


class Audited(NamedTuple):
    url: str  # the service's role
    pool: asyncpg.Pool  # the service's role: adds to the audit, reads it, nothing more
    superuser: asyncpg.Pool  # the server's admin, who owns the schema


@pytest.fixture
async def audited(servers: dict[str, str]) -> AsyncIterator[Audited]:
    async with migrated_database(servers["admin_url"], "triage_audit_chain") as url:
        pool = await asyncpg.create_pool(url, min_size=1, max_size=4)
        superuser = await asyncpg.create_pool(
            owner_url(url, servers["admin_url"]), min_size=1, max_size=1
        )
        try:
            yield Audited(url, pool, superuser)
        finally:
            await superuser.close()
            await pool.close()


async def _write(pool: asyncpg.Pool, n: int, minutes_ago: int = 5) -> list[int]:
    at = TEST_CLOCK.now() - timedelta(minutes=minutes_ago)
    rows = await pool.fetch(
        "INSERT INTO audit_log (at, actor_kind, actor_role, action, endpoint, request_id) "
        "SELECT $1, 'user', 'operator', 'melding.read', 'GET /api/v1/meldingen/{melding_id}', "
        "'r' || g FROM generate_series(1, $2) AS g RETURNING id",
        at, n,
    )  # fmt: skip
    return [r["id"] for r in rows]


async def _as_superuser(pool: asyncpg.Pool, *statements: str) -> None:
    """What someone past the triggers does: replica mode skips triggers and foreign keys."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        for statement in statements:
            await conn.execute(statement)


def _cli_verify(url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
    return subprocess.run([sys.executable, "-m", "triage", "audit", "verify"], cwd=REPO,
                          env={**env, "TRIAGE_DATABASE_URL": url}, capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip


async def test_a_sealed_log_verifies_and_a_change_or_deletion_is_named(
    audited: Audited,
) -> None:
    url, pool, superuser = audited
    ids = await _write(pool, 2500)
    passes = []
    while (sealed := await seal(pool)) != 0:
        passes.append(sealed)
    assert passes == [1000, 1000, 500]
    async with pool.acquire() as conn:
        intact = await verify(conn, TEST_CLOCK.now())
    assert intact.first_break is None
    assert intact.sealed == 2500

    changed = ids[1234]
    await _as_superuser(
        superuser, f"UPDATE audit_log SET actor_role = 'admin' WHERE id = {changed}"
    )
    async with pool.acquire() as conn:
        found = await verify(conn, TEST_CLOCK.now())
    assert found.sealed == 1234
    assert found.first_break is not None
    assert (found.first_break.audit_id, found.first_break.what) == (
        changed,
        "the row was changed after it was sealed",
    )
    await _as_superuser(
        superuser, f"UPDATE audit_log SET actor_role = 'operator' WHERE id = {changed}"
    )

    deleted = ids[2000]
    await _as_superuser(superuser, f"DELETE FROM audit_log WHERE id = {deleted}")
    async with pool.acquire() as conn:
        found = await verify(conn, TEST_CLOCK.now())
    assert found.first_break is not None
    assert (found.first_break.audit_id, found.first_break.what) == (
        deleted,
        "the row is missing (deleted)",
    )
    # Its seal deleted too: the sequence has a gap.
    await _as_superuser(superuser, f"DELETE FROM audit_seal WHERE audit_id = {deleted}")
    async with pool.acquire() as conn:
        found = await verify(conn, TEST_CLOCK.now())
    assert found.first_break is not None
    assert "the seals before it from 2001 are missing" in found.first_break.what
    result = _cli_verify(url)
    assert result.returncode == 1, result.stderr
    assert "BROKEN after 2000 good rows" in result.stdout


async def test_rows_left_unsealed_count_as_a_break_once_a_minute_has_passed(
    audited: Audited,
) -> None:
    url, pool, _ = audited
    await _write(pool, 3)
    assert await seal(pool) == 3
    [fresh] = await _write(pool, 1, minutes_ago=0)
    async with pool.acquire() as conn:
        assert (await verify(conn, TEST_CLOCK.now())).first_break is None  # being sealed
        late = await verify(conn, TEST_CLOCK.now() + timedelta(minutes=2))
    assert late.first_break is not None
    assert late.first_break.audit_id == fresh
    assert late.first_break.what.startswith("not sealed")
    assert await seal(pool) == 1
    result = _cli_verify(url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 rows sealed" in result.stdout


async def test_the_service_role_can_only_add_to_the_audit_and_read_it(audited: Audited) -> None:
    """What the service's database role may do to the audit: INSERT and SELECT. It cannot
    change, remove or empty entries or seals, nor get past the triggers: it does not own
    the tables, so it cannot disable them, drop them or skip them."""
    _, pool, superuser = audited
    await _write(pool, 2)
    await seal(pool)
    assert await pool.fetchval("SELECT count(*) FROM audit_log") == 2
    for table in ("audit_log", "audit_seal"):
        for statement in (
            f"UPDATE {table} SET audit_id = audit_id"
            if table == "audit_seal"
            else f"UPDATE {table} SET action = 'x'",
            f"DELETE FROM {table}",
            f"TRUNCATE {table}",
            f"ALTER TABLE {table} DISABLE TRIGGER USER",
            f"DROP TABLE {table} CASCADE",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await pool.execute(statement)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await pool.execute("SET session_replication_role = replica")  # skip the triggers
    async with pool.acquire() as conn:
        assert await audit_exposed(conn) == []
    # The owner may (it could disable the triggers): the service says so when it runs as it.
    async with superuser.acquire() as conn:
        assert "owns the audit table" in await audit_exposed(conn)
        # and its triggers still refuse a plain change
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="audit_seal is append-only"):
            await conn.execute("DELETE FROM audit_seal")
