"""Retention: personal data of a case closed longer than the region's term is erased.

What goes: the people (and the corrections of their data), the addresses (the
household's too when no other case keeps it), what was written about them (summaries,
decline reasons, override and change reasons, handover reasons, milestone notes) and
what would find them again (match keys, the case's profile, the source's reference).
What stays: times, levels, gebied, statuses, offers and answers, which the process
indicators (``triage report``) count. Each erased case is audited (``case.erased``).

A pass runs in every worker, hourly; one at a time in the deployment (an advisory lock),
in transactions of ``retention.batch`` cases. ``triage retention --dry-run`` lists what
a pass would erase now.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg
import structlog

from triage.clock import Clock
from triage.observability import metrics
from triage.region import Retention
from triage.store.sql import load_queries
from triage.tasks import stop_if_asked

log = structlog.get_logger(__name__)
_Q = load_queries("triage.privacy", "retention.sql")


@dataclass(frozen=True, slots=True)
class Due:
    """A case whose term ran out, and how much of it would go."""

    case_id: UUID
    gebied: str
    closed_at: datetime
    meldingen: int
    persons: int


@dataclass(frozen=True, slots=True)
class Erased:
    cases: int = 0
    meldingen: int = 0
    persons: int = 0


async def due(conn: asyncpg.Connection, term: Retention, now: datetime, limit: int) -> list[Due]:
    """The cases a pass at ``now`` would erase, oldest first (a dry run lists these)."""
    rows = await conn.fetch(_Q["due"], _closed_before(term, now), limit)
    return [
        Due(case_id=r["id"], gebied=r["gebied"], closed_at=r["closed_at"],
            meldingen=r["meldingen"], persons=r["persons"])
        for r in rows
    ]  # fmt: skip


async def erase_due(conn: asyncpg.Connection, term: Retention, now: datetime) -> Erased | None:
    """Erase every case whose term ran out at ``now``, ``term.batch`` per transaction;
    None when another process is erasing."""
    total = Erased()
    while True:
        async with conn.transaction():
            if not await conn.fetchval(_Q["take_pass"]):
                return None if total.cases == 0 else total
            batch = await due(conn, term, now, term.batch)
            ids = [r["id"] for r in await conn.fetch(_Q["lock_due"], [d.case_id for d in batch])]
            if not ids:
                return total
            row = await conn.fetchrow(_Q["erase"], ids, now)
        metrics.RETENTION_ERASED.inc(row["cases"])
        total = Erased(total.cases + row["cases"], total.meldingen + row["meldingen"],
                       total.persons + row["persons"])  # fmt: skip
        if len(batch) < term.batch:
            return total


def _closed_before(term: Retention, now: datetime) -> datetime:
    return now - timedelta(days=term.closed_case_days)


@dataclass
class RetentionJob:
    """The scheduled pass, in a worker."""

    pool: asyncpg.Pool
    term: Retention
    clock: Clock
    interval: float = 3600.0

    async def run(self) -> None:
        while True:
            try:
                async with self.pool.acquire() as conn:
                    erased = await erase_due(conn, self.term, self.clock.now())
                if erased is not None and erased.cases:
                    log.info("retention_erased", cases=erased.cases, meldingen=erased.meldingen,
                             persons=erased.persons)  # fmt: skip
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a dependency is down: the next pass tries again
                stop_if_asked(exc)
                log.warning("retention_failed", error=type(exc).__name__)
            await asyncio.sleep(self.interval)
