"""Each person once: the people reported in a case or household, grouped across the
meldingen and sources that wrote them each their own way.

Two entries are one person when they share a BSN, or (neither having one that differs)
surname sound, first initial and birth date by the recognition's own normal forms
(``households/names.py``), so "Jansen"/"Janssen" and "van der Berg"/"Berg, van der" are
one person shown with their variants. Without a birth date (and a BSN) an entry is that
person only by every given name written out: two children of one family may share
surname and initial, not their given names ("Jan" and "Jan-Willem" are two). So an
undated "Mark van der Berg" joins the one dated Mark van der Berg of the case, or, where
there is none (or two: a father and a son), the other undated ones of that name; with an
initial ("M.", "J.W.") an entry stays its own.
"""

from __future__ import annotations

from collections.abc import Iterable

from triage.households.match import Person
from triage.households.names import fold
from triage.intake.models import PersonOut, PersonSeen


def display_name(p: PersonOut) -> str:
    parts = [p.voornaam, p.tussenvoegsel, p.achternaam]
    return " ".join(x for x in parts if x) or "(naam onbekend)"


def _normal(p: PersonOut) -> Person:
    return Person.of(bsn=p.bsn, voornaam=p.voornaam, tussenvoegsel=p.tussenvoegsel,
                     achternaam=p.achternaam, geboortedatum=p.geboortedatum)  # fmt: skip


def _identity(normal: Person) -> tuple[str, ...] | None:
    """What makes two dated entries one person; None: not dated, or no surname."""
    if normal.born is None or not normal.core_sound:
        return None
    return (normal.core_sound, normal.first[:1], normal.born.isoformat())


def _whole_name(p: PersonOut, normal: Person) -> tuple[str, str] | None:
    """Surname sound and every given name, as written out (folded: "Jan-Willem" is
    "jan willem", not Jan): what an undated entry is known by. None with an initial
    among them ("M.", "J.W. Bakker") or no surname: not enough to say who."""
    given = fold(p.voornaam).replace("'", "")
    if not given or not normal.core_sound or any(len(n) < 2 for n in given.split()):
        return None
    return (normal.core_sound, given)


def group(persons: Iterable[PersonOut]) -> list[PersonSeen]:
    """The people of ``persons`` (in the order first seen), each once."""
    entries = list(persons)
    normals = [_normal(p) for p in entries]
    wholes = [_whole_name(p, normal) for p, normal in zip(entries, normals, strict=True)]
    groups: list[list[int]] = []
    by_bsn: dict[str, int] = {}
    by_identity: dict[tuple[str, ...], int] = {}
    undated: list[tuple[int, tuple[str, str]]] = []
    for i, p in enumerate(entries):
        identity = _identity(normals[i])
        index = by_bsn.get(p.bsn) if p.bsn else None
        whole = wholes[i]
        if index is None and identity is None and not p.bsn and whole is not None:
            undated.append((i, whole))  # placed once every dated person is known
            continue
        if index is None and identity is not None:
            index = by_identity.get(identity)
            if (
                index is not None
                and p.bsn
                and any(entries[o].bsn and entries[o].bsn != p.bsn for o in groups[index])
            ):
                index = None  # the same name and birth date, another BSN: two people
        if index is None:
            index = len(groups)
            groups.append([])
        groups[index].append(i)
        if p.bsn:
            by_bsn.setdefault(p.bsn, index)
        if identity is not None:
            by_identity.setdefault(identity, index)
    named: dict[tuple[str, str], set[int]] = {}
    for index, members in enumerate(groups):
        for i in members:
            if (name := wholes[i]) is not None:
                named.setdefault(name, set()).add(index)
    by_name: dict[tuple[str, str], int] = {}
    for i, name in undated:
        known = named.get(name, set())
        index = next(iter(known)) if len(known) == 1 else by_name.get(name)
        if index is None:
            index = by_name[name] = len(groups)
            groups.append([])
        groups[index].append(i)
    ordered = sorted((sorted(members) for members in groups), key=lambda m: m[0])
    return [_seen([entries[i] for i in members]) for members in ordered]


def _seen(entries: list[PersonOut]) -> PersonSeen:
    names = [display_name(p) for p in entries]
    common = max(dict.fromkeys(names), key=names.count)
    roles = list(dict.fromkeys(p.role for p in entries))
    return PersonSeen(
        naam=common,
        bsn=next((p.bsn for p in entries if p.bsn), None),
        geboortedatum=next((p.geboortedatum for p in entries if p.geboortedatum), None),
        roles=roles,
        variants=[n for n in dict.fromkeys(names) if n != common],
        times=len(entries),
    )
