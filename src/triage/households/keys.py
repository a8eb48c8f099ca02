"""Blocking keys: the cheap, indexed ways a melding can share something with a case.

A case's keys are stored in ``match_keys`` (one row per key); a new melding's candidates
are the cases that share at least one key with it. Keys are stored in one canonical form
per person and looked up in the variants a source might have written, so that writes
stay small while lookups tolerate mistakes:

- ``a:`` the dwelling (normalised postcode, number, addition);
- ``s:`` the street's sound with number and addition (a postcode mistyped, the street
  right);
- ``t:`` the postcode's digits, the number and the street's first two letters (the
  postcode's letters mistyped and the street after its first letters too: the
  postcode's digits with the number alone are number 12 of every street in the area);
- ``b:`` a BSN;
- ``n:`` surname sound with birth date; looked up also with day and month swapped, and
  with the first name's sound in the surname's place (names swapped by the source: the
  swapped melding's first name is the case's surname);
- ``f:`` the first three letters of the first name's sound with the birth date (the
  surname mistyped or changed by marriage, a typo late in the first name);
- ``p:`` postcode with the first three letters of the surname's sound (a birth date
  missing or mistyped, the number too: an initial next door; a typo late in the
  surname); looked up also with the first name's (names swapped);
- ``d:`` birth date with the woonplaats and a name's first letter, in one key the
  surname's and in another the first name's: both names mistyped after their first
  letter, or one of them changed, the birth date right, in the town (at another
  postcode, or none). Without a letter it is about a candidate more per person in a
  large town. The birth date with the postcode's digits (``g:`` until 2026-11-29)
  brought everyone of the same age in the area: half of all candidates on the scale
  benchmark's households; ``d:`` with both letters finds what it found;
- ``m:`` first-name and surname sound with the woonplaats (a birth date missing or
  mistyped, with no postcode, a mistyped one or another one in the town); looked up
  also with the names swapped. A name without the town is not a key: across the region
  it brings namesakes (on the Dutch set the first false links). In the town the address
  weighs in, and where the melding gives a dwelling the case does not know, names alone
  do not link on their own (``match.py``, ``names_elsewhere``);
- ``q:`` the postcode's digits with the first three letters of both names' sounds (a
  move or a mistyped postcode in the neighbourhood, a typo late in a name, the birth
  date missing or mistyped);
- ``u:`` the first three letters of both names' sounds with the woonplaats, written and
  looked up only for a person without a birth date (names mistyped late, on both sides
  no birth date to find them by). For everyone it would bring namesakes where the keys
  with the birth date find a name's typo;
- ``w:`` surname sound with the woonplaats, written and looked up only for a melding
  without postcode and number (people without a fixed address, a report from the
  street). Looked up by meldingen with an address it tripled the false links (namesakes
  in one town); written for them too, so that a report from the street finds a household
  known at its address when its birth date is mistyped and it has no BSN, it cost 5-8% of
  intake capacity (a key per surname per town is a long list of cases in a common name's
  index entry) for no recall on the benchmarks. Such a report is found by a BSN, a name
  with the birth date (also day and month swapped, also the names swapped), or the
  names with the town (``m:``, ``u:``).

The woonplaats in a key, and the street in ``t:``, are written in letters only: "Greenac
res" and "Greenacres", "Den Haag" and "Denhaag", "'s-Hertogenbosch" and "s-Hertogenbosch"
give one key. In ``m:``, ``d:`` and ``u:`` only its first four letters count
("Tilburg" and "Tilbrug"): the names or the birth date keep the towns apart that share
them. (``match.py`` compares places without their spaces, and counts one mistake, such
as an apostrophe, as the same place in a name of seven letters or more.)

Keys measured and left out (``loadtests/``): the surname sound with the birth year (0.04
points of recall on both benchmarks, one stored key in six, most of the candidates that
only cost time); the postcode's digits with the number (a postcode letter mistyped:
number 12 of every street in the area, which is a candidate per street; ``t:`` adds the
street's first letters); the surname sound with the postcode's digits in place of the
whole postcode (FEBRL4 blocking recall 0.9558 -> 0.9664 but F1 0.9539 -> 0.9564: the
pairs it finds differ in birth date and street as well, and nearly all go to review; on
the Dutch set recall 0.9693 -> 0.9701 for its first false link). Measured on 2026-11-29
with the replay, beside ``m:`` (FEBRL4 F1 retrained / Dutch recall; precision 1.0000 on
both; 0.9702 / 0.9693 before ``m:``, 0.9758 / 0.9700 with it): the birth date with the
woonplaats without a letter (0.9792 / 0.9701, but with 1,000,000 meldingen loaded about
a candidate more per person: recognition p99 4.5 -> 7.1 ms); the names without the town
(0.9768, Dutch precision 0.9949; 0.9993 with names alone held back at another dwelling);
the names also looked up swapped (0.9762 / 0.9701, a lookup key per person more; kept
since the evening, beside the town's first four letters). ``m:`` in place of ``p:``
gives the same figures on both sets, for a key per person less, but an initial next door
with the birth date mistyped is then not found. Measured later that day beside ``d:``,
``t:`` and the shorter ``p:`` (FEBRL4 F1 retrained 0.9879 with them; the candidates a
melding about a new household brings beyond these keys, on the scale benchmark's 150,000
households): the postcode's digits and the number with a name's first letter (+0.0009
F1, 3.8 candidates more: a four-digit postcode of the benchmark holds thousands of
households); the names with the town, one of them cut to its first three letters
(+0.0017 F1, 1.8 candidates more). Measured that evening beside ``q:``, ``u:``, the
shorter ``f:``, ``m:`` and ``d:`` and ``d:`` with both letters in place of ``g:``
(FEBRL4 F1 retrained 0.9903, precision 0.9992; 3.8 candidates; 13% more keys stored than
before them): ``u:`` also where only one side has a birth date, written for everyone and
looked up by a person without one, and written for a person without one and looked up by
everyone (three pairs, a key per person more); with that and ``g:`` kept beside ``d:``,
F1 0.9905 for 41% more keys stored and 32% more looked up than before, and intake at
1,000/s offered served 790 / 812 / 801 a second against 872 / 894 / 911 (three
alternating pairs); ``n:`` with the surname sound's first three letters as ``f:`` (two
pairs, 0.3 candidates more, and the household search by surname and birth date would
show every surname that starts alike); the names cut short with the town looked up by
everyone (F1 0.9910, 6.0 candidates); ``q:`` looked up with the names swapped (one pair,
0.2 candidates more); the birth date with the whole postcode and no letter (two pairs, a
key per person more).

How many true pairs these find (blocking recall) is measured by the benchmarks
(``loadtests/dedup_eval.py``, ``loadtests/febrl_eval.py``). A key shared by more cases
than the model's ``key_cap`` is too common to say anything and finds none of them. Keys
are made in Python (the sound keys cannot be made in SQL): after their definition
changes, ``triage recognition rekey`` gives existing cases theirs.

The identifying stored keys (dwelling, BSN, surname sound with birth date) are also the
advisory-lock keys that serialise two intakes about one new household (and an intake with
an operator changing the household's case), and the ones the store re-checks.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence

from triage.households.match import Address, Person
from triage.households.names import sound, swapped
from triage.households.normalise import address_key


def dwelling_key(address: Address) -> str | None:
    """The dwelling's key without its ``a:`` (``5038AB|12|A``), or None without one."""
    if address.postcode and address.huisnummer:
        return address_key(address.postcode, address.huisnummer, address.toevoeging)
    return None


#: Letters of a name's sound in the ``p:``, ``f:``, ``q:`` and ``u:`` keys: a typo after
#: them is the same key.
_NAME_PREFIX = 3

#: Letters of the woonplaats in the ``m:``, ``d:`` and ``u:`` keys ("Oisterwijk"
#: and "Oisterwjik" are one key). Towns that share them (Haaren and Haarsteeg) are kept
#: apart by the names or the birth date beside them, and by the address when weighed.
_PLACE_PREFIX = 4


def postcode_name_key(postcode: str, name_sound: str) -> str:
    """The ``p:`` key: the postcode with the first three letters of a name's sound (the
    surname's; the first name's when looked up for names swapped)."""
    return f"p:{postcode}|{name_sound[:_NAME_PREFIX]}"


def _letters(folded: str) -> str:
    """A folded place or street as keys hold it: letters only. A space or an apostrophe
    put in or left out gives one key ("Den Haag" and "Denhaag", "'s-Hertogenbosch" and
    "s-Hertogenbosch")."""
    return folded.replace(" ", "").replace("'", "")


def _initials(person: Person) -> set[str]:
    """The ``d:`` key's letters: the surname's first and the first name's."""
    return {name[:1] for name in (person.core, person.first) if name}


def _name_prefixes(person: Person) -> str:
    """The first three letters of the first name's sound and of the surname's (``q:``,
    ``u:``): a typo after them in either name is the same key."""
    return f"{person.first_sound[:_NAME_PREFIX]}|{person.core_sound[:_NAME_PREFIX]}"


def stored_keys(persons: Sequence[Person], address: Address) -> list[str]:
    """The keys written for a case, one canonical form per fact."""
    dwelling = dwelling_key(address)
    keys = _address_keys(address, dwelling)
    place = _letters(address.place)  # once per melding, not per person
    for person in persons:
        keys |= _person_keys(person, address, place, at_dwelling=dwelling is not None)
    return sorted(keys)


def _address_keys(address: Address, dwelling: str | None) -> set[str]:
    """The dwelling's keys (``dwelling``: ``dwelling_key``): ``a:``, and ``s:`` and ``t:``
    with the street."""
    keys: set[str] = set()
    if dwelling:
        keys.add(f"a:{dwelling}")
    if address.street and address.huisnummer:
        keys.add(f"s:{sound(address.street)}|{address.huisnummer}|{address.toevoeging}")
        street = _letters(address.street)[:2]
        if address.postcode and street:
            keys.add(f"t:{address.postcode[:4]}|{address.huisnummer}|{street}")
    return keys


def _person_keys(person: Person, address: Address, place: str, *, at_dwelling: bool) -> set[str]:
    """A person's keys, alone and with the address (``place``: its woonplaats as keys
    hold it; ``at_dwelling``: it has a postcode and a number)."""
    keys: set[str] = set()
    town = place[:_PLACE_PREFIX]
    born = person.born.isoformat() if person.born is not None else None
    if person.bsn:
        keys.add(f"b:{person.bsn}")
    if person.core and born:
        keys.add(f"n:{person.core_sound}|{born}")
    if len(person.first) > 1 and born:
        keys.add(f"f:{person.first_sound[:_NAME_PREFIX]}|{born}")
    if person.core and address.postcode:
        keys.add(postcode_name_key(address.postcode, person.core_sound))
    if born and town:
        keys.update(f"d:{born}|{town}|{i}" for i in _initials(person))
    named = bool(person.core and len(person.first) > 1)
    if named and town:
        keys.add(f"m:{person.first_sound}|{person.core_sound}|{town}")
        if born is None:
            keys.add(f"u:{_name_prefixes(person)}|{town}")
    if named and address.postcode:
        keys.add(f"q:{address.postcode[:4]}|{_name_prefixes(person)}")
    if person.core and place and not at_dwelling:
        keys.add(f"w:{person.core_sound}|{place}")
    return keys


def lookup_keys(
    persons: Sequence[Person], address: Address, stored: Sequence[str] | None = None
) -> list[str]:
    """The keys a melding looks up: its stored keys (``stored``, made here when not
    given) plus the variants a mistake elsewhere would have produced."""
    own = stored_keys(persons, address) if stored is None else stored
    return sorted({*own, *_lookup_variants(persons, address)})


def _lookup_variants(persons: Sequence[Person], address: Address) -> set[str]:
    """The keys a mistake elsewhere would have produced: a case written with day and month
    swapped, or with first name and surname swapped (the swapped melding's first name is
    the case's surname: in ``n:``, ``p:`` and ``m:``; ``d:`` is written with both names'
    letters)."""
    keys: set[str] = set()
    town = _letters(address.place)[:_PLACE_PREFIX]
    for person in persons:
        if len(person.first) > 1 and address.postcode:
            keys.add(postcode_name_key(address.postcode, person.first_sound))
        if person.core and len(person.first) > 1 and town:
            keys.add(f"m:{person.core_sound}|{person.first_sound}|{town}")
        if person.born is None:
            continue
        born = person.born.isoformat()
        other = swapped(person.born)
        if person.core and other is not None:
            keys.add(f"n:{person.core_sound}|{other.isoformat()}")
        if len(person.first) > 1:
            keys.add(f"n:{person.first_sound}|{born}")
    return keys


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
