"""Reading a melding or a case: need-to-know scope in the query, every read audited."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from triage.auth.principal import Principal, ReadScope
from triage.cases.milestones import milestone_out
from triage.intake.models import AddressOut, CaseOut, MeldingOut, OfferOut, PersonOut
from triage.intake.service import accepted_from_row
from triage.problems import forbidden
from triage.store.sql import load_queries

_Q = load_queries("triage.cases", "cases.sql")


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


async def read_melding(
    conn: asyncpg.Connection,
    melding_id: UUID,
    principal: Principal,
    *,
    now: datetime,
    endpoint: str,
    request_id: str,
) -> MeldingOut | None:
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
    )
    if row is None:
        return None
    accepted = accepted_from_row(row)
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
        offers=[OfferOut.model_validate(o) for o in row["offers"]],
    )


async def read_case(
    conn: asyncpg.Connection,
    case_id: UUID,
    principal: Principal,
    *,
    now: datetime,
    endpoint: str,
    request_id: str,
) -> CaseOut | None:
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
    )
    if row is None:
        return None
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
        persons=[PersonOut.model_validate(p) for p in row["persons"]],
        changes=row["changes"],
        milestones=[milestone_out(m, now) for m in row["milestones"]],
    )
