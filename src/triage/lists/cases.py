"""Cases by gebied, status and lead: a coordinator's overview, a specialist's own cases.

Ids, codes, times and staff ids only: opening a case (``cases/read.py``) shows its people
and is audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

import asyncpg
from pydantic import BaseModel, Field

from triage.auth.principal import Principal
from triage.lists import cursor, planned
from triage.problems import forbidden
from triage.store.sql import load_queries
from triage.vocabulary import Level

_Q = load_queries("triage.lists", "lists.sql")
CaseStatus = Literal["open", "closed"]


class CaseRow(BaseModel):
    case_id: UUID
    household_id: UUID
    status: CaseStatus
    gebied: str
    opened_at: datetime
    closed_at: datetime | None
    lead: str | None = Field(description="Who leads it (casusregie), a staff id.")
    waiting: int = Field(description="Its meldingen still waiting for first contact.")
    top_level: Level | None = Field(description="The most urgent of those.")
    last_received: datetime | None
    next_milestone: str | None = Field(description="plan, outreach, handover or evaluation.")
    next_milestone_due: datetime | None


class CasesOut(BaseModel):
    cases: list[CaseRow]
    next: str | None = Field(description="The next page: pass it as ?after=; none at the end.")


def _gebied(principal: Principal, asked: str | None) -> str | None:
    scope = principal.read_scope()
    if scope is None or scope.client_id is not None:
        raise forbidden("cases are listed for the desk, CIT and the gebied's network")
    if scope.everything:
        return asked
    if asked is not None and asked != scope.gebied:
        raise forbidden(f"you see the cases of your own gebied ({scope.gebied}) only")
    return scope.gebied


async def cases(
    conn: asyncpg.Connection,
    principal: Principal,
    *,
    gebied: str | None = None,
    status: CaseStatus | None = None,
    lead: str | None = None,
    after: str | None = None,
    limit: int = 50,
) -> CasesOut:
    """One page of cases in ``principal``'s scope, newest first."""
    in_gebied = _gebied(principal, gebied)
    at, last = cursor.decode(after)
    rows = await planned.fetch(conn, _Q["cases"], at, last, in_gebied, status, lead, limit + 1)
    page = [
        CaseRow(
            case_id=r["id"], household_id=r["household_id"], status=r["status"],
            gebied=r["gebied"], opened_at=r["opened_at"], closed_at=r["closed_at"],
            lead=r["lead"], waiting=r["waiting"], top_level=r["top_level"],
            last_received=r["last_received"], next_milestone=r["next_milestone"],
            next_milestone_due=r["next_milestone_due"],
        )
        for r in rows[:limit]
    ]  # fmt: skip
    more = len(rows) > limit
    return CasesOut(
        cases=page, next=cursor.encode(page[-1].opened_at, page[-1].case_id) if more else None
    )
