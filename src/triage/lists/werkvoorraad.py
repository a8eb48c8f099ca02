"""The werkvoorraad: meldingen waiting for first contact, most urgent first, then nearest
deadline (the order the dispatch queues offer in).

Operators and CIT see the region, coordinators and specialists their gebied. Rows hold
ids, codes, times and the staff id of who has it: no personal data, so a list is not
audited per row (opening a melding is).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import asyncpg
from pydantic import BaseModel, Field

from triage.auth.principal import Principal
from triage.lists import cursor, planned
from triage.problems import forbidden
from triage.store.sql import load_queries
from triage.vocabulary import WAITING, Level, Source

_Q = load_queries("triage.lists", "lists.sql")

Waiting = Literal["queued", "offered", "assigned", "escalated"]


@dataclass(frozen=True, slots=True)
class Filter:
    """What to list; None: any. The scope of the reader narrows it further."""

    statuses: tuple[str, ...] = WAITING
    gebieden: tuple[str, ...] | None = None
    levels: tuple[Level, ...] | None = None
    sources: tuple[Source, ...] | None = None
    received_from: datetime | None = None
    received_until: datetime | None = None
    review: bool = False
    #: Most urgent first, then nearest deadline (the werkvoorraad's order); False:
    #: nearest deadline first, whatever the level.
    by_urgency: bool = True


class WerkvoorraadRow(BaseModel):
    melding_id: UUID
    case_id: UUID
    received_at: datetime
    source: Source
    kind: str
    category: str
    level: Level
    score: int
    gebied: str
    status: Waiting
    respond_before: datetime = Field(description="The first-contact deadline.")
    escalated_until: datetime | None
    review_pending: bool = Field(description="Recognition asks an operator: this case or not?")
    holder: str | None = Field(description="Who has it: offered to or accepted by (staff id).")
    holder_state: Literal["offered", "accepted"] | None
    answer_before: datetime | None = Field(description="An offer's answer time.")


class WerkvoorraadOut(BaseModel):
    meldingen: list[WerkvoorraadRow]
    next: str | None = Field(description="The next page: pass it as ?after=; none at the end.")


def _gebieden(principal: Principal, asked: tuple[str, ...] | None) -> tuple[str, ...] | None:
    scope = principal.read_scope()
    if scope is None or scope.client_id is not None:
        raise forbidden(
            "the werkvoorraad is for the desk, CIT and the gebied's network",
            "de werkvoorraad is voor het meldpunt, het CIT en het netwerk van het gebied",
        )
    if scope.everything:
        return asked
    mine = scope.gebied or ""
    if asked is not None and set(asked) != {mine}:
        raise forbidden(
            f"you see the werkvoorraad of your own gebied ({mine}) only",
            "je ziet alleen de werkvoorraad van je eigen gebied",
        )
    return (mine,)


def arguments(
    gebieden: tuple[str, ...] | None, wanted: Filter, after: str | None, limit: int
) -> list[Any]:
    """The werkvoorraad query's parameters (lists.sql), for ``gebieden`` (None: all)."""
    rank, at, last = cursor.decode_ranked(after)
    return [
        rank, at, last, list(wanted.statuses), None if gebieden is None else list(gebieden),
        None if wanted.levels is None else [str(x) for x in wanted.levels],
        None if wanted.sources is None else [str(x) for x in wanted.sources],
        wanted.received_from, wanted.received_until, limit, wanted.review, wanted.by_urgency,
    ]  # fmt: skip


async def werkvoorraad(
    conn: asyncpg.Connection,
    principal: Principal,
    wanted: Filter,
    *,
    after: str | None = None,
    limit: int = 50,
) -> WerkvoorraadOut:
    """One page of the werkvoorraad in ``principal``'s scope, after cursor ``after``."""
    gebieden = _gebieden(principal, wanted.gebieden)
    rows = await planned.fetch(conn, _Q["werkvoorraad"],
                               *arguments(gebieden, wanted, after, limit + 1))  # fmt: skip
    page = [
        WerkvoorraadRow(
            melding_id=r["id"], case_id=r["case_id"], received_at=r["received_at"],
            source=r["source"], kind=r["kind"], category=r["category"],
            level=r["urgency_level"], score=r["urgency_score"], gebied=r["gebied"],
            status=r["status"], respond_before=r["respond_before"],
            escalated_until=r["escalated_until"], review_pending=r["review_pending"],
            holder=r["holder"], holder_state=r["holder_state"],
            answer_before=r["answer_before"],
        )
        for r in rows[:limit]
    ]  # fmt: skip
    more = len(rows) > limit
    return WerkvoorraadOut(
        meldingen=page,
        next=cursor.encode_ranked(
            rows[limit - 1]["rank"], page[-1].respond_before, page[-1].melding_id
        )
        if more
        else None,
    )
