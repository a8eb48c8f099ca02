"""A list's query planned for the values it is given, every time.

The lists take optional filters (``$3 IS NULL OR gebied = $3``), a cursor and a name
pattern (``key LIKE $2``). asyncpg prepares each statement once, and after five runs
PostgreSQL may settle on a generic plan, made without the values: then no index serves
an optional filter, a cursor or a LIKE, and the werkvoorraad at 1,000,000 meldingen, or
a name search over every blocking key, becomes a scan of the table. Lists are read by
people, not at the intake's rate, so a plan per call (a millisecond) is the cheap side.
"""

from __future__ import annotations

from typing import Any

import asyncpg


async def fetch(conn: asyncpg.Connection, sql: str, *args: Any) -> list[asyncpg.Record]:
    """``conn.fetch`` with a plan made for these values (in a transaction of its own
    unless one is open: the setting ends with it)."""
    if conn.is_in_transaction():
        await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        return list(await conn.fetch(sql, *args))
    async with conn.transaction():
        await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        return list(await conn.fetch(sql, *args))
