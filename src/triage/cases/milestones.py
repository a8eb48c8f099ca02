"""A case's milestones (seed norms: plan 7, outreach 30, handover 100, evaluation 180
days from the first contact): due dates, done by hand, overdue counted for Prometheus.

The first contact with a household creates them (dispatch.sql, ``first_contact``); the
case's lead or a coordinator of its gebied marks one done; the timer loop sets
``triage_case_milestones_overdue{kind}`` from PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import asyncpg
from pydantic import BaseModel, ConfigDict, Field

from triage.auth.principal import Principal
from triage.observability import metrics
from triage.problems import conflict, forbidden
from triage.store.sql import load_queries
from triage.vocabulary import UserRole

_Q = load_queries("triage.cases", "milestones.sql")
Kind = Literal["plan", "outreach", "handover", "evaluation"]
KINDS: tuple[Kind, ...] = ("plan", "outreach", "handover", "evaluation")


class MilestoneDoneIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    note: str | None = Field(default=None, max_length=1000, description="What was done.")


class MilestoneOut(BaseModel):
    kind: Kind
    due_at: datetime
    done_at: datetime | None
    done_by: str | None = None
    note: str | None = None
    overdue: bool = Field(description="Due date passed and not done.")


def milestone_out(row: Mapping[str, Any], now: datetime) -> MilestoneOut:
    """From a row or a JSON object (times as datetimes or ISO strings)."""
    due, done_at = _time(row["due_at"]), _time(row["done_at"])
    return MilestoneOut(
        kind=row["kind"], due_at=due, done_at=done_at, done_by=row.get("done_by"),
        note=row.get("note"), overdue=done_at is None and due is not None and due < now,
    )  # fmt: skip


def _time(value: datetime | str | None) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


async def mark_done(
    conn: asyncpg.Connection,
    case_id: UUID,
    kind: Kind,
    done: MilestoneDoneIn,
    principal: Principal,
    *,
    now: datetime,
    endpoint: str,
    request_id: str,
) -> MilestoneOut:
    if principal.kind != "user" or principal.role not in (
        UserRole.specialist,
        UserRole.coordinator,
    ):
        raise forbidden("the case's lead or a coordinator of its gebied marks a milestone")
    coordinator = principal.role == UserRole.coordinator
    row = await conn.fetchrow(
        _Q["milestone_done"], case_id, kind, now, principal.name, coordinator,
        principal.gebied, done.note, principal.id, principal.role, endpoint, request_id,
    )  # fmt: skip
    if row is None:
        raise conflict(
            "no open milestone of this kind on a case you lead or coordinate (it starts "
            "with the first contact, and is marked done once)"
        )
    return milestone_out(row, now)


async def count_overdue(pool: asyncpg.Pool, now: datetime) -> dict[str, int]:
    """Overdue milestones per kind, set on the Prometheus gauge."""
    counts: dict[str, int] = dict.fromkeys(KINDS, 0)
    counts.update(
        {r["kind"]: r["overdue"] for r in await pool.fetch(_Q["overdue_milestones"], now)}
    )
    for kind, count in counts.items():
        metrics.MILESTONES_OVERDUE.labels(kind).set(count)
    return counts
