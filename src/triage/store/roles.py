"""Two database roles: the schema's owner, for migrations, and the service's, which may
only add to the audit and read it (``roles.sql``; docs/deploy.md, "Database roles").

The owner's connection (``TRIAGE_MIGRATION_DATABASE_URL``) runs ``triage migrate`` and
grants the service's role (the user of ``TRIAGE_DATABASE_URL``) what it needs. A service
that runs as the owner works, but then its audit is append-only by courtesy only: it
could disable the triggers that refuse changes. It says so when it starts.
"""

from __future__ import annotations

import urllib.parse

import asyncpg
import structlog

from triage.store.sql import load_queries

log = structlog.get_logger(__name__)
_Q = load_queries("triage.store", "roles.sql")


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def grant_service(owner: asyncpg.Connection, role: str) -> None:
    """Grant ``role`` what the service needs, as the schema's owner (idempotent)."""
    await owner.execute(_Q["grant_service"].replace("{role}", quote_identifier(role)))
    log.info("service_role_granted", role=role)


async def service_role(url: str) -> str:
    """The role the service connects as with ``url`` (whatever supplies the user: the
    URL, PGUSER, the operating system's user)."""
    conn = await asyncpg.connect(url)
    try:
        role: str = await conn.fetchval("SELECT current_user")
        return role
    finally:
        await conn.close()


async def audit_exposed(conn: asyncpg.Connection) -> list[str]:
    """Why this connection's role could change or remove audit entries; empty when the
    audit is append-only for it."""
    return [row["reason"] for row in await conn.fetch(_Q["audit_exposed"])]


def with_user(url: str, user: str) -> str:
    """``url`` with ``user`` (and no password) in place of its user."""
    parts = urllib.parse.urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{urllib.parse.quote(user, safe='')}@{host}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
