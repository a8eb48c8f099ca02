"""Roster changes through the API: a coordinator marks someone of their network absent,
adds an extra shift in their gebied, or records a swap; withdrawn, never deleted; each
audited. They count for who is on duty together with the network file's own changes.

A change takes effect at once: in its transaction, whoever it takes off duty now loses
their open offers (all of them when marked absent; else those made because they were on
duty, not those made to them as a coordinator, who is reachable off roster), which go to
the next candidate; after the commit the workers are told to recompute who is on duty,
and the people whose offers were withdrawn are told.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

import asyncpg
from pydantic import BaseModel, Field, ValidationError

from triage.auth.principal import Principal
from triage.effects import Done, Effect, RostersChanged, Tell, enqueue
from triage.problems import FieldError, conflict, forbidden, invalid
from triage.problems_nl import field_text
from triage.request_body import RequestBody
from triage.routing.network import Change, NetworkConfig
from triage.routing.roster import absent_at, on_duty
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
    reason: str | None = Field(
        description="Why; shown to the gebied's coordinator only (an absence's reason may "
        "be about someone's health)."
    )
    created_by: str
    created_at: datetime


class RosterChangesOut(BaseModel):
    changes: list[RosterChangeOut]


def as_seen_by(
    changes: list[RosterChangeOut], principal: Principal, network: str
) -> list[RosterChangeOut]:
    """A gebied's changes for ``principal``: the reasons for its coordinator alone."""
    if principal.role == UserRole.coordinator and principal.gebied == network:
        return changes
    return [change.model_copy(update={"reason": None}) for change in changes]


def _coordinator_of(principal: Principal, network: str) -> None:
    if principal.kind != "user" or principal.role != UserRole.coordinator:
        raise forbidden(
            "roster changes are made by the gebied's coordinator",
            "het rooster wijzigt de coördinator van het gebied",
        )
    if principal.gebied != network:
        raise forbidden(
            "you change the roster of your own gebied",
            "je wijzigt alleen het rooster van je eigen gebied",
        )


_TOO_EARLY = f"lies more than {BACK.days} days back; a change counts from now on: give a later time"
_TOO_LATE = "lies more than a year ahead; check the year (record a change that far out later)"
_TOO_EARLY_NL = (
    f"ligt meer dan {BACK.days} dagen terug; een wijziging geldt vanaf nu: geef een latere tijd"
)
_TOO_LATE_NL = "ligt meer dan een jaar vooruit; kijk het jaar na (zo'n wijziging leg je later vast)"


def _within_horizon(start: datetime, end: datetime, now: datetime) -> None:
    errors = [
        FieldError(
            f"/{name}",
            *((_TOO_EARLY, _TOO_EARLY_NL) if moment < now else (_TOO_LATE, _TOO_LATE_NL)),
        )
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
        raise invalid([FieldError("", e["msg"].removeprefix("Value error, "), field_text(e))
                       for e in exc.errors()]) from None  # fmt: skip
    members = config.network_of(network)
    own = {*members.members, *members.coordinators} if members else set()
    if body.kind == "extra":
        # Someone of the gebied's network, or of the regional backup, which serves every
        # gebied; a colleague of another gebied is added by their own coordinator (in
        # the network file), whose roster it also changes.
        backup = {*config.backup.members, *config.backup.coordinators}
        if body.specialist not in own | backup:
            raise invalid([FieldError(
                "/specialist", f"not in the network of {network} nor the regional backup; "
                "a colleague of another gebied is added by their own coordinator",
                f"niet in het netwerk van {network} of de regionale achtervang; een collega "
                "van een ander gebied wordt door de eigen coördinator toegevoegd",
            )])  # fmt: skip
        if body.gebied != network:
            raise invalid(
                [
                    FieldError(
                        "/gebied",
                        "an extra shift is in your own gebied",
                        "een extra dienst is in je eigen gebied",
                    )
                ]
            )
    elif body.specialist not in own:
        raise invalid(
            [
                FieldError(
                    "/specialist",
                    f"not in the network of {network}",
                    f"niet in het netwerk van {network}",
                )
            ]
        )
    if body.replaced_by is not None and body.replaced_by not in config.by_id:
        raise invalid([FieldError("/replaced_by", "not in the networks", "niet in de netwerken")])
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
) -> Done[RosterChangeRef]:
    _coordinator_of(principal, network)
    change = _checked(config, network, body, now)
    start, end = config.local(change.start), config.local(change.end)
    async with conn.transaction():
        await _hold(conn, [change.specialist])
        new_id: int = await conn.fetchval(
            _Q["add"], change.kind, change.specialist, start, end, change.gebied,
            change.replaced_by, network, body.reason, principal.name, now, principal.id,
            endpoint, request_id,
        )  # fmt: skip
        effects = await _take_effect(conn, config, [change.specialist], principal, now=now,
                                     endpoint=endpoint, request_id=request_id)  # fmt: skip
    return Done(RosterChangeRef(id=new_id, withdrawn=False), effects)


async def withdraw(
    conn: asyncpg.Connection,
    config: NetworkConfig,
    network: str,
    change_id: int,
    principal: Principal,
    *,
    now: datetime,
    endpoint: str,
    request_id: str,
) -> Done[RosterChangeRef]:
    _coordinator_of(principal, network)
    async with conn.transaction():
        row = await conn.fetchrow(_Q["withdraw"], change_id, now, network, principal.id,
                                  endpoint, request_id)  # fmt: skip
        if row is None:
            raise conflict(
                "no current change with this id in your gebied's roster",
                "deze wijziging staat niet (meer) in het rooster van je gebied",
            )
        # An extra shift or a swap withdrawn: who worked it may be off duty now.
        people = [p for p in (row["specialist"], row["replaced_by"]) if p is not None]
        await _hold(conn, people)
        effects = await _take_effect(conn, config, people, principal, now=now,
                                     endpoint=endpoint, request_id=request_id)  # fmt: skip
    return Done(RosterChangeRef(id=change_id, withdrawn=True), effects)


#: Offers made because their person was on duty; a coordinator's (the escalation chain)
#: and an operator's (reassigned by hand) do not depend on the roster.
_DUTY_TIERS = ["continuity", "network", "backup"]
_ALL_TIERS = [*_DUTY_TIERS, "coordinator", "operator", "handover"]


async def _hold(conn: asyncpg.Connection, people: list[str]) -> None:
    """Hold ``people`` until the change commits: offers to them in flight commit first
    (and are withdrawn below), later ones see the change."""
    for person in sorted(set(people)):
        await conn.execute(_Q["hold_person"], person)


async def _take_effect(
    conn: asyncpg.Connection,
    config: NetworkConfig,
    people: list[str],
    principal: Principal,
    *,
    now: datetime,
    endpoint: str,
    request_id: str,
) -> tuple[Effect, ...]:
    """In the change's transaction: withdraw the open offers of ``people`` whom the roster
    now takes off duty; what must follow the commit."""
    changes = as_changes(await current(conn, now))
    working = {d.specialist for d in on_duty(config, now, changes)}
    absent = absent_at(config, now, changes)
    effects: list[Effect] = [RostersChanged()]
    for person in people:
        if person in working:
            continue
        tiers = _ALL_TIERS if person in absent else _DUTY_TIERS
        rows = await conn.fetch(_Q["withdraw_offers"], person, now, tiers, principal.id,
                                endpoint, request_id)  # fmt: skip
        effects += [enqueue(r) for r in rows]
        if rows:
            effects.append(Tell(person, "offer_withdrawn", {
                "assignment_ids": [r["assignment_id"] for r in rows], "why": "roster",
                "link": "/api/v1/me/assignments",
            }))  # fmt: skip
    return tuple(effects)


async def current(conn: asyncpg.Connection | asyncpg.Pool, now: datetime) -> list[RosterChangeOut]:
    """Changes running now or to come (night shifts: from a day back)."""
    return [_out(r) for r in await conn.fetch(_Q["current"], now - timedelta(days=1))]


def as_changes(rows: list[RosterChangeOut]) -> list[Change]:
    return [Change(kind=r.kind, specialist=r.specialist, start=r.start, end=r.end,
                   gebied=r.gebied, replaced_by=r.replaced_by) for r in rows]  # fmt: skip
