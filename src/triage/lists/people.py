"""Each person once: the people reported in a case or household, grouped across the
meldingen and sources that wrote them each their own way.

Two entries are one person when they share a BSN, or (neither having one that differs)
surname sound, first initial and birth date by the recognition's own normal forms
(``households/names.py``), so "Jansen"/"Janssen" and "van der Berg"/"Berg, van der" are
one person shown with their variants. Without a birth date, a name stays its own entry:
two children of one family may share surname and initial.
"""

from __future__ import annotations

from collections.abc import Iterable

from triage.households.match import Person
from triage.intake.models import PersonOut, PersonSeen


def display_name(p: PersonOut) -> str:
    parts = [p.voornaam, p.tussenvoegsel, p.achternaam]
    return " ".join(x for x in parts if x) or "(naam onbekend)"


def _identity(p: PersonOut) -> tuple[str, ...] | None:
    """What makes two entries one person; None: this entry stands alone."""
    normal = Person.of(bsn=p.bsn, voornaam=p.voornaam, tussenvoegsel=p.tussenvoegsel,
                       achternaam=p.achternaam, geboortedatum=p.geboortedatum)  # fmt: skip
    if normal.born is None or not normal.core_sound:
        return None
    return (normal.core_sound, normal.first[:1], normal.born.isoformat())


def group(persons: Iterable[PersonOut]) -> list[PersonSeen]:
    """The people of ``persons`` (in the order first seen), each once."""
    groups: list[list[PersonOut]] = []
    by_bsn: dict[str, int] = {}
    by_identity: dict[tuple[str, ...], int] = {}
    for p in persons:
        identity = _identity(p)
        index = by_bsn.get(p.bsn) if p.bsn else None
        if index is None and identity is not None:
            index = by_identity.get(identity)
            if index is not None and p.bsn and any(o.bsn and o.bsn != p.bsn for o in groups[index]):
                index = None  # the same name and birth date, another BSN: two people
        if index is None:
            index = len(groups)
            groups.append([])
        groups[index].append(p)
        if p.bsn:
            by_bsn.setdefault(p.bsn, index)
        if identity is not None:
            by_identity.setdefault(identity, index)
    return [_seen(g) for g in groups]


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
