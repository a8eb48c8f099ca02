"""An operator sets a melding's urgency by hand (human in the loop).

The computed score stays as it was; the level, and with it the deadline and the queue
order, follow the operator. The reason is mandatory, the override is kept beside what it
replaced, it appears among the melding's reasons, and it is audited.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from uuid import UUID

import asyncpg
from pydantic import BaseModel, Field

from triage.auth.principal import Principal
from triage.effects import Changed, Done, Effect, Enqueue, Tell
from triage.problems import conflict, forbidden
from triage.request_body import RequestBody
from triage.scoring.rules import Rules
from triage.store.sql import load_queries
from triage.vocabulary import ROLE_NL, Level

_Q = load_queries("triage.scoring", "override.sql")


class UrgencyOverrideIn(RequestBody):
    level: Level = Field(description="crisis, acuut, hoog or regulier.")
    reason: str = Field(min_length=5, max_length=1000, description="Why; shown to colleagues.")


class ShortenedOffer(BaseModel):
    assignment_id: UUID
    specialist: str
    answer_before: datetime


class UrgencyOverrideOut(BaseModel):
    melding_id: UUID
    gebied: str
    level: Level
    respond_before: datetime
    status: str
    offer: ShortenedOffer | None = Field(
        default=None,
        description="The open offer, when the new level gave it less time to be answered: "
        "its specialist is told.",
    )


async def override_urgency(
    conn: asyncpg.Connection,
    rules: Rules,
    melding_id: UUID,
    change: UrgencyOverrideIn,
    principal: Principal,
    *,
    now: datetime,
    answer_within_minutes: Mapping[str, int],
    endpoint: str,
    request_id: str,
) -> Done[UrgencyOverrideOut] | None:
    """None when there is no such melding in the caller's scope (or it is an adviesvraag).
    ``answer_within_minutes``: how soon an offer must be answered, by level (the
    network's); an offer out on the melding is held to the new level's time if that is
    sooner than its own."""
    scope = principal.change_scope()
    if scope is None:
        raise forbidden("operators, CIT and coordinators (in their gebied) set urgency by hand")
    if change.level is Level.advies:
        raise forbidden("an adviesvraag is answered, not dispatched; its level is fixed")
    window = rules.levels[change.level].respond_within_hours * 3600
    async with conn.transaction():
        await conn.execute(_Q["lock_offer"], melding_id)
        row = await conn.fetchrow(
            _Q["override_urgency"], melding_id, change.level.value, window, change.reason, now,
            principal.role, principal.kind, principal.id, scope.everything, scope.gebied,
            endpoint, request_id, answer_within_minutes[change.level] * 60,
            ROLE_NL.get(principal.role, principal.role),  # read at the desk: its word
        )  # fmt: skip
    if row is None:
        if await conn.fetchval(_Q["closed"], melding_id, scope.everything, scope.gebied):
            raise conflict("a closed melding keeps the urgency it was closed with",
                           "een afgesloten melding houdt de urgentie waarmee zij werd "
                           "afgesloten")  # fmt: skip
        return None
    answer = UrgencyOverrideOut(
        melding_id=row["id"],
        gebied=row["gebied"],
        level=Level(row["urgency_level"]),
        respond_before=row["respond_before"],
        status=row["status"],
        offer=None if row["offer_id"] is None else ShortenedOffer(
            assignment_id=row["offer_id"], specialist=row["offer_specialist"],
            answer_before=row["offer_answer_before"],
        ),
    )  # fmt: skip
    effects: list[Effect] = []
    if answer.status == "queued":  # the queue order follows the operator
        effects.append(Enqueue(answer.gebied, answer.melding_id, answer.level,
                               answer.respond_before))  # fmt: skip
    else:  # not on a queue: the werkvoorraad pages that show its level are told
        effects.append(Changed(answer.gebied, answer.melding_id))
    if answer.offer is not None:  # less time to answer: the specialist must know
        effects.append(Tell(answer.offer.specialist, "offer_changed", {
            "assignment_id": answer.offer.assignment_id, "melding_id": answer.melding_id,
            "answer_before": answer.offer.answer_before, "link": "/api/v1/me/assignments",
        }))  # fmt: skip
    return Done(answer, tuple(effects))
