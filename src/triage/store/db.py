"""PostgreSQL connection pool and the errors that mean "the database is not there"."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import orjson

from triage.config import Settings


def encode_json(value: Any) -> str:
    # default=str: ids read from the database are asyncpg's own UUID type, which orjson
    # does not know; their str() is the canonical form.
    return orjson.dumps(value, default=str).decode()


async def init_connection(conn: asyncpg.Connection) -> None:
    for typename in ("json", "jsonb"):
        await conn.set_type_codec(
            typename, encoder=encode_json, decoder=orjson.loads, schema="pg_catalog"
        )


async def _reset_connection(conn: asyncpg.Connection) -> None:
    """Return a connection to the pool without asyncpg's default reset round trip.

    The default runs RESET ALL, CLOSE ALL, UNLISTEN * and pg_advisory_unlock_all() on every
    release: one more round trip per request for state this service never leaves behind
    (it sets no session settings, opens no cursors outside transactions, does not LISTEN
    on pooled connections and takes only transaction-scoped advisory locks). The one thing
    that can be left over, an open transaction after an error, is rolled back here.
    """
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


async def create_pool(dsn: str, settings: Settings) -> asyncpg.Pool:
    """A pool that opens connections lazily, so the service starts while PostgreSQL is down."""
    pool: asyncpg.Pool = await asyncpg.create_pool(
        dsn,
        min_size=0,
        max_size=settings.db_pool_max,
        command_timeout=settings.db_command_timeout,
        init=init_connection,
        reset=_reset_connection,
        # Statements are prepared per connection; the cache must survive pool churn.
        max_inactive_connection_lifetime=300,
        server_settings={"application_name": "triage"},
    )
    return pool


_UNAVAILABLE_SQLSTATE_CLASSES = ("08", "53", "57")  # connection, resources, operator action


def is_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` means PostgreSQL cannot be reached or is shutting down or starting.

    Such a failure is the dependency's, not the request's: the caller answers 503 with
    Retry-After, and nothing has been stored (the transaction never committed).
    """
    if isinstance(exc, asyncpg.PostgresError):
        state = getattr(exc, "sqlstate", "") or ""
        return state[:2] in _UNAVAILABLE_SQLSTATE_CLASSES
    return isinstance(
        exc,
        OSError
        | asyncio.TimeoutError
        | asyncpg.InterfaceError
        | asyncpg.exceptions.ConnectionDoesNotExistError,
    )
