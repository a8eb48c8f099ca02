"""Warm handover of a case's lead: proposed, then accepted; never dropped in between.

The lead (casusregie) is whoever first accepted a melding of the case. They, or a
coordinator of the case's gebied, propose a colleague who may be given a melding of the
gebied by hand (its network, the regional backup: the colleague reads the case from the
proposal on); the case stays theirs until the colleague accepts ("ik laat niet los
voordat een ander overneemt"). Both steps audited.

The acceptance moves the work with the lead, in its transaction: the former lead's
accepted meldingen of the case become the new lead's (assignments of tier 'handover'),
their open offers on it are withdrawn and queued again (the new lead, now the case's
lead, is the first candidate); after the commit both are told.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
from pydantic import BaseModel, Field

from triage.auth.principal import Principal
from triage.effects import Changed, Done, Effect, Tell, enqueue
from triage.ids import uuid7
from triage.problems import FieldError, Problem, conflict, forbidden, invalid
from triage.request_body import RequestBody
from triage.routing.network import NetworkConfig
from triage.store.sql import load_queries
from triage.vocabulary import UserRole

_Q = load_queries("triage.cases", "handover.sql")


class HandoverIn(RequestBody):
    to: str = Field(min_length=1, max_length=64, description="The colleague's id.")
    reason: str = Field(min_length=5, max_length=1000)


class HandoverOut(BaseModel):
    case_id: UUID
    from_lead: str | None
    to_lead: str
    requested_at: datetime
    accepted: bool


def _staff(principal: Principal) -> None:
    if not principal.in_network:
        raise forbidden("a case's lead, the colleague taking over, or a coordinator")


def _out(row: asyncpg.Record, *, accepted: bool) -> HandoverOut:
    return HandoverOut(case_id=row["case_id"], from_lead=row["from_lead"],
                       to_lead=row["to_lead"], requested_at=row["requested_at"],
                       accepted=accepted)  # fmt: skip


async def propose(
    conn: asyncpg.Connection,
    config: NetworkConfig,
    case_id: UUID,
    change: HandoverIn,
    principal: Principal,
    *,
    now: datetime,
    endpoint: str,
    request_id: str,
) -> Done[HandoverOut]:
    _staff(principal)
    if change.to not in config.by_id:
        raise invalid(
            [
                FieldError(
                    "/to",
                    "not a specialist or coordinator of the networks",
                    "geen specialist of coördinator van de netwerken",
                )
            ]
        )
    if change.to == principal.name:
        raise invalid(
            [
                FieldError(
                    "/to",
                    "propose a colleague, not yourself",
                    "draag over aan een collega, niet aan jezelf",
                )
            ]
        )
    coordinator = principal.role == UserRole.coordinator
    gebied = await conn.fetchval(_Q["proposable"], case_id, principal.name, coordinator,
                                 principal.gebied)  # fmt: skip
    if gebied is None:
        raise _not_yours()
    # The colleague reads all of the case once it is proposed to them (to decide whether
    # to take it): only someone who may be given a melding of its gebied by hand.
    if change.to not in config.may_take(gebied):
        raise invalid([FieldError(
            "/to", f"works in another gebied; propose someone of the network of {gebied}, "
            "or of the regional backup",
            "deze collega werkt in een ander gebied; kies iemand uit het netwerk van het "
            "gebied of de regionale achtervang",
        )])  # fmt: skip
    try:
        row = await conn.fetchrow(
            _Q["propose"], case_id, change.to, principal.name, now, change.reason,
            coordinator, principal.gebied, principal.id, principal.role, endpoint,
            request_id, gebied,
        )  # fmt: skip
    except asyncpg.UniqueViolationError:
        raise conflict(
            "a handover of this case is already proposed; it waits for an answer",
            "er is al een overdracht van deze casus voorgesteld; die wacht op antwoord",
        ) from None
    if row is None:  # changed since it was read: no longer theirs, or in another gebied
        raise _not_yours()
    # The colleague hears of it at once: an open "Mijn werk" shows the proposal to take.
    # So does the lead, when a coordinator proposed it: their case is to go to another.
    link = f"/api/v1/cases/{case_id}"
    told = [Tell(change.to, "handover_proposed", {"case_id": case_id, "as": "to", "link": link})]
    lead = row["from_lead"]
    if lead is not None and lead not in (principal.name, change.to):
        told.append(Tell(lead, "handover_proposed",
                         {"case_id": case_id, "as": "lead", "link": link}))  # fmt: skip
    return Done(_out(row, accepted=False), tuple(told))


def _not_yours() -> Problem:
    return conflict("only the lead of an open case, or a coordinator of its gebied, "
                    "proposes a handover",
                    "alleen de regisseur van een open casus, of een coördinator van het "
                    "gebied, stelt een overdracht voor")  # fmt: skip


async def accept(
    conn: asyncpg.Connection,
    config: NetworkConfig,
    case_id: UUID,
    principal: Principal,
    *,
    now: datetime,
    endpoint: str,
    request_id: str,
) -> Done[HandoverOut]:
    _staff(principal)
    async with conn.transaction():
        row = await conn.fetchrow(_Q["accept"], case_id, principal.name, now, principal.id,
                                  principal.role, endpoint, request_id)  # fmt: skip
        if row is None:
            raise conflict(
                "no handover of this case is proposed to you",
                "aan jou is geen overdracht van deze casus voorgesteld",
            )
        former = row["from_lead"]
        work = [] if former is None else await conn.fetch(
            _Q["end_lead_work"], case_id, former, now, principal.id, principal.role,
            endpoint, request_id,
        )  # fmt: skip
        accepted = [w["melding_id"] for w in work if w["state"] == "accepted"]
        taken = []
        if accepted:
            named = config.by_id[former].naam if former in config.by_id else former
            reasons = [f"Warme overdracht van {named}."]
            taken = await conn.fetch(
                _Q["take_over"], accepted, principal.name, reasons, config.version, now,
                [uuid7() for _ in accepted], principal.id, principal.role, endpoint, request_id,
            )  # fmt: skip
    effects: list[Effect] = [enqueue(w) for w in work if w["id"] is not None]
    effects += [Changed(t["gebied"], t["melding_id"]) for t in taken]  # who has it
    moved = {"case_id": case_id, "melding_ids": accepted, "link": f"/api/v1/cases/{case_id}"}
    effects.append(Tell(principal.name, "handover", moved))
    if former is not None:
        effects.append(Tell(former, "handed_over", moved))
    return Done(_out(row, accepted=True), tuple(effects))


class HandoverEndIn(RequestBody):
    reason: str = Field(min_length=5, max_length=1000, description="Why; the others read it.")


async def withdraw(
    conn: asyncpg.Connection,
    case_id: UUID,
    end: HandoverEndIn,
    principal: Principal,
    *,
    now: datetime,
    endpoint: str,
    request_id: str,
) -> Done[HandoverOut]:
    """The case's open proposal ends without a takeover: declined by the colleague it was
    proposed to, or withdrawn by the lead, whoever proposed it or a coordinator of the
    gebied. The lead stays; the others involved are told, and the case can be proposed
    to someone else."""
    _staff(principal)
    coordinator = principal.role == UserRole.coordinator
    row = await conn.fetchrow(
        _Q["withdraw"], case_id, principal.name, coordinator, principal.gebied, now,
        end.reason, principal.id, principal.role, endpoint, request_id,
    )  # fmt: skip
    if row is None:
        raise conflict(
            "no open handover of this case that you may end: the colleague it was proposed "
            "to, the lead, whoever proposed it or a coordinator of the gebied ends it",
            "geen open overdracht van deze casus die jij kunt beëindigen: dat doen de "
            "collega aan wie hij is voorgesteld, de regisseur, wie hem voorstelde of een "
            "coördinator van het gebied",
        )  # fmt: skip
    ended = {"case_id": case_id, "by": principal.name, "link": f"/api/v1/cases/{case_id}"}
    told = {row["to_lead"], row["from_lead"], row["requested_by"]} - {principal.name, None}
    effects = tuple(Tell(person, "handover_withdrawn", ended) for person in sorted(told))
    return Done(_out(row, accepted=False), effects)
