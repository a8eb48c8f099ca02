"""A case's milestones (seed norms: plan 7, outreach 30, handover 100, evaluation 180
days from the first contact): due dates, done by hand, overdue counted for Prometheus.

The first contact with a household creates them (dispatch.sql, ``first_contact``); the
case's lead or a coordinator of its gebied marks one done; the timer loop sets
``triage_case_milestones_overdue{kind}`` from PostgreSQL and escalates each overdue
milestone once: the gebied's coordinator and the case's lead hear of it (server-sent
events) and so do their organisations (webhooks); coordinators see the overdue
milestones beside the escalations (GET /api/v1/escalations).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID

import asyncpg
import structlog
from pydantic import BaseModel, Field

from triage.auth.principal import Principal
from triage.effects import Done, Tell
from triage.notify import webhooks
from triage.notify.webhooks import Notice
from triage.observability import metrics
from triage.problems import conflict, forbidden
from triage.request_body import RequestBody
from triage.store.sql import load_queries
from triage.vocabulary import UserRole

if TYPE_CHECKING:  # routing imports the intake's models, which import these
    from triage.routing.network import NetworkConfig

log = structlog.get_logger(__name__)
_Q = load_queries("triage.cases", "milestones.sql")
Kind = Literal["plan", "outreach", "handover", "evaluation"]
KINDS: tuple[Kind, ...] = ("plan", "outreach", "handover", "evaluation")


class MilestoneDoneIn(RequestBody):
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
    if not principal.in_network:
        raise forbidden("the case's lead or a coordinator of its gebied marks a milestone")
    coordinator = principal.role == UserRole.coordinator
    row = await conn.fetchrow(
        _Q["milestone_done"], case_id, kind, now, principal.name, coordinator,
        principal.gebied, done.note, principal.id, principal.role, endpoint, request_id,
    )  # fmt: skip
    if row is None:
        raise conflict(
            "no open milestone of this kind on a case you lead or coordinate (it starts "
            "with the first contact, and is marked done once)",
            "geen open mijlpaal van deze soort op een casus die je regisseert of coördineert "
            "(hij begint bij het eerste contact en wordt één keer afgevinkt)",
        )
    metrics.MILESTONES_DONE.labels(kind, "true" if now <= row["due_at"] else "false").inc()
    return milestone_out(row, now)


class MilestoneOverdueOut(BaseModel):
    case_id: UUID
    kind: Kind
    due_at: datetime
    escalated_at: datetime | None
    gebied: str
    lead: str | None


async def overdue_in_scope(
    conn: asyncpg.Connection, everything: bool, gebied: str | None, now: datetime, limit: int
) -> list[MilestoneOverdueOut]:
    rows = await conn.fetch(_Q["overdue_in_scope"], everything, gebied, now, limit)
    return [MilestoneOverdueOut(**dict(r)) for r in rows]


async def escalate_overdue(
    pool: asyncpg.Pool,
    config: NetworkConfig,
    now: datetime,
) -> Done[int]:
    """Escalate the milestones overdue at ``now`` (each once); how many were new, and the
    events that tell the people after the commit."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(_Q["escalate_overdue"], now)
        await webhooks.record(conn, [n for r in rows for n in _notices(config, r)], now)
    tells = []
    for row in rows:
        metrics.ESCALATIONS.labels(f"milestone_{row['kind']}", row["gebied"]).inc()
        data = {"case_id": row["case_id"], "kind": f"milestone_{row['kind']}",
                "link": f"/api/v1/cases/{row['case_id']}"}  # fmt: skip
        tells += [Tell(person, "escalation", data) for person in _told(config, row)]
    if rows:
        log.warning("milestones_escalated", count=len(rows))
    return Done(len(rows), tuple(tells))


def _told(config: NetworkConfig, row: asyncpg.Record) -> list[str]:
    """The gebied's coordinators, and the lead when the case has one."""
    people = config.coordinators_of(row["gebied"])
    if row["lead"] is not None and row["lead"] not in people and row["lead"] in config.by_id:
        people.append(row["lead"])
    return people


def _notices(config: NetworkConfig, row: asyncpg.Record) -> list[Notice]:
    organisations = dict.fromkeys(config.by_id[p].organisatie for p in _told(config, row))
    return [Notice(o, "milestone_overdue", {
        "case_id": row["case_id"], "milestone": row["kind"], "due_at": row["due_at"],
        "gebied": row["gebied"], "lead": row["lead"], "link": f"/api/v1/cases/{row['case_id']}",
    }) for o in organisations]  # fmt: skip


async def count_overdue(pool: asyncpg.Pool, now: datetime) -> dict[str, int]:
    """Overdue milestones per kind, set on the Prometheus gauge."""
    counts: dict[str, int] = dict.fromkeys(KINDS, 0)
    counts.update(
        {r["kind"]: r["overdue"] for r in await pool.fetch(_Q["overdue_milestones"], now)}
    )
    for kind, count in counts.items():
        metrics.MILESTONES_OVERDUE.labels(kind).set(count)
    return counts
