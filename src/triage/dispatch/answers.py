"""A specialist answers offers and records first contact (the API side of dispatch).

Only the specialist an assignment was offered to may answer it, and only while it is
offered; a decline needs a reason and sends the melding to the next candidate (queued
again after the commit: the answer's effects). First contact closes the 24-72 hour norm
for the melding.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

import asyncpg
from pydantic import BaseModel, Field, field_validator

from triage.auth.principal import Principal
from triage.effects import Changed, Done, Enqueue
from triage.intake.models import CLOCK_SKEW
from triage.observability import metrics
from triage.problems import FieldError, Problem, conflict, forbidden, invalid, not_found
from triage.request_body import Moment, RequestBody
from triage.store.sql import load_queries
from triage.vocabulary import Level

_Q = load_queries("triage.dispatch", "dispatch.sql")


class DeclineIn(RequestBody):
    reason: str = Field(min_length=5, max_length=1000, description="Why; the next one reads it.")


class AnswerOut(BaseModel):
    assignment_id: UUID
    melding_id: UUID
    state: Literal["accepted", "declined"]
    # For the queue when declined: where and how urgent (ids and codes only).
    gebied: str
    level: Level
    respond_before: datetime


class AssignmentOut(BaseModel):
    assignment_id: UUID
    melding_id: UUID
    case_id: UUID
    state: Literal["offered", "accepted"]
    tier: str
    reasons: list[str] = Field(description="Why it was offered to you, in Dutch.")
    offered_at: datetime
    answer_before: datetime
    level: Level
    respond_before: datetime
    melding_status: str
    gebied: str
    category: str = Field(description="The melding's category (a code of the scoring rules).")
    woonplaats: str | None = Field(
        description="Where the household lives, as reported: enough to weigh an offer "
        "(the way there, the wijk) before reading the melding."
    )


class AssignmentsOut(BaseModel):
    assignments: list[AssignmentOut]


Channel = Literal["telefoon", "huisbezoek", "video", "op_locatie", "anders"]


class FirstContactIn(RequestBody):
    """How first contact went; without a body it is by phone, now."""

    at: Moment | None = Field(
        default=None, strict=False,
        description="When contact was made (RFC 3339 with offset), if earlier than now: "
        "not before the melding was received, not in the future. The milestones run from it.",
    )  # fmt: skip
    channel: Channel = Field(default="telefoon", description="How the household was reached.")
    note: str | None = Field(
        default=None,
        min_length=1,
        max_length=2000,
        description="For colleagues; erased with the case (retention).",
    )

    @field_validator("at", mode="before")
    @classmethod
    def _rfc3339(cls, value: object) -> object:
        # Lax above only to take the string: not a number of seconds, not a date alone.
        if value is not None and not isinstance(value, str):
            raise ValueError(
                "give an RFC 3339 timestamp with offset, e.g. 2026-11-22T21:15:00+01:00"
            )
        return value


class ContactOut(BaseModel):
    melding_id: UUID
    status: Literal["contacted"]
    first_contact_at: datetime
    channel: Channel


def _specialist(principal: Principal) -> str:
    if not principal.in_network:
        raise forbidden("offers are answered by the specialist (or coordinator) they went to")
    return principal.name


async def answer(
    conn: asyncpg.Connection,
    assignment_id: UUID,
    principal: Principal,
    *,
    decline: DeclineIn | None,
    now: datetime,
    endpoint: str,
    request_id: str,
) -> Done[AnswerOut]:
    """Accept (``decline`` None) or decline an offer made to the caller."""
    me = _specialist(principal)
    async with conn.transaction():
        row = await conn.fetchrow(_Q["assignment_for_answer"], assignment_id)
        if row is None or row["specialist"] != me:
            raise not_found("no offer with this id made to you")
        if row["state"] != "offered":
            raise conflict(
                f"this offer is {row['state']} already; it cannot be answered now",
                "dit aanbod is al afgehandeld of verlopen; het kan niet meer beantwoord worden",
            )
        if decline is None:
            await conn.execute(_Q["accept"], assignment_id, now, principal.id, endpoint,
                               request_id, principal.role)  # fmt: skip
        else:
            await conn.execute(_Q["decline"], assignment_id, now, principal.id, endpoint,
                               request_id, decline.reason, principal.role)  # fmt: skip
    if decline is None:  # committed
        waited = (now - row["created_at"]).total_seconds()
        metrics.TIME_TO_ACCEPT.labels(row["urgency_level"]).observe(waited)
    answer = AnswerOut(
        assignment_id=assignment_id, melding_id=row["melding_id"],
        state="accepted" if decline is None else "declined", gebied=row["gebied"],
        level=Level(row["urgency_level"]), respond_before=row["respond_before"],
    )  # fmt: skip
    if decline is None:
        return Done(answer, (Changed(answer.gebied, answer.melding_id),))
    return Done(answer, (Enqueue(answer.gebied, answer.melding_id, answer.level,
                                 answer.respond_before),))  # fmt: skip


async def first_contact(
    conn: asyncpg.Connection,
    melding_id: UUID,
    principal: Principal,
    contact: FirstContactIn | None = None,
    *,
    now: datetime,
    endpoint: str,
    request_id: str,
) -> Done[ContactOut]:
    me = _specialist(principal)
    contact = contact or FirstContactIn()
    at = contact.at or now
    if at > now + CLOCK_SKEW:
        raise invalid(
            [
                FieldError(
                    "/at",
                    "contact cannot be recorded ahead of time",
                    "eerste contact kan niet in de toekomst liggen",
                )
            ]
        )
    done = await conn.fetchrow(_Q["first_contact"], melding_id, now, principal.id, endpoint,
                               request_id, me, principal.role, at, contact.channel,
                               contact.note)  # fmt: skip
    if done is None:
        raise _why_no_contact(await conn.fetchrow(_Q["first_contact_refused"], melding_id, me),
                              at)  # fmt: skip
    in_time = "true" if at <= done["respond_before"] else "false"
    metrics.FIRST_CONTACTS.labels(done["gebied"], done["urgency_level"], in_time).inc()
    answer = ContactOut(melding_id=melding_id, status="contacted", first_contact_at=at,
                        channel=contact.channel)  # fmt: skip
    return Done(answer, (Changed(done["gebied"], melding_id),))


def _why_no_contact(row: asyncpg.Record | None, at: datetime) -> Problem:
    """Which of first contact's rules the request broke (the update says only that one
    did), so that the specialist knows what to change."""
    if row is None or not row["mine"]:
        return conflict("first contact is recorded by the specialist who accepted the melding",
                        "eerste contact legt vast wie de melding aannam")  # fmt: skip
    if row["status"] == "contacted":
        return conflict("first contact was recorded already; it is recorded once",
                        "eerste contact is al vastgelegd; dat gebeurt één keer")  # fmt: skip
    if row["status"] != "assigned":
        return conflict(f"the melding is {row['status']}: no first contact is recorded for it",
                        "deze melding wacht niet (meer) op eerste contact")  # fmt: skip
    if at < row["received_at"]:
        return invalid([FieldError("/at", "contact cannot be before the melding was received",
                                   "eerste contact kan niet vóór de melding liggen: die kwam "
                                   "later binnen")])  # fmt: skip
    return conflict("first contact was not recorded; read the melding again and retry",
                    "eerste contact is niet vastgelegd; lees de melding opnieuw en probeer "
                    "het nog eens")  # fmt: skip


async def my_assignments(conn: asyncpg.Connection, principal: Principal) -> AssignmentsOut:
    rows = await conn.fetch(_Q["my_assignments"], _specialist(principal))
    return AssignmentsOut(
        assignments=[
            AssignmentOut(
                assignment_id=r["id"], melding_id=r["melding_id"], case_id=r["case_id"],
                state=r["state"], tier=r["tier"], reasons=r["reasons"],
                offered_at=r["offered_at"], answer_before=r["answer_before"],
                level=Level(r["urgency_level"]), respond_before=r["respond_before"],
                melding_status=r["status"], gebied=r["gebied"], category=r["category"],
                woonplaats=r["woonplaats"],
            )
            for r in rows
        ]
    )  # fmt: skip
