"""Apply the numbered SQL files in ``migrations/``, each once, each in a transaction.

Two processes may run this at the same time (two API instances starting together): an
advisory lock makes the second wait and then find nothing left to do. A file that was
changed after it was applied refuses to run, because the database no longer matches it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

import asyncpg
import structlog

from triage.store.roles import grant_service

log = structlog.get_logger(__name__)

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# pg_advisory_lock key: "triage migrations" (any constant unique to this purpose).
_MIGRATION_LOCK = 0x7472_6961_6765_01


class MigrationError(Exception):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


#: Scripts beside the module that runs them, re-applied whenever their text changes
#: (functions made with CREATE OR REPLACE): ("package", "file.sql").
REPEATABLE: tuple[tuple[str, str], ...] = (
    ("triage.intake", "intake_functions.sql"),
    ("triage.notify", "webhook_functions.sql"),
)


def repeatable_scripts() -> list[Migration]:
    return [
        Migration(
            0, f"{package}/{name}", resources.files(package).joinpath(name).read_text("utf-8")
        )
        for package, name in REPEATABLE
    ]


def available_migrations() -> list[Migration]:
    found = []
    for entry in resources.files("triage.store.migrations").iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migration files share a number: {versions}")
    return found


async def _create_if_missing(conn: asyncpg.Connection, table: str, create: str) -> None:
    """Not CREATE TABLE IF NOT EXISTS: that asks for the right to create in the schema
    even when the table is there, and the service's role, which may run ``triage
    migrate`` to find that nothing is left to do, has no such right."""
    if await conn.fetchval("SELECT to_regclass($1)", table) is None:
        await conn.execute(create)


async def _apply_repeatables(conn: asyncpg.Connection) -> list[Migration]:
    await _create_if_missing(
        conn,
        "schema_repeatables",
        """CREATE TABLE schema_repeatables (
               name       text PRIMARY KEY,
               checksum   text NOT NULL,
               applied_at timestamptz NOT NULL DEFAULT now())""",
    )
    done = {
        r["name"]: r["checksum"]
        for r in await conn.fetch("SELECT name, checksum FROM schema_repeatables")
    }
    applied: list[Migration] = []
    for script in repeatable_scripts():
        if done.get(script.name) == script.checksum:
            continue
        async with conn.transaction():
            await conn.execute(script.sql)
            await conn.execute(
                """INSERT INTO schema_repeatables (name, checksum) VALUES ($1, $2)
                   ON CONFLICT (name) DO UPDATE SET checksum = $2, applied_at = now()""",
                script.name,
                script.checksum,
            )
        log.info("repeatable_applied", script=script.name)
        applied.append(script)
    return applied


async def migrate(conn: asyncpg.Connection, service_role: str | None = None) -> list[Migration]:
    """Apply what is missing, as the schema's owner; return the migrations applied now.
    With ``service_role`` (another role than the owner), grant it what the service needs
    and no more (``roles.py``)."""
    applied_now: list[Migration] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
    try:
        await _create_if_missing(
            conn,
            "schema_migrations",
            """CREATE TABLE schema_migrations (
                   version    integer PRIMARY KEY,
                   name       text NOT NULL,
                   checksum   text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())""",
        )
        rows = await conn.fetch("SELECT version, name, checksum FROM schema_migrations")
        done = {r["version"]: r for r in rows}
        for migration in available_migrations():
            row = done.get(migration.version)
            if row is not None:
                if row["checksum"] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.version:04d}_{row['name']} was changed after "
                        "it was applied; add a new migration instead of editing an old one"
                    )
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            log.info("migration_applied", version=migration.version, migration=migration.name)
            applied_now.append(migration)
        applied_now += await _apply_repeatables(conn)
        if service_role is not None and service_role != await conn.fetchval("SELECT current_user"):
            await grant_service(conn, service_role)
    except asyncpg.InsufficientPrivilegeError as exc:
        role = await conn.fetchval("SELECT current_user")
        raise MigrationError(
            f"role {role} may not change the schema ({exc}); run the migrations as the "
            "schema's owner: set TRIAGE_MIGRATION_DATABASE_URL to its DSN "
            "(docs/deploy.md, 'Database roles')"
        ) from exc
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
    return applied_now
