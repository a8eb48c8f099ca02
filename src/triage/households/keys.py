"""Blocking keys: the cheap, indexed ways a melding can share something with a case.

A case's keys are stored in ``match_keys`` (one row per key); a new melding's candidates
are the cases that share at least one key with it. The keys are chosen so that each
realistic variation of a household still shares one: the same dwelling; a BSN; a surname
(or, for swapped names, a first name) sound with a birth date, also with day and month
swapped; a postcode with a surname sound; an initial with a birth date. They are also
the advisory-lock keys that serialise two intakes about one new household.
"""

from __future__ import annotations

from collections.abc import Sequence

from triage.households.match import Person
from triage.households.names import sound, swapped


def blocking_keys(
    persons: Sequence[Person], postcode: str | None, address_key: str | None
) -> list[str]:
    keys: set[str] = set()
    if address_key:
        keys.add(f"a:{address_key}")
    for person in persons:
        if person.bsn:
            keys.add(f"b:{person.bsn}")
        names = [n for n in (person.core, person.first) if n and len(n) > 1]
        sounds = {sound(n) for n in names}
        if person.born is not None:
            dates = [person.born.isoformat()]
            other = swapped(person.born)
            if other is not None:
                dates.append(other.isoformat())
            for born in dates:
                keys.update(f"n:{s}|{born}" for s in sounds)
                initials = {n[0] for n in (person.first, person.core) if n}
                keys.update(f"d:{i}|{born}" for i in initials)
        if postcode and person.core:
            keys.add(f"p:{postcode}|{sound(person.core)}")
    return sorted(keys)
