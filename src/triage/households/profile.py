"""A case's matching profile and blocking keys, built afresh from its meldingen.

The intake keeps a profile up to date by adding to it (intake_functions.sql); when an
operator moves meldingen between cases, the cases they left and joined are rebuilt here
from what they now hold, so that recognition afterwards sees the households as corrected.
Same bounds and the same normal forms as the intake's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from triage.households.keys import stored_keys
from triage.households.match import Address, Person
from triage.scoring import HISTORY_WINDOW, History

_MAX_PERSONS = 40
_MAX_ADDRESSES = 12
_MAX_RECENT = 60


@dataclass(frozen=True, slots=True)
class PersonFacts:
    bsn: str | None
    voornaam: str | None
    tussenvoegsel: str | None
    achternaam: str | None
    geboortedatum: date | None


@dataclass(frozen=True, slots=True)
class MeldingFacts:
    """What a profile and a re-scoring need of one stored melding."""

    id: UUID
    received_at: datetime
    level: str
    postcode: str | None
    huisnummer: int | None
    toevoeging: str
    straat: str | None
    woonplaats: str | None
    persons: tuple[PersonFacts, ...]

    def address(self) -> Address:
        """The address as recognition compares it."""
        return Address.written(
            postcode=self.postcode, huisnummer=self.huisnummer, toevoeging=self.toevoeging,
            woonplaats=self.woonplaats, straat=self.straat,
        )  # fmt: skip

    def normal_persons(self) -> list[Person]:
        return [
            Person.of(
                bsn=p.bsn, voornaam=p.voornaam, tussenvoegsel=p.tussenvoegsel,
                achternaam=p.achternaam, geboortedatum=p.geboortedatum,
            )
            for p in self.persons
        ]  # fmt: skip


@dataclass(slots=True)
class Profile:
    persons: list[dict[str, str | None]] = field(default_factory=list)
    addresses: list[dict[str, Any]] = field(default_factory=list)
    recent: list[dict[str, str]] = field(default_factory=list)
    earlier_crisis: bool = False
    keys: set[str] = field(default_factory=set)


def build_profile(meldingen: Sequence[MeldingFacts]) -> Profile:
    """The profile of a case holding ``meldingen`` (in any order)."""
    profile = Profile()
    for m in sorted(meldingen, key=lambda m: (m.received_at, m.id)):
        persons = m.normal_persons()
        for person in persons:
            entry = person.profile()
            if entry not in profile.persons and len(profile.persons) < _MAX_PERSONS:
                profile.persons.append(entry)
        address = {
            "postcode": m.postcode, "huisnummer": m.huisnummer,
            "toevoeging": m.toevoeging, "straat": m.straat, "woonplaats": m.woonplaats,
        }  # fmt: skip
        if address not in profile.addresses and len(profile.addresses) < _MAX_ADDRESSES:
            profile.addresses.append(address)
        profile.recent.append({"received_at": m.received_at.isoformat(), "level": m.level})
        profile.earlier_crisis |= m.level == "crisis"
        profile.keys.update(stored_keys(persons, m.address()))
    profile.recent = profile.recent[-_MAX_RECENT:]
    return profile


def history_of(meldingen: Sequence[MeldingFacts], at: datetime, *, exclude: UUID) -> History:
    """The household's history as a melding received ``at`` would have seen it in an open
    case holding ``meldingen`` (the melding itself, ``exclude``, not counted)."""
    before = [m for m in meldingen if m.id != exclude and m.received_at < at]
    return History(
        open_case=bool(before),
        meldingen_30d=sum(1 for m in before if m.received_at >= at - timedelta(days=30)),
        meldingen_180d=sum(1 for m in before if m.received_at >= at - HISTORY_WINDOW),
        earlier_crisis=any(m.level == "crisis" for m in before),
    )
