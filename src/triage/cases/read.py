"""Reading a melding or a case: need-to-know scope in the query, every read audited."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

import asyncpg
from pydantic import BaseModel, Field

from triage.auth.principal import Principal, ReadScope
from triage.cases.milestones import milestone_out
from triage.cases.notes import NoteOut
from triage.intake.models import (
    AddressOut,
    CaseOut,
    DedupOut,
    MeldingOut,
    OfferOut,
    PersonOut,
)
from triage.intake.service import accepted_from_row
from triage.lists.people import group
from triage.observability import metrics
from triage.problems import forbidden, reason_required
from triage.store.sql import load_queries
from triage.vocabulary import UserRole

_Q = load_queries("triage.cases", "cases.sql")
#: The header in which a specialist states why they read what is not their work.
ACCESS_REASON_HEADER = "Triage-Access-Reason"
#: A reason: 10 to 500 characters that a header carries (printable Latin-1: browsers send
#: nothing else in a header) and at least three words (runs of two or more letters or
#: digits), so that it says something a coordinator can weigh.
_LETTER = "A-Za-z0-9\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff"
_OTHER = " -/:-@\\[-`{-~\u00a0-\u00bf\u00d7\u00f7"  # printable Latin-1 but letters
_WORD_RUN = re.compile(f"[{_LETTER}]{{2,}}")
_PRINTABLE = re.compile(f"[{_LETTER}{_OTHER}]*")
#: The same rule as a pattern, for the API document (checked by regex engines of others;
#: the service counts words with ``_WORD_RUN`` instead, in linear time).
ACCESS_REASON_PATTERN = (
    f"^[{_LETTER}{_OTHER}]*?[{_LETTER}]{{2}}"
    f"(?:[{_LETTER}{_OTHER}]*?[{_OTHER}]+[{_LETTER}]{{2}}){{2}}[{_LETTER}{_OTHER}]*$"
)


def reason_is_valid(reason: str) -> bool:
    """Whether a stated reason meets the rule above."""
    return (
        10 <= len(reason) <= 500
        and _PRINTABLE.fullmatch(reason) is not None
        and len(_WORD_RUN.findall(reason)) >= 3
    )


def _scope(principal: Principal) -> ReadScope:
    scope = principal.read_scope()
    if scope is None:
        raise forbidden(f"the role {principal.role} may not read meldingen or cases")
    return scope


def _address(row: asyncpg.Record) -> AddressOut:
    return AddressOut(
        postcode=row["postcode"],
        huisnummer=row["huisnummer"],
        toevoeging=row["toevoeging"],
        straat=row["straat"],
        woonplaats=row["woonplaats"],
    )


async def _not_their_work(
    conn: asyncpg.Connection, scope: ReadScope, melding_id: UUID | None, case_id: UUID | None
) -> None:
    """A specialist could not read it: when it lies in their gebied, a 403 that says how
    (a reason); else nothing, and the caller answers 404 as if there were none."""
    if scope.worker is None:
        return
    if await conn.fetchval(_Q["in_gebied_not_their_work"], melding_id, case_id, scope.gebied):
        raise reason_required(
            "this is not offered to you or accepted by you; to read it all the same, state "
            f"why in the {ACCESS_REASON_HEADER} header (10-500 characters, three words or "
            "more): the read is audited with your reason and listed for your coordinator"
        )


def _count_glass(scope: ReadScope, row: asyncpg.Record) -> None:
    if row["broke_glass"]:  # as the read's own statement audited it
        metrics.BREAK_GLASS_READS.labels(scope.gebied or "").inc()


async def read_melding(
    conn: asyncpg.Connection,
    melding_id: UUID,
    principal: Principal,
    *,
    now: datetime,
    endpoint: str,
    request_id: str,
    reason: str | None = None,
) -> MeldingOut | None:
    """The melding in ``principal``'s scope, or None; ``reason``: why a specialist reads
    one that is not their work (break the glass)."""
    scope = _scope(principal)
    row = await conn.fetchrow(
        _Q["read_melding"],
        melding_id,
        scope.everything,
        scope.gebied,
        scope.client_id,
        now,
        principal.kind,
        principal.id,
        principal.role,
        endpoint,
        request_id,
        scope.worker,
        reason,
    )
    if row is None:
        if reason is None:
            await _not_their_work(conn, scope, melding_id, None)
        return None
    _count_glass(scope, row)
    accepted = accepted_from_row(row)
    accepted.dedup = await _dedup_in_scope(conn, scope, row["case_id"], accepted.dedup)
    return MeldingOut(
        **accepted.model_dump(),
        source=row["source"],
        external_id=row["external_id"],
        received_at=row["received_at"],
        created_at=row["created_at"],
        kind=row["kind"],
        category=row["category"],
        signals=row["signals"],
        summary=row["summary"],
        address=_address(row),
        gebied_hint=row["gebied_hint"],
        persons=[PersonOut.model_validate(p) for p in row["persons"]],
        first_contact_at=row["first_contact_at"],
        first_contact_channel=row["first_contact_channel"],
        first_contact_note=row["first_contact_note"],
        closed_at=row["closed_at"],
        closed_by=row["closed_by"],
        close_outcome=row["close_outcome"],
        close_reason=row["close_reason"],
        offers=[OfferOut.model_validate(o) for o in row["offers"]],
    )


async def _dedup_in_scope(
    conn: asyncpg.Connection, scope: ReadScope, own_case: UUID, dedup: DedupOut
) -> DedupOut:
    """Recognition's candidates as far as the reader may see them. The desk and CIT see
    all; a coordinator the cases of their gebied; a specialist none but the melding's own.
    A case elsewhere stays out with its id and its evidence: "the same BSN as an open case
    of another gebied" tells of that household what its case would not show. When the
    case weighed most is such a case, the decision stays and says who settles it."""
    if scope.everything:
        return dedup
    ids = {c.case_id for c in dedup.candidates} - {own_case}
    if dedup.matched_case_id is not None and dedup.matched_case_id != own_case:
        ids.add(dedup.matched_case_id)
    visible = {own_case}
    if ids and scope.worker is None and scope.gebied is not None:
        visible |= await cases_in_gebied(conn, ids, scope.gebied)
    candidates = [c for c in dedup.candidates if c.case_id in visible]
    if dedup.matched_case_id is None or dedup.matched_case_id in visible:
        return dedup.model_copy(update={"candidates": candidates})
    return dedup.model_copy(update={
        "matched_case_id": None, "score": None, "contributions": [], "candidates": candidates,
        "reasons": [ELSEWHERE],
    })  # fmt: skip


#: Said of a review against a case the reader may not see: which case, and why, stay out.
ELSEWHERE = "Mogelijk een huishouden met een casus buiten je gebied; het meldpunt beoordeelt dit."


async def cases_in_gebied(conn: asyncpg.Connection, ids: set[UUID], gebied: str) -> set[UUID]:
    """Which of the cases ``ids`` lie in ``gebied``, as read_case counts it."""
    rows = await conn.fetch(_Q["cases_in_gebied"], sorted(ids), gebied)
    return {r["id"] for r in rows}


async def read_case(
    conn: asyncpg.Connection,
    case_id: UUID,
    principal: Principal,
    *,
    now: datetime,
    endpoint: str,
    request_id: str,
    reason: str | None = None,
) -> CaseOut | None:
    """The case in ``principal``'s scope, or None; ``reason`` as for read_melding."""
    scope = _scope(principal)
    if scope.client_id is not None:
        raise forbidden(
            "a source system reads its own meldingen only; a case holds other desks' reports"
        )
    row = await conn.fetchrow(
        _Q["read_case"],
        case_id,
        scope.everything,
        scope.gebied,
        now,
        principal.kind,
        principal.id,
        principal.role,
        endpoint,
        request_id,
        scope.worker,
        reason,
    )
    if row is None:
        if reason is None:
            await _not_their_work(conn, scope, None, case_id)
        return None
    _count_glass(scope, row)
    persons = [PersonOut.model_validate(p) for p in row["persons"]]
    return CaseOut(
        case_id=row["id"],
        household_id=row["household_id"],
        status=row["status"],
        gebied=row["gebied"],
        opened_at=row["opened_at"],
        closed_at=row["closed_at"],
        merged_into=row["merged_into"],
        previous_case_id=row["previous_case_id"],
        lead=row["lead"],
        address=_address(row),
        meldingen=row["meldingen"],
        persons=persons,
        people=group(persons),
        changes=row["changes"],
        milestones=[milestone_out(m, now) for m in row["milestones"]],
        notes=[NoteOut.model_validate(n) for n in row["notes"]],
    )


class BreakGlassOut(BaseModel):
    id: int = Field(description="The audit entry; the next page is ?before=<the last id>")
    at: datetime
    action: str = Field(description="melding.read.break_glass or case.read.break_glass")
    melding_id: UUID | None
    case_id: UUID | None
    actor: str = Field(description="Who read it (their id in the network file)")
    actor_role: str
    reason: str


class BreakGlassListOut(BaseModel):
    reads: list[BreakGlassOut]


#: How far back the list of reads with a reason goes.
BREAK_GLASS_DAYS = 30


async def break_glass(
    conn: asyncpg.Connection,
    principal: Principal,
    *,
    now: datetime,
    limit: int,
    before: int | None = None,
) -> BreakGlassListOut:
    """The reads that took a stated reason in the coordinator's gebied (the reader's, when
    they read) in the last 30 days. Not the admin's: a reason may name people."""
    if principal.role != UserRole.coordinator or principal.gebied is None:
        raise forbidden("a coordinator sees the reads of their own gebied")
    rows = await conn.fetch(
        _Q["break_glass"],
        principal.gebied,
        now - timedelta(days=BREAK_GLASS_DAYS),
        limit,
        before,
    )
    return BreakGlassListOut(reads=[BreakGlassOut.model_validate(dict(r)) for r in rows])


class AuditEntryOut(BaseModel):
    at: datetime
    action: str
    actor: str = Field(description="A username, a source system's name, or system.")
    actor_role: str
    reason: str | None


async def audit_trail(
    conn: asyncpg.Connection, melding_id: UUID, limit: int = 200
) -> list[AuditEntryOut]:
    """Who read or changed the melding. Call only once the reader's own read of it was
    allowed: this checks no scope."""
    rows = await conn.fetch(_Q["audit_trail"], melding_id, limit)
    return [AuditEntryOut.model_validate(dict(r)) for r in rows]


async def moved_by_hand(conn: asyncpg.Connection, melding_id: UUID) -> AuditEntryOut | None:
    """The melding's last link or unlink by hand, which put it in the case it is in now
    (recognition's decision at intake is kept as it was made). Checks no scope, as
    ``audit_trail``."""
    row = await conn.fetchrow(_Q["moved_by_hand"], melding_id)
    return None if row is None else AuditEntryOut.model_validate(dict(row))


async def led_addresses(
    conn: asyncpg.Connection, lead: str, case_ids: list[UUID]
) -> dict[UUID, AddressOut]:
    """Where the households of the cases ``lead`` leads (of ``case_ids``) were last
    reported: for the lead's own list, whose cases otherwise read alike."""
    rows = await conn.fetch(_Q["led_addresses"], lead, case_ids)
    return {r["case_id"]: AddressOut.model_validate(dict(r)) for r in rows}


class OpenHandoverOut(BaseModel):
    to_lead: str
    from_lead: str | None
    requested_by: str
    requested_at: datetime
    reason: str


async def open_handover(conn: asyncpg.Connection, case_id: UUID) -> OpenHandoverOut | None:
    """The case's proposed handover, if one waits (call after the case's read)."""
    row = await conn.fetchrow(_Q["open_handover"], case_id)
    return None if row is None else OpenHandoverOut.model_validate(dict(row))


class PastHandoverOut(OpenHandoverOut):
    state: Literal["accepted", "withdrawn"]
    accepted_at: datetime | None
    ended_by: str | None
    ended_at: datetime | None
    end_reason: str | None


async def past_handovers(conn: asyncpg.Connection, case_id: UUID) -> list[PastHandoverOut]:
    """The case's handovers that ended, taken over or not (call after the case's read):
    who led it when, and why it changed hands."""
    rows = await conn.fetch(_Q["past_handovers"], case_id)
    return [PastHandoverOut.model_validate(dict(r)) for r in rows]


class HandoverToMeOut(BaseModel):
    case_id: UUID
    from_lead: str | None
    requested_by: str
    requested_at: datetime
    reason: str
    gebied: str


async def handovers_to(conn: asyncpg.Connection, person: str) -> list[HandoverToMeOut]:
    """The cases proposed to ``person`` to lead, oldest proposal first."""
    rows = await conn.fetch(_Q["handovers_to"], person)
    return [HandoverToMeOut.model_validate(dict(r)) for r in rows]


async def also_open(
    conn: asyncpg.Connection, case_id: UUID, others: Sequence[UUID]
) -> dict[UUID, str]:
    """Those of ``others`` open now that no person kept apart from ``case_id``, with their
    gebied; ``case_id`` itself among them when it is open."""
    rows = await conn.fetch(_Q["also_open"], case_id, [case_id, *others])
    return {r["id"]: r["gebied"] for r in rows}
