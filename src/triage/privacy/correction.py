"""Correction of a person's data (AVG art. 16), by an admin on the person's request.

The old value of each changed field is kept in ``person_corrections`` with the reason,
who and when; the case's profile and match keys are rebuilt from the corrected data, under
the intake's locks, so that recognition no longer finds the household by the wrong value
(a wrong BSN left as a key would link another person's melding to this family).
"""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

import asyncpg
from pydantic import BaseModel, Field, model_validator

from triage.auth.principal import Principal
from triage.cases.control import case_contents, lock_cases, rebuild_profiles
from triage.households.keys import stored_keys
from triage.households.match import NO_ADDRESS, Person
from triage.intake.models import BirthDate, Bsn, ShortText
from triage.problems import conflict, not_found
from triage.request_body import RequestBody
from triage.store.sql import load_queries

_Q = load_queries("triage.privacy", "correction.sql")
FIELDS = ("bsn", "voornaam", "tussenvoegsel", "achternaam", "geboortedatum")


class CorrectionIn(RequestBody):
    """The fields to correct (a field given as null is cleared; one left out stays)."""

    bsn: Bsn | None = None
    voornaam: ShortText | None = None
    tussenvoegsel: str | None = Field(default=None, max_length=20)
    achternaam: ShortText | None = None
    geboortedatum: BirthDate | None = None
    reason: str = Field(
        min_length=5, max_length=1000,
        description="Why, e.g. the request's reference; kept with the old value.",
    )  # fmt: skip

    @model_validator(mode="after")
    def _something(self) -> CorrectionIn:
        if not self.model_fields_set & set(FIELDS):
            raise ValueError(f"name at least one field to correct: {', '.join(FIELDS)}")
        return self


class CorrectionOut(BaseModel):
    field: str
    old_value: str | None
    new_value: str | None
    reason: str
    at: datetime


class PersonOut(BaseModel):
    person_id: UUID
    melding_id: UUID
    case_id: UUID
    role: str
    bsn: str | None
    voornaam: str | None
    tussenvoegsel: str | None
    achternaam: str | None
    geboortedatum: date | None
    corrections: list[CorrectionOut]


async def correct(
    conn: asyncpg.Connection,
    person_id: UUID,
    body: CorrectionIn,
    principal: Principal,
    *,
    now: datetime,
    endpoint: str,
    request_id: str,
) -> PersonOut:
    """Correct one person in one transaction: old values kept, the case's profile and
    keys rebuilt, audited as ``person.correct``."""
    async with conn.transaction():
        found = await conn.fetchrow(_Q["person"], person_id)
        if found is None:
            raise not_found("no person with this id (erased, or never held)")
        wanted = {
            **{f: found[f] for f in FIELDS},
            **body.model_dump(include=body.model_fields_set - {"reason"}),
        }
        corrected = Person.of(**wanted)
        cases = await lock_cases(conn, [found["case_id"]], stored_keys([corrected], NO_ADDRESS))
        before = await conn.fetchrow(_Q["person_locked"], person_id)
        if before is None:
            raise not_found("no person with this id (erased, or never held)")
        changed = [f for f in FIELDS if wanted[f] != before[f]]
        if not changed:
            raise conflict("the person holds these values already; nothing to correct")
        await conn.execute(_Q["correct"], person_id, *(wanted[f] for f in FIELDS))
        await conn.execute(
            _Q["keep_old"], person_id, now, changed, [_text(before[f]) for f in changed],
            [_text(wanted[f]) for f in changed], body.reason, principal.id, principal.role,
        )  # fmt: skip
        case_id = found["case_id"]
        contents = await case_contents(conn, [case_id])
        await rebuild_profiles(conn, {case_id: (cases[case_id], contents[case_id])})
        await conn.execute(_Q["audit"], now, principal.id, principal.role, found["melding_id"],
                           case_id, endpoint, request_id)  # fmt: skip
        return await person_out(conn, person_id)


async def person_out(conn: asyncpg.Connection, person_id: UUID) -> PersonOut:
    row = await conn.fetchrow(_Q["person"], person_id)
    if row is None:
        raise not_found("no person with this id (erased, or never held)")
    return PersonOut(
        person_id=row["id"], melding_id=row["melding_id"], case_id=row["case_id"],
        role=row["role"], bsn=row["bsn"], voornaam=row["voornaam"],
        tussenvoegsel=row["tussenvoegsel"], achternaam=row["achternaam"],
        geboortedatum=row["geboortedatum"],
        corrections=[CorrectionOut(**r) for r in await conn.fetch(_Q["corrections"], person_id)],
    )  # fmt: skip


def _text(value: object) -> str | None:
    return None if value is None else str(value)
