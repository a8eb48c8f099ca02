"""What operators and coordinators look at: who is on duty, what waits, what escalated.

Ids, codes, times and staff names only: a household's personal data is read through the
melding and case endpoints, which audit every read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

import asyncpg
from pydantic import BaseModel, Field

from triage.auth.principal import Principal, ReadScope
from triage.cases.milestones import MilestoneOverdueOut, overdue_in_scope
from triage.problems import forbidden
from triage.region import REGIONAL_POOL
from triage.routing.network import Change, NetworkConfig
from triage.routing.roster import Duty, on_duty, turns
from triage.store.sql import load_queries
from triage.vocabulary import Level

_Q = load_queries("triage.dispatch", "dispatch.sql")


class PersonOnDuty(BaseModel):
    id: str
    naam: str
    organisatie: str
    expertise: list[str]
    until: datetime
    via: str


class Coordinator(BaseModel):
    id: str
    naam: str


class OnDutyOut(BaseModel):
    gebied: str
    at: datetime
    on_duty: list[PersonOnDuty]
    backup: list[PersonOnDuty]
    coordinators: list[Coordinator]


class Waiting(BaseModel):
    melding_id: UUID
    case_id: UUID
    status: str
    level: Level
    received_at: datetime
    respond_before: datetime
    offered_to: str | None
    answer_before: datetime | None


class QueueOut(BaseModel):
    gebied: str
    meldingen: list[Waiting]


class EscalationOut(BaseModel):
    melding_id: UUID
    kind: Literal["at_risk", "breached", "no_candidate"] = Field(
        description="at_risk: most of the window used without first contact; breached: the "
        "deadline passed; no_candidate: nobody on duty nor in the escalation chain was left "
        "to offer it to (everyone passed on it): the people told act before `until`, or a "
        "new round of offers starts then."
    )
    at: datetime
    gebied: str
    coordinator: str = Field(description="The first of the people told.")
    told: list[str] = Field(description="Everyone told, by id, in the order of the chain.")
    until: datetime | None = Field(
        default=None, description="no_candidate: when a new round of offers starts."
    )
    status_then: str
    status_now: str
    level: Level
    respond_before: datetime


class EscalationsOut(BaseModel):
    escalations: list[EscalationOut]
    milestones_overdue: list[MilestoneOverdueOut] = Field(
        description="Case milestones past their due date and not done, oldest first."
    )


def staff_scope(principal: Principal, gebied: str | None) -> ReadScope:
    """Users who work with the queues: the region, or their own gebied."""
    scope = principal.read_scope()
    if scope is None or scope.client_id is not None:
        raise forbidden("the queues and rosters are for desk and network staff")
    if gebied is not None and not scope.everything and gebied != scope.gebied:
        raise forbidden("you see your own gebied")
    return scope


def on_duty_now(
    config: NetworkConfig, gebied: str, now: datetime, extra: Sequence[Change] = ()
) -> OnDutyOut:
    duties = on_duty(config, now, extra)

    def people(where: str) -> list[PersonOnDuty]:
        # One line a person: an extra shift over their own is one stretch on duty, until
        # the later end (both hold now, so nothing lies between), by both.
        by_person: dict[str, list[Duty]] = {}
        for d in duties:
            if d.gebied == where:
                by_person.setdefault(d.specialist, []).append(d)
        return [
            PersonOnDuty(
                id=who, naam=config.by_id[who].naam, organisatie=config.by_id[who].organisatie,
                expertise=config.by_id[who].expertise, until=max(d.end for d in theirs),
                via=", ".join(dict.fromkeys(d.via for d in theirs)),
            )
            for who, theirs in sorted(by_person.items())
        ]  # fmt: skip

    network = config.network_of(gebied)
    assert network is not None  # the handler checked the gebied
    return OnDutyOut(
        gebied=gebied, at=now, on_duty=people(gebied),
        backup=[] if gebied == REGIONAL_POOL else people(REGIONAL_POOL),
        coordinators=[Coordinator(id=c, naam=config.by_id[c].naam) for c in network.coordinators],
    )  # fmt: skip


def duty_of(
    config: NetworkConfig, who: str, now: datetime, extra: Sequence[Change] = ()
) -> tuple[datetime | None, datetime | None]:
    """(until when ``who`` is on duty, or None; else when their next duty begins within a
    week, or None): for their own page, which otherwise shows no offers without saying
    that none come while they are off duty."""
    current = [d.end for d in on_duty(config, now, extra) if d.specialist == who]
    if current:
        return max(current), None
    for at in turns(config, now, now + timedelta(days=7), extra):
        if at > now and any(d.specialist == who for d in on_duty(config, at, extra)):
            return None, at
    return None, None


async def unreachable(
    conn: asyncpg.Connection, config: NetworkConfig, people: Iterable[str]
) -> set[str]:
    """Who of ``people`` an offer would not reach: no account to see it in the console
    and no system of their organisation to hear of it. Dispatch still offers to them (a
    person signing in through the identity provider has an account from their first
    login on), so their coordinator is shown whom to give a way in."""
    ids = sorted(set(people) & config.by_id.keys())
    rows = await conn.fetch(_Q["unreachable"], ids, [config.by_id[i].organisatie for i in ids])
    return {r["id"] for r in rows}


async def gebied_queue(conn: asyncpg.Connection, gebied: str, limit: int) -> QueueOut:
    rows = await conn.fetch(_Q["gebied_queue"], gebied, limit)
    return QueueOut(
        gebied=gebied,
        meldingen=[
            Waiting(
                melding_id=r["id"], case_id=r["case_id"], status=r["status"],
                level=Level(r["urgency_level"]), received_at=r["received_at"],
                respond_before=r["respond_before"], offered_to=r["specialist"],
                answer_before=r["answer_before"],
            )
            for r in rows
        ],
    )  # fmt: skip


class ChainOffer(BaseModel):
    """A melding that lies with someone of the escalation chain (a coordinator), because
    nobody on duty with room was left to offer it to."""

    melding_id: UUID
    specialist: str
    state: Literal["offered", "accepted"]
    offered_at: datetime
    level: Level
    respond_before: datetime


async def chain_offers(
    conn: asyncpg.Connection, config: NetworkConfig, gebied: str, limit: int
) -> list[ChainOffer]:
    """What of ``gebied`` lies with its escalation chain now, newest first: escalated
    along the chain, as the offer's reasons say ("Opgeschaald naar ..."), which the
    escalations (deadlines, nobody left at all) do not list."""
    rows = await conn.fetch(_Q["chain_offers"], config.chain(gebied), gebied, limit)
    return [
        ChainOffer(melding_id=r["melding_id"], specialist=r["specialist"], state=r["state"],
                   offered_at=r["offered_at"], level=Level(r["urgency_level"]),
                   respond_before=r["respond_before"])
        for r in rows
    ]  # fmt: skip


async def escalations(
    conn: asyncpg.Connection, scope: ReadScope, now: datetime, limit: int
) -> EscalationsOut:
    """The last day's escalations in the caller's scope, newest first."""
    rows = await conn.fetch(
        _Q["escalations"], scope.everything, scope.gebied, now - timedelta(days=1), limit
    )
    return EscalationsOut(
        escalations=[
            EscalationOut(
                melding_id=r["melding_id"], kind=r["kind"], at=r["at"], gebied=r["gebied"],
                coordinator=r["coordinator"], told=r["told"], until=r["until"],
                status_then=r["status"],
                status_now=r["status_now"], level=Level(r["urgency_level"]),
                respond_before=r["respond_before"],
            )
            for r in rows
        ],
        milestones_overdue=await overdue_in_scope(conn, scope.everything, scope.gebied, now,
                                                  limit),
    )  # fmt: skip
