"""Migrations: each once, in a transaction, safe to run twice and from two processes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from triage.store import migrate as migrate_module
from triage.store.migrate import (
    Migration,
    MigrationError,
    available_migrations,
    migrate,
    repeatable_scripts,
)


@pytest.fixture
async def empty_database(servers: dict[str, str]) -> AsyncIterator[str]:
    name = f"triage_migr_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(servers["admin_url"])
    await admin.execute(f'CREATE DATABASE "{name}"')
    base, _, query = servers["admin_url"].partition("?")
    yield base.rsplit("/", 1)[0] + f"/{name}" + (f"?{query}" if query else "")
    await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    await admin.close()


async def test_two_processes_at_once_apply_each_migration_once(empty_database: str) -> None:
    conns = [await asyncpg.connect(empty_database) for _ in range(2)]
    try:
        results = await asyncio.gather(*(migrate(c) for c in conns))
        applied = sorted(len(r) for r in results)
        assert applied == [0, len(available_migrations()) + len(repeatable_scripts())]
        versions = await conns[0].fetch("SELECT version FROM schema_migrations ORDER BY version")
        assert [r["version"] for r in versions] == [m.version for m in available_migrations()]
        assert await migrate(conns[0]) == []  # and a third run finds nothing to do
    finally:
        for conn in conns:
            await conn.close()


async def test_a_failing_migration_leaves_nothing_behind(
    empty_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A broken file is simulated by a substitute list: the point is the transaction.
    broken = [Migration(1, "broken", "CREATE TABLE half_done (id int); SELECT 1/0;")]
    monkeypatch.setattr(migrate_module, "available_migrations", lambda: broken)
    conn = await asyncpg.connect(empty_database)
    try:
        with pytest.raises(asyncpg.DivisionByZeroError):
            await migrate(conn)
        assert await conn.fetchval("SELECT to_regclass('half_done')") is None
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == 0
    finally:
        await conn.close()


async def test_an_edited_migration_refuses_to_run(
    empty_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = await asyncpg.connect(empty_database)
    try:
        await migrate(conn)
        edited = [
            Migration(m.version, m.name, m.sql + "\n-- edited") for m in available_migrations()
        ]
        monkeypatch.setattr(migrate_module, "available_migrations", lambda: edited)
        with pytest.raises(MigrationError, match="was changed after it was applied"):
            await migrate(conn)
    finally:
        await conn.close()


async def test_a_changed_repeatable_script_is_applied_again(
    empty_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = await asyncpg.connect(empty_database)
    try:
        await migrate(conn)
        changed = [
            Migration(0, s.name, s.sql + "\nCREATE OR REPLACE FUNCTION probe() RETURNS int "
                      "LANGUAGE sql AS 'SELECT 7';")
            for s in repeatable_scripts()
        ]  # fmt: skip
        monkeypatch.setattr(migrate_module, "repeatable_scripts", lambda: changed)
        assert [m.name for m in await migrate(conn)] == [s.name for s in changed]
        assert await conn.fetchval("SELECT probe()") == 7
        assert await migrate(conn) == []
    finally:
        await conn.close()
