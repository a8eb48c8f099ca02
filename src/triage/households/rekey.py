"""Every case's matching profile and blocking keys made again from its meldingen.

Keys are made in Python (``keys.py``: the sound keys cannot be made in SQL), so when their
definition changes, a migration can drop the old kinds but cannot make all the new ones.
``triage recognition rekey`` does, case by case, as an operator's change does
(``cases/control.py``: the cases' advisory locks first, so that no intake decides
against a case while its keys are replaced), a page of cases per transaction so that
intake waits at most for one page.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from triage.cases.control import case_contents, lock_cases, rebuild_profiles
from triage.ids import uuid7
from triage.store.sql import load_queries

_Q = load_queries("triage.households", "rekey.sql")

#: Cases per transaction.
PAGE = 200


async def rekey(conn: asyncpg.Connection, now: datetime, *, page: int = PAGE) -> int:
    """Rebuild the profile and keys of every case; the number of cases. Audited (counts
    only): it reads every case's people."""
    done = 0
    after = UUID(int=0)
    while True:
        async with conn.transaction():
            ids = [r["id"] for r in await conn.fetch(_Q["cases_after"], after, page)]
            if not ids:
                break
            cases = await lock_cases(conn, ids)
            contents = await case_contents(conn, list(cases))
            await rebuild_profiles(conn, {c: (cases[c], contents[c]) for c in cases})
        done += len(ids)
        after = ids[-1]
    await conn.execute(_Q["audit_rekey"], now, str(uuid7()), {"cases": done})
    return done
