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

import asyncpg
import pytest

from helpers import TEST_CLOCK, migrated_database
from triage.audit.seal import seal, verify

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
async def audited(servers: dict[str, str]) -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    async with migrated_database(servers["admin_url"], "triage_audit_chain") as url:
        pool = await asyncpg.create_pool(url, min_size=1, max_size=4)
        try:
            yield url, pool
        finally:
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
    audited: tuple[str, asyncpg.Pool],
) -> None:
    url, pool = audited
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
    await _as_superuser(pool, f"UPDATE audit_log SET actor_role = 'admin' WHERE id = {changed}")
    async with pool.acquire() as conn:
        found = await verify(conn, TEST_CLOCK.now())
    assert found.sealed == 1234
    assert found.first_break is not None
    assert (found.first_break.audit_id, found.first_break.what) == (
        changed,
        "the row was changed after it was sealed",
    )
    await _as_superuser(pool, f"UPDATE audit_log SET actor_role = 'operator' WHERE id = {changed}")

    deleted = ids[2000]
    await _as_superuser(pool, f"DELETE FROM audit_log WHERE id = {deleted}")
    async with pool.acquire() as conn:
        found = await verify(conn, TEST_CLOCK.now())
    assert found.first_break is not None
    assert (found.first_break.audit_id, found.first_break.what) == (
        deleted,
        "the row is missing (deleted)",
    )
    # Its seal deleted too: the sequence has a gap.
    await _as_superuser(pool, f"DELETE FROM audit_seal WHERE audit_id = {deleted}")
    async with pool.acquire() as conn:
        found = await verify(conn, TEST_CLOCK.now())
    assert found.first_break is not None
    assert "the seals before it from 2001 are missing" in found.first_break.what
    result = _cli_verify(url)
    assert result.returncode == 1, result.stderr
    assert "BROKEN after 2000 good rows" in result.stdout


async def test_rows_left_unsealed_count_as_a_break_once_a_minute_has_passed(
    audited: tuple[str, asyncpg.Pool],
) -> None:
    url, pool = audited
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


async def test_the_service_role_cannot_change_a_seal(audited: tuple[str, asyncpg.Pool]) -> None:
    _, pool = audited
    await _write(pool, 2)
    await seal(pool)
    for statement in ("UPDATE audit_seal SET chain = chain", "DELETE FROM audit_seal",
                      "TRUNCATE audit_seal"):  # fmt: skip
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="audit_seal is append-only"):
            await pool.execute(statement)
