"""Finding a household: by address, by name (with or without birth date), by BSN.

The search goes through the recognition's own blocking keys (``households/keys.py``), so
it finds what recognition would: "Jansen" and "Janssen", "van der Berg" and "Berg, van
der", a birth date with day and month swapped. It shows people, so it states its purpose
and is audited with its terms and the cases it found, in the statement's transaction.
Specialists do not search (need-to-know: their work comes to them); coordinators search
their own gebied.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

import asyncpg
from pydantic import BaseModel, ConfigDict, Field, model_validator

from triage.auth.principal import Principal
from triage.households.keys import lookup_keys, postcode_name_key
from triage.households.match import NO_ADDRESS, Person
from triage.households.normalise import address_key
from triage.intake.models import (
    AddressIn,
    AddressOut,
    BirthDate,
    Bsn,
    PersonOut,
    PersonSeen,
    ShortText,
)
from triage.lists import planned
from triage.lists.people import group
from triage.problems import Invalid, forbidden
from triage.request_body import RequestBody
from triage.store.sql import load_queries
from triage.vocabulary import UserRole

_Q = load_queries("triage.lists", "lists.sql")
#: At most this many households per search: a search is to find one, not to browse.
MOST = 25


class Purpose(StrEnum):
    koppelen = "koppelen"
    beoordelen = "beoordelen"
    contact = "contact"
    overig = "overig"


#: What each purpose says in the audit (and on the console).
PURPOSES = {
    Purpose.koppelen: "Een melding of telefoontje aan een casus koppelen",
    Purpose.beoordelen: "Een melding beoordelen: eerdere meldingen van dit huishouden",
    Purpose.contact: "Contact met het huishouden voorbereiden",
    Purpose.overig: "Anders",
}

#: What each kind of blocking key says as the evidence of a hit.
MATCHED_ON = {
    "a": "adres",
    "b": "BSN",
    "n": "naam en geboortedatum",
    "p": "postcode en begin van de achternaam",
    "w": "naam en woonplaats (zonder vast adres)",
}


class HouseholdSearchIn(RequestBody):
    """Search terms and why. An address (postcode and number), a surname (with or without
    birth date or postcode), or a BSN; several together narrow nothing, they add up."""

    # The two rules of _something_to_find, for the API document (JSON Schema 2020-12).
    model_config = ConfigDict(
        **RequestBody.model_config,
        json_schema_extra={
            "anyOf": [
                {"required": ["adres"], "properties": {"adres": {
                    "type": "object", "required": ["postcode", "huisnummer"],
                    "properties": {"postcode": {"type": "string"},
                                   "huisnummer": {"type": ["integer", "string"]}},
                }}},
                {"required": ["achternaam"], "properties": {"achternaam": {"type": "string"}}},
                {"required": ["bsn"], "properties": {"bsn": {"type": "string"}}},
            ],
            "if": {"required": ["purpose"], "properties": {"purpose": {"const": "overig"}}},
            "then": {"required": ["toelichting"],
                     "properties": {"toelichting": {"type": "string"}}},
        },
    )  # fmt: skip

    purpose: Purpose = Field(description="Why you search: kept in the audit with the terms.")
    toelichting: str | None = Field(
        default=None, min_length=10, max_length=400,
        description="In your words; required when the purpose is overig.",
    )  # fmt: skip
    adres: AddressIn | None = None
    achternaam: ShortText | None = None
    tussenvoegsel: str | None = Field(default=None, max_length=20)
    geboortedatum: BirthDate | None = None
    bsn: Bsn | None = None

    @model_validator(mode="after")
    def _something_to_find(self) -> HouseholdSearchIn:
        if self.purpose is Purpose.overig and self.toelichting is None:
            raise Invalid(
                "toelichting: say in your words why you search (purpose overig)",
                "vul bij toelichting in je eigen woorden in waarom je zoekt (doel overig)",
            )
        has_address = (
            self.adres is not None
            and self.adres.postcode is not None
            and self.adres.huisnummer is not None
        )
        if not (has_address or self.achternaam or self.bsn):
            raise Invalid(
                "give a postcode with a house number (adres), an achternaam, or a bsn",
                "geef een postcode met huisnummer, een achternaam of een BSN",
            )
        return self

    def reason(self) -> str:
        """The purpose as the audit keeps it."""
        said = PURPOSES[self.purpose]
        return f"{said}: {self.toelichting}" if self.toelichting else said


class HouseholdHit(BaseModel):
    case_id: UUID
    household_id: UUID
    status: str
    gebied: str
    lead: str | None
    opened_at: datetime
    closed_at: datetime | None
    address: AddressOut
    waiting: int = Field(description="Meldingen still waiting for first contact.")
    matched_on: list[str] = Field(description="Which terms found it (adres, BSN, ...).")
    persons: list[PersonSeen] = Field(description="Each person once, with the variants.")


class HouseholdSearchOut(BaseModel):
    households: list[HouseholdHit]
    more: bool = Field(description=f"More than {MOST} found: narrow the search.")


def _keys(search: HouseholdSearchIn) -> tuple[list[str], str | None, str | None]:
    """Exact keys, a name prefix pattern and an address prefix pattern to look up (the
    name pattern without its kind: 'n:' and 'w:' keys are both read by it)."""
    exact: list[str] = []
    name_prefix = address_prefix = None
    postcode = search.adres.postcode if search.adres else None
    if search.adres is not None and postcode is not None:
        split = search.adres.number_and_addition()
        if split is not None:
            number, addition = split
            if addition:
                exact.append(f"a:{address_key(postcode, number, addition)}")
            else:  # any addition at that number: 12, 12A, 12-2
                address_prefix = f"a:{postcode}|{number}|%"
    if search.bsn:
        exact.append(f"b:{search.bsn}")
    if search.achternaam:
        person = Person.of(bsn=None, voornaam=None, tussenvoegsel=search.tussenvoegsel,
                           achternaam=search.achternaam,
                           geboortedatum=search.geboortedatum)  # fmt: skip
        if person.core_sound:
            if search.geboortedatum is not None:
                exact += [k for k in lookup_keys([person], NO_ADDRESS) if k.startswith("n:")]
            if postcode is not None:
                exact.append(postcode_name_key(postcode, person.core_sound))
            if search.geboortedatum is None and postcode is None:
                name_prefix = f"{person.core_sound}|%"
    return exact, name_prefix, address_prefix


def arguments(search: HouseholdSearchIn, gebied: str | None, limit: int) -> list[object]:
    """The households query's parameters (lists.sql) for ``search`` in ``gebied``."""
    exact, name, address = _keys(search)
    return [exact, name and f"n:{name}", gebied, limit, address, name and f"w:{name}"]


def _terms(search: HouseholdSearchIn) -> dict[str, object]:
    return search.model_dump(mode="json", exclude_none=True, exclude={"purpose", "toelichting"})


async def search_households(
    conn: asyncpg.Connection,
    principal: Principal,
    search: HouseholdSearchIn,
    *,
    now: datetime,
    endpoint: str,
    request_id: str,
) -> HouseholdSearchOut:
    """The households the terms find in ``principal``'s scope, audited."""
    if principal.kind != "user" or principal.role not in (
        UserRole.operator, UserRole.cit, UserRole.coordinator,
    ):  # fmt: skip
        raise forbidden("households are searched by the desk, CIT and coordinators")
    gebied = None if principal.role != UserRole.coordinator else principal.gebied
    async with conn.transaction():
        rows = await planned.fetch(conn, _Q["households"], *arguments(search, gebied, MOST + 1))
        found = [str(r["id"]) for r in rows[:MOST]]
        await conn.execute(
            _Q["audit_search"], now, principal.id, principal.role, endpoint,
            search.reason(), {"terms": _terms(search), "found": found}, request_id,
        )  # fmt: skip
    # A name searched without a birth date finds its 'n:' keys by the name alone.
    said = MATCHED_ON if search.geboortedatum is not None else {**MATCHED_ON, "n": "naam"}
    hits = [_hit(r, said) for r in rows[:MOST]]
    return HouseholdSearchOut(households=hits, more=len(rows) > MOST)


def _hit(r: asyncpg.Record, said: dict[str, str]) -> HouseholdHit:
    return HouseholdHit(
        case_id=r["id"], household_id=r["household_id"], status=r["status"],
        gebied=r["gebied"], lead=r["lead"], opened_at=r["opened_at"],
        closed_at=r["closed_at"],
        address=AddressOut(postcode=r["postcode"], huisnummer=r["huisnummer"],
                           toevoeging=r["toevoeging"], straat=r["straat"],
                           woonplaats=r["woonplaats"]),
        waiting=r["waiting"],
        matched_on=[said.get(k, k) for k in r["kinds"]],
        persons=group(PersonOut.model_validate(p) for p in r["persons"]),
    )  # fmt: skip
