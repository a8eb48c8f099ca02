"""Roster changes through the API: a coordinator marks someone of their network absent,
adds an extra shift in their gebied, or records a swap; withdrawn, never deleted; each
audited. They count for who is on duty together with the network file's own changes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

import asyncpg
from pydantic import BaseModel, Field, ValidationError

from triage.auth.principal import Principal
from triage.problems import FieldError, conflict, forbidden, invalid
from triage.request_body import RequestBody
from triage.routing.network import Change, NetworkConfig
from triage.store.sql import load_queries
from triage.vocabulary import UserRole

_Q = load_queries("triage.routing", "roster_changes.sql")
#: How far from now a change may lie: planned up to a year ahead; recorded up to a month
#: late (one over longer ago no longer counts for who is on duty). Year 9999 was taken.
AHEAD = timedelta(days=366)
BACK = timedelta(days=31)


class RosterChangeIn(RequestBody):
    kind: Literal["absent", "extra", "swap"]
    specialist: str = Field(min_length=1, max_length=64)
    start: datetime = Field(
        description="Local time (Europe/Amsterdam) unless an offset is given; from "
        f"{BACK.days} days back to a year ({AHEAD.days} days) ahead of now."
    )
    end: datetime = Field(description="After start; within the same horizon.")
    gebied: str | None = Field(default=None, description="For an extra shift: where.")
    replaced_by: str | None = Field(default=None, description="For a swap: who works instead.")
    reason: str = Field(min_length=5, max_length=1000)


class RosterChangeRef(BaseModel):
    id: int
    withdrawn: bool


class RosterChangeOut(BaseModel):
    id: int
    network: str = Field(description="The gebied whose coordinator made it.")
    kind: str
    specialist: str
    start: datetime
    end: datetime
    gebied: str | None
    replaced_by: str | None
    reason: str
    created_by: str
    created_at: datetime


class RosterChangesOut(BaseModel):
    changes: list[RosterChangeOut]


def _coordinator_of(principal: Principal, network: str) -> None:
    if principal.kind != "user" or principal.role != UserRole.coordinator:
        raise forbidden("roster changes are made by the gebied's coordinator")
    if principal.gebied != network:
        raise forbidden("you change the roster of your own gebied")


_TOO_EARLY = f"lies more than {BACK.days} days back; a change counts from now on: give a later time"
_TOO_LATE = "lies more than a year ahead; check the year (record a change that far out later)"


def _within_horizon(start: datetime, end: datetime, now: datetime) -> None:
    errors = [
        FieldError(f"/{name}", _TOO_EARLY if moment < now else _TOO_LATE)
        for name, moment in (("start", start), ("end", end))
        if not now - BACK <= moment <= now + AHEAD
    ]
    if errors:
        raise invalid(errors)


def _checked(config: NetworkConfig, network: str, body: RosterChangeIn, now: datetime) -> Change:
    """The change as the network file would hold it, checked against the network and
    the clock."""
    # Both ends in local time when without offset: compared with each other and the clock
    # as moments (one end with an offset and one without was a TypeError, a 500).
    start, end = config.local(body.start), config.local(body.end)
    _within_horizon(start, end, now)
    try:
        change = Change(
            kind=body.kind,
            specialist=body.specialist,
            start=start,
            end=end,
            gebied=body.gebied,
            replaced_by=body.replaced_by,
        )
    except ValidationError as exc:
        raise invalid([FieldError("", e["msg"].removeprefix("Value error, "))
                       for e in exc.errors()]) from None  # fmt: skip
    members = config.network_of(network)
    own = {*members.members, *members.coordinators} if members else set()
    if body.kind == "extra":
        if body.specialist not in config.by_id:
            raise invalid([FieldError("/specialist", "not in the networks")])
        if body.gebied != network:
            raise invalid([FieldError("/gebied", "an extra shift is in your own gebied")])
    elif body.specialist not in own:
        raise invalid([FieldError("/specialist", f"not in the network of {network}")])
    if body.replaced_by is not None and body.replaced_by not in config.by_id:
        raise invalid([FieldError("/replaced_by", "not in the networks")])
    return change


def _out(row: asyncpg.Record) -> RosterChangeOut:
    return RosterChangeOut(
        id=row["id"], network=row["network"], kind=row["kind"], specialist=row["specialist"],
        start=row["starts_at"],
        end=row["ends_at"], gebied=row["gebied"], replaced_by=row["replaced_by"],
        reason=row["reason"], created_by=row["created_by"], created_at=row["created_at"],
    )  # fmt: skip


async def add_change(
    conn: asyncpg.Connection,
    config: NetworkConfig,
    network: str,
    body: RosterChangeIn,
    principal: Principal,
    *,
    now: datetime,
    endpoint: str,
    request_id: str,
) -> int:
    _coordinator_of(principal, network)
    change = _checked(config, network, body, now)
    start, end = config.local(change.start), config.local(change.end)
    new_id: int = await conn.fetchval(
        _Q["add"], change.kind, change.specialist, start, end, change.gebied,
        change.replaced_by, network, body.reason, principal.name, now, principal.id,
        endpoint, request_id,
    )  # fmt: skip
    return new_id


async def withdraw(
    conn: asyncpg.Connection,
    network: str,
    change_id: int,
    principal: Principal,
    *,
    now: datetime,
    endpoint: str,
    request_id: str,
) -> None:
    _coordinator_of(principal, network)
    if await conn.fetchval(_Q["withdraw"], change_id, now, network, principal.id, endpoint,
                           request_id) is None:  # fmt: skip
        raise conflict("no current change with this id in your gebied's roster")


async def current(conn: asyncpg.Connection | asyncpg.Pool, now: datetime) -> list[RosterChangeOut]:
    """Changes running now or to come (night shifts: from a day back)."""
    return [_out(r) for r in await conn.fetch(_Q["current"], now - timedelta(days=1))]


def as_changes(rows: list[RosterChangeOut]) -> list[Change]:
    return [Change(kind=r.kind, specialist=r.specialist, start=r.start, end=r.end,
                   gebied=r.gebied, replaced_by=r.replaced_by) for r in rows]  # fmt: skip
