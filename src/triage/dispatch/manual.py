"""Operators, CIT and coordinators steer dispatch by hand: give a melding to a named
person, or hand a queued melding to another gebied's team. With a reason, audited.

A reassignment ends the melding's active offer or assignment ('reassigned') and offers
it to the named person (tier 'operator', the reason among its reasons); the
one-active-assignment index still holds. A melding not yet accepted (queued, offered,
escalated) can be moved to another gebied: an open offer is withdrawn, and it moves queue
after the commit (the answer's effects).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

import asyncpg
from pydantic import BaseModel, Field

from triage.auth.principal import Principal
from triage.dispatch.offer import offer_notice
from triage.effects import Done, Effect, Enqueue, Tell, Withdraw
from triage.ids import uuid7
from triage.notify import webhooks
from triage.notify.webhooks import Notice
from triage.problems import FieldError, Problem, conflict, forbidden, invalid, not_found
from triage.request_body import VOCABULARY, RequestBody
from triage.routing.network import NetworkConfig
from triage.store.sql import load_queries
from triage.vocabulary import ROLE_NL, WAITING, Level

_Q = load_queries("triage.dispatch", "dispatch.sql")


class ReassignIn(RequestBody):
    to: str = Field(min_length=1, max_length=64, description="The specialist's id.")
    reason: str = Field(min_length=5, max_length=1000)


class GebiedIn(RequestBody):
    gebied: str = Field(min_length=1, max_length=40,
                        json_schema_extra={VOCABULARY: "gebieden_and_pool"})  # fmt: skip
    reason: str = Field(min_length=5, max_length=1000)


class ReassignedOut(BaseModel):
    melding_id: UUID
    gebied: str
    assignment_id: UUID
    specialist: str
    previous: str | None
    answer_before: datetime


class MovedOut(BaseModel):
    melding_id: UUID
    gebied: str
    level: Level
    respond_before: datetime


def _steering(principal: Principal) -> tuple[bool, str | None]:
    scope = principal.change_scope()
    if scope is None:
        raise forbidden("operators, CIT and coordinators (in their gebied) steer dispatch")
    return scope.everything, scope.gebied


async def reassign(
    conn: asyncpg.Connection,
    config: NetworkConfig,
    melding_id: UUID,
    change: ReassignIn,
    principal: Principal,
    *,
    now: datetime,
    endpoint: str,
    request_id: str,
) -> Done[ReassignedOut]:
    everything, gebied = _steering(principal)
    if change.to not in config.by_id:
        raise not_found("no specialist or coordinator with this id in the networks")
    async with conn.transaction():
        await conn.execute(_Q["lock_active"], melding_id)
        row = await conn.fetchrow(_Q["melding_for_reassign"], melding_id, everything, gebied)
        if row is None:
            raise not_found("no melding with this id that you may steer")
        if change.to not in config.may_take(row["gebied"]):
            raise invalid([FieldError(
                "/to", f"works in another gebied; give someone of the network of "
                f"{row['gebied']}, or of the regional backup",
                "deze collega werkt in een ander gebied; kies iemand uit het netwerk van het "
                "gebied of de regionale achtervang",
            )])  # fmt: skip
        if row["kind"] != "melding" or row["status"] not in (
            "queued",
            "offered",
            "assigned",
            "escalated",
        ):
            raise conflict(
                f"a melding that is {row['status']} is not dispatched any more",
                "deze melding wordt niet meer toegewezen (al opgepakt of afgesloten)",
            )
        if row["specialist"] == change.to:
            raise conflict(
                f"{change.to} has this melding already", "deze collega heeft de melding al"
            )
        answer_before = now + timedelta(minutes=config.answer_within_minutes[row["urgency_level"]])
        assignment_id = uuid7()
        await conn.execute(_Q["end_active"], melding_id, now)
        await conn.execute(
            _Q["reassign"], melding_id, assignment_id, row["case_id"], now, change.to,
            row["gebied"], [f"Met de hand toegewezen ({ROLE_NL[principal.role]}): {change.reason}"],
            config.version, answer_before, principal.id, principal.role, endpoint, request_id,
        )  # fmt: skip
        notices = [offer_notice(
            config, assignment_id=assignment_id, melding_id=melding_id, specialist=change.to,
            gebied=row["gebied"], level=row["urgency_level"], tier="operator",
            answer_before=answer_before,
        )]  # fmt: skip
        if row["specialist"] is not None:
            notices.append(Notice(config.by_id[row["specialist"]].organisatie, "reassigned", {
                "melding_id": melding_id, "specialist": row["specialist"],
                "link": f"/api/v1/meldingen/{melding_id}",
            }))  # fmt: skip
        await webhooks.record(conn, notices, now)
    answer = ReassignedOut(
        melding_id=melding_id, gebied=row["gebied"], assignment_id=assignment_id,
        specialist=change.to, previous=row["specialist"], answer_before=answer_before,
    )  # fmt: skip
    effects: list[Effect] = [
        Withdraw(answer.gebied, melding_id),  # offered now, not queued
        Tell(change.to, "offer", {"assignment_id": assignment_id, "melding_id": melding_id,
                                  "tier": "operator", "link": "/api/v1/me/assignments"}),
    ]  # fmt: skip
    if answer.previous is not None:
        effects.append(Tell(answer.previous, "reassigned", {
            "melding_id": melding_id, "link": "/api/v1/me/assignments",
        }))  # fmt: skip
    return Done(answer, tuple(effects))


def _stays(kind: str, status: str) -> Problem:
    """Why a melding does not move to another gebied, with what to do instead: what helps
    depends on where it is (a closed one cannot be given to anyone any more)."""
    if kind != "melding":
        return conflict("an adviesvraag is not dispatched, so it has no gebied to move to; "
                        "it is answered at the desk",
                        "een adviesvraag wordt niet uitgezet en gaat dus niet naar een ander "
                        "gebied; de vraag wordt bij het meldpunt beantwoord")  # fmt: skip
    if status == "assigned":
        return conflict("an accepted melding does not move to another gebied; reassign it "
                        "to someone of the other gebied, or hand the case over",
                        "een aangenomen melding gaat niet naar een ander gebied; wijs hem "
                        "toe aan iemand van dat gebied of draag de casus over")  # fmt: skip
    if status == "contacted":
        return conflict("first contact was made: the melding stays where it was worked; "
                        "hand the case over to the other gebied",
                        "er is al eerste contact geweest: de melding blijft waar hij is "
                        "opgepakt; draag de casus over aan het andere gebied")  # fmt: skip
    return conflict(f"a melding that is {status} does not move to another gebied",
                    "een afgesloten melding gaat niet meer naar een ander gebied")  # fmt: skip


async def move_gebied(
    conn: asyncpg.Connection,
    gebieden: list[str],
    melding_id: UUID,
    change: GebiedIn,
    principal: Principal,
    *,
    now: datetime,
    endpoint: str,
    request_id: str,
) -> Done[MovedOut]:
    """The moved melding; it leaves the old gebied's queue for the new one's."""
    everything, gebied = _steering(principal)
    if change.gebied not in gebieden:
        raise invalid([FieldError("/gebied", "not a gebied of the region, or the regio pool")])
    async with conn.transaction():
        await conn.execute(_Q["lock_active"], melding_id)
        row = await conn.fetchrow(_Q["melding_for_reassign"], melding_id, everything, gebied)
        if row is None:
            raise not_found("no melding with this id that you may steer")
        if row["kind"] != "melding" or row["status"] not in ("queued", "offered", "escalated"):
            raise _stays(row["kind"], row["status"])
        if row["gebied"] == change.gebied:
            raise conflict(
                f"the melding is in {change.gebied} already", f"de melding is al in {change.gebied}"
            )
        effects = await move_to(conn, melding_id, row["gebied"], change.gebied, now=now,
                                actor=principal, endpoint=endpoint,
                                request_id=request_id)  # fmt: skip
    moved = MovedOut(
        melding_id=melding_id,
        gebied=change.gebied,
        level=Level(row["urgency_level"]),
        respond_before=row["respond_before"],
    )
    effects.append(Enqueue(moved.gebied, melding_id, moved.level, moved.respond_before))
    return Done(moved, tuple(effects))


async def move_to(
    conn: asyncpg.Connection,
    melding_id: UUID,
    left: str,
    gebied: str,
    *,
    now: datetime,
    actor: Principal,
    endpoint: str,
    request_id: str,
) -> list[Effect]:
    """In the caller's transaction, with the melding's open offer locked first: a melding
    not yet accepted goes from gebied ``left`` to ``gebied``, its open offer withdrawn and
    it queued there, audited as ``actor``'s act. What follows the commit, but for its
    enqueue (the caller knows its level now): off the old queue, and the person whose
    offer was withdrawn told."""
    row = await conn.fetchrow(_Q["move_gebied"], melding_id, gebied, now, actor.kind,
                              actor.id, actor.role, endpoint, request_id)  # fmt: skip
    effects: list[Effect] = [Withdraw(left, melding_id)]
    if row["withdrawn_from"] is not None:
        effects.append(Tell(row["withdrawn_from"], "offer_withdrawn", {
            "assignment_ids": [row["assignment_id"]], "why": "moved",
            "link": "/api/v1/me/assignments",
        }))  # fmt: skip
    return effects


#: Why a melding is closed before first contact (Dutch labels on the console).
CloseOutcome = Literal["dubbel", "geen_vervolg", "elders_belegd"]
CLOSE_OUTCOMES: dict[str, str] = {
    "dubbel": "dubbele melding: een wachtende melding zegt dit al",
    "geen_vervolg": "geen vervolg nodig na triage",
    "elders_belegd": "een andere organisatie heeft het opgepakt",
}


class CloseIn(RequestBody):
    outcome: CloseOutcome = Field(description="; ".join(
        f"{code}: {text}" for code, text in CLOSE_OUTCOMES.items()
    ))  # fmt: skip
    reason: str = Field(min_length=5, max_length=1000)


class ClosedOut(BaseModel):
    melding_id: UUID
    status: Literal["closed"]
    outcome: CloseOutcome
    closed_at: datetime
    closed_by: str
    ended_for: str | None = Field(description="Whose offer or assignment ended with it.")


async def close_melding(
    conn: asyncpg.Connection,
    melding_id: UUID,
    change: CloseIn,
    principal: Principal,
    *,
    now: datetime,
    endpoint: str,
    request_id: str,
) -> Done[ClosedOut]:
    """Close a melding not contacted yet (queued, offered, accepted, escalated): it leaves
    the queue and the werkvoorraad, its offer or assignment is withdrawn and its holder is
    told."""
    everything, gebied = _steering(principal)
    async with conn.transaction():
        await conn.execute(_Q["lock_active"], melding_id)
        row = await conn.fetchrow(_Q["melding_for_reassign"], melding_id, everything, gebied)
        if row is None:
            raise not_found("no melding with this id that you may steer")
        if row["kind"] != "melding" or row["status"] not in WAITING:
            raise conflict(f"a melding that is {row['status']} is not closed by hand; only "
                           "one still waiting for first contact is",
                           "alleen een melding die nog op eerste contact wacht, sluit je "
                           "met de hand af")  # fmt: skip
        ended = await conn.fetchrow(
            _Q["close_melding"], melding_id, now, change.outcome, change.reason,
            principal.kind, principal.id, principal.role, principal.name, endpoint, request_id,
        )  # fmt: skip
    answer = ClosedOut(
        melding_id=melding_id, status="closed", outcome=change.outcome, closed_at=now,
        closed_by=principal.name, ended_for=ended["specialist"],
    )  # fmt: skip
    effects: list[Effect] = [Withdraw(row["gebied"], melding_id)]  # tells the pages too
    if ended["specialist"] is not None:
        event = "offer_withdrawn" if ended["was"] == "offered" else "reassigned"
        effects.append(Tell(ended["specialist"], event, {
            "assignment_ids": [ended["assignment_id"]], "melding_id": melding_id,
            "why": "closed", "link": "/api/v1/me/assignments",
        }))  # fmt: skip
    return Done(answer, tuple(effects))
