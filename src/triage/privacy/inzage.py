"""Inzage (AVG art. 15): everything held about a person, for the admin who answers the
request, as JSON and as a page to read or print.

Found by BSN, or by surname, first name and birth date exactly as held (case aside): the
export goes to the person who asked, so a near match is no match. What it holds: each
record of the person (with corrections and their old values), the meldingen they appear
in (what was reported, where, how urgent and why, what happened), the cases, who was
offered the work, and which roles did what with it when (the audit). Other people named
in the same meldingen are left out; a summary can still be about them, which the page
says, so that the admin reads it before it goes out. The export is audited per melding
and case with the reason given.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import jinja2
from pydantic import BaseModel, Field, model_validator

from triage.auth.principal import Principal
from triage.intake.models import BirthDate, Bsn, ShortText
from triage.privacy.correction import CorrectionOut, PersonOut
from triage.request_body import RequestBody
from triage.store.sql import load_queries

_Q = load_queries("triage.privacy", "inzage.sql")
_PAGES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=True, undefined=jinja2.StrictUndefined,
)  # fmt: skip


class InzageIn(RequestBody):
    """Whom the request is about: a BSN, or surname, first name and birth date."""

    bsn: Bsn | None = None
    achternaam: ShortText | None = None
    voornaam: ShortText | None = None
    geboortedatum: BirthDate | None = None
    reason: str = Field(
        min_length=10, max_length=500,
        description="The request's reference and who asked, e.g. 'Inzageverzoek IZ-2026-0042 "
        "van betrokkene'; kept in the audit with each melding disclosed.",
    )  # fmt: skip

    @model_validator(mode="after")
    def _whom(self) -> InzageIn:
        by_name = (self.achternaam, self.voornaam, self.geboortedatum)
        if self.bsn is None and None in by_name:
            raise ValueError("give bsn, or achternaam, voornaam and geboortedatum together")
        if self.bsn is not None and any(v is not None for v in by_name):
            raise ValueError("give bsn or the name and birth date, not both")
        return self


class OfferRecord(BaseModel):
    specialist: str
    state: str
    offered_at: datetime
    answered_at: datetime | None


class MeldingRecord(BaseModel):
    melding_id: UUID
    case_id: UUID
    source: str
    received_at: datetime
    kind: str
    category: str
    signals: list[str]
    summary: str
    address: dict[str, Any]
    gebied: str
    status: str
    urgency_level: str
    urgency_reasons: list[str]
    first_contact_at: datetime | None
    offers: list[OfferRecord]


class CaseRecord(BaseModel):
    case_id: UUID
    status: str
    gebied: str
    opened_at: datetime
    closed_at: datetime | None
    lead: str | None


class AccessRecord(BaseModel):
    at: datetime
    role: str
    action: str
    melding_id: UUID | None
    case_id: UUID | None
    refused: bool


class InzageOut(BaseModel):
    made_at: datetime
    reason: str
    persons: list[PersonOut]
    meldingen: list[MeldingRecord]
    cases: list[CaseRecord]
    access: list[AccessRecord] = Field(
        description="Which roles did what with these meldingen and cases, and when."
    )
    left_out: str = Field(description="What the export does not hold, and why.")


LEFT_OUT = (
    "Andere personen in dezelfde meldingen zijn weggelaten. Een samenvatting kan over hen "
    "gaan: lees ze voordat dit overzicht wordt verstrekt (AVG art. 15 lid 4). Namen van "
    "medewerkers staan er niet in; wel hun rol."
)


async def export(
    conn: asyncpg.Connection,
    whom: InzageIn,
    principal: Principal,
    *,
    now: datetime,
    endpoint: str,
    request_id: str,
) -> InzageOut:
    """Everything held about the person, audited; one transaction so that the export and
    its audit entries are one."""
    async with conn.transaction(isolation="repeatable_read"):
        if whom.bsn is not None:
            rows = await conn.fetch(_Q["persons_by_bsn"], whom.bsn)
        else:
            rows = await conn.fetch(_Q["persons_by_name"], whom.achternaam,
                                    whom.geboortedatum, whom.voornaam)  # fmt: skip
        person_ids = [r["id"] for r in rows]
        melding_ids = list(dict.fromkeys(r["melding_id"] for r in rows))
        corrections: dict[UUID, list[CorrectionOut]] = {p: [] for p in person_ids}
        for c in await conn.fetch(_Q["corrections"], person_ids):
            corrections[c["person_id"]].append(
                CorrectionOut(**{k: c[k] for k in CorrectionOut.model_fields})
            )
        offers: dict[UUID, list[OfferRecord]] = {m: [] for m in melding_ids}
        for a in await conn.fetch(_Q["assignments"], melding_ids):
            offers[a["melding_id"]].append(
                OfferRecord(**{k: a[k] for k in OfferRecord.model_fields})
            )
        meldingen = [
            _melding(m, offers[m["id"]]) for m in await conn.fetch(_Q["meldingen"], melding_ids)
        ]
        case_ids = list(dict.fromkeys(m.case_id for m in meldingen))
        cases = [
            CaseRecord(case_id=c["id"], status=c["status"], gebied=c["gebied"],
                       opened_at=c["opened_at"], closed_at=c["closed_at"], lead=c["lead"])
            for c in await conn.fetch(_Q["cases"], case_ids)
        ]  # fmt: skip
        access = [
            AccessRecord(at=a["at"], role=a["actor_role"], action=a["action"],
                         melding_id=a["melding_id"], case_id=a["case_id"],
                         refused=a["result"] == "denied")
            for a in await conn.fetch(_Q["access"], melding_ids, case_ids)
        ]  # fmt: skip
        await conn.execute(
            _Q["audit"], now, principal.id, principal.role, [m.melding_id for m in meldingen],
            [m.case_id for m in meldingen], endpoint, request_id, whom.reason,
        )  # fmt: skip
    case_of = {m.melding_id: m.case_id for m in meldingen}
    persons = [
        PersonOut(person_id=r["id"], melding_id=r["melding_id"], case_id=case_of[r["melding_id"]],
                  role=r["role"], bsn=r["bsn"], voornaam=r["voornaam"],
                  tussenvoegsel=r["tussenvoegsel"], achternaam=r["achternaam"],
                  geboortedatum=r["geboortedatum"], corrections=corrections[r["id"]])
        for r in rows
    ]  # fmt: skip
    return InzageOut(made_at=now, reason=whom.reason, persons=persons, meldingen=meldingen,
                     cases=cases, access=access, left_out=LEFT_OUT)  # fmt: skip


def _melding(row: asyncpg.Record, offers: list[OfferRecord]) -> MeldingRecord:
    return MeldingRecord(
        melding_id=row["id"], case_id=row["case_id"], source=row["source"],
        received_at=row["received_at"], kind=row["kind"], category=row["category"],
        signals=list(row["signals"]), summary=row["summary"],
        address={k: row[k] for k in ("straat", "huisnummer", "toevoeging", "postcode",
                                     "woonplaats") if row[k]},
        gebied=row["gebied"], status=row["status"], urgency_level=row["urgency_level"],
        urgency_reasons=[r["text"] for r in row["urgency_reasons"]],
        first_contact_at=row["first_contact_at"], offers=offers,
    )  # fmt: skip


def page(found: InzageOut) -> str:
    """The export as a page to read and print (Dutch, no script, no outside resources)."""
    return _PAGES.get_template("inzage.html").render(e=found)
