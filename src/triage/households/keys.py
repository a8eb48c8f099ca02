"""Blocking keys: the cheap, indexed ways a melding can share something with a case.

A case's keys are stored in ``match_keys`` (one row per key); a new melding's candidates
are the cases that share at least one key with it. Keys are stored in one canonical form
per person and looked up in every variant a source might have written, so that writes
stay small while lookups tolerate mistakes:

- ``a:`` the dwelling (normalised postcode, number, addition);
- ``d:`` the postcode's digits with number and addition (its letters mistyped);
- ``b:`` a BSN;
- ``n:`` surname sound with birth date; looked up also with day and month swapped and
  with the first name in the surname's place (names swapped by the source);
- ``f:`` first-name sound with birth date (the surname mistyped, or changed by marriage);
  looked up also with the surname in its place (names swapped by the source);
- ``y:`` surname sound with birth year (day or month mistyped, or swapped);
- ``p:`` postcode with surname sound (a birth date missing or mistyped);
- ``g:`` birth date with the postcode's digits (both names mistyped or changed, the
  birth date right).

How many true pairs these find (blocking recall) is measured by the benchmarks
(``loadtests/dedup_eval.py``, ``loadtests/febrl_eval.py``). A key shared by more cases
than the model's ``key_cap`` is too common to say anything and finds none of them.

The identifying stored keys (dwelling, BSN, surname sound with birth date) are also the
advisory-lock keys that serialise two intakes about one new household (and an intake with
an operator changing the household's case), and the ones the store re-checks.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence

from triage.households.match import Person
from triage.households.names import swapped


def stored_keys(
    persons: Sequence[Person], postcode: str | None, address_key: str | None
) -> list[str]:
    """The keys written for a case, one canonical form per fact."""
    keys: set[str] = set()
    if address_key:
        keys.add(f"a:{address_key}")
        keys.add(f"d:{address_key[:4]}{address_key[6:]}")  # "5038AB|12|A" -> "5038|12|A"
    for person in persons:
        if person.bsn:
            keys.add(f"b:{person.bsn}")
        if person.core and person.born is not None:
            keys.add(f"n:{person.core_sound}|{person.born.isoformat()}")
            keys.add(f"y:{person.core_sound}|{person.born.year}")
        if len(person.first) > 1 and person.born is not None:
            keys.add(f"f:{person.first_sound}|{person.born.isoformat()}")
        if person.core and postcode:
            keys.add(f"p:{postcode}|{person.core_sound}")
        if person.born is not None and postcode:
            keys.add(f"g:{person.born.isoformat()}|{postcode[:4]}")
    return sorted(keys)


def lookup_keys(
    persons: Sequence[Person], postcode: str | None, address_key: str | None
) -> list[str]:
    """The stored keys plus the variants a mistake elsewhere would have produced."""
    keys = set(stored_keys(persons, postcode, address_key))
    for person in persons:
        if person.born is None:
            continue
        dates = [person.born]
        other = swapped(person.born)
        if other is not None:
            dates.append(other)
        sounds = {
            s for n, s in ((person.core, person.core_sound), (person.first, person.first_sound))
            if len(n) > 1
        }  # fmt: skip
        for s in sounds:
            keys.update(f"n:{s}|{born.isoformat()}" for born in dates)
            keys.add(f"f:{s}|{person.born.isoformat()}")
    return sorted(keys)


#: Blocking keys that also serialise intakes (advisory locks): the dwelling, the BSN and
#: surname sound with birth date. Two meldingen about one new household share one of
#: these in practice; locking every key would hold hundreds of locks per batch.
_LOCKED_KINDS = frozenset("abn")


def identifying(keys: Iterable[str]) -> list[str]:
    """The keys that serialise intakes and that the store re-checks."""
    return [k for k in keys if k[0] in _LOCKED_KINDS]


def lock_keys(keys: Iterable[str]) -> tuple[int, ...]:
    """The advisory-lock keys of ``keys``, ascending. Stable across processes (``hash()``
    is salted); a collision only makes two unrelated intakes wait for each other."""
    return tuple(sorted({zlib.crc32(k.encode()) - 2**31 for k in keys if k[0] in _LOCKED_KINDS}))
