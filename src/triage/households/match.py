"""Is this melding about a household we already have a case for?

Blocking finds the candidate cases (``keys.py``: cases that share a normalised address,
a BSN, a surname sound with a birth date, ...); this module scores the melding against
each candidate and decides. The score is a sum of evidence weights in the manner of
Fellegi-Sunter: each comparison adds roughly log2(P(agree | same) / P(agree | different))
when it agrees and the matching negative weight when it disagrees, so that strong
identifiers (a BSN) outweigh weak ones (a first name), absent data adds nothing, and
every contribution can be shown to the operator as a reason. String comparisons that
tolerate typos use rapidfuzz (Jaro-Winkler). The weights are set against a labelled
synthetic set (``loadtests/dedup_eval.py``); see docs/design.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal
from uuid import UUID

from rapidfuzz.distance import JaroWinkler

from triage.households.names import first_name, fold, is_initial, sound, surname_core, swapped

# Evidence weights (log2-odds scale, rounded).
W_BSN_AGREE, W_BSN_DISAGREE = 14.0, -14.0
W_DOB_AGREE, W_DOB_SWAPPED, W_DOB_TYPO, W_DOB_DISAGREE = 6.0, 4.0, 1.5, -6.0
W_SURNAME_AGREE, W_SURNAME_SOUND, W_SURNAME_CLOSE, W_SURNAME_DISAGREE = 4.0, 3.0, 2.0, -4.0
W_FIRST_AGREE, W_FIRST_CLOSE, W_FIRST_INITIAL, W_FIRST_DISAGREE = 3.0, 2.0, 1.0, -3.0
W_ADDRESS_SAME = 12.0  # the same dwelling: the household is who lives there
W_ADDRESS_OTHER_UNIT = -10.0  # same building number, other addition: another household
W_ADDRESS_NEIGHBOUR = -3.0  # same postcode, other number
W_ADDRESS_ELSEWHERE = -2.0  # households move; a different address is weak evidence
W_PLACE_SAME = 1.0
W_NO_ADDRESS = 0.0
#: At the same dwelling, names that do not match are most often another member of the
#: household (the mother one day, a child the next), so they count against it this much
#: at most.
SAME_DWELLING_PERSON_FLOOR = -2.0
#: Other members of the household that also match add this share of their evidence.
EXTRA_PERSON_SHARE = 0.5
EXTRA_PERSON_CAP = 12.0

LINK_AT = 10.0
REVIEW_AT = 6.0

Decision = Literal["linked", "review", "new_case"]


@dataclass(frozen=True, slots=True)
class Person:
    """A person in normal form (names folded, surname without tussenvoegsel), with the
    sound keys computed once: matching compares many pairs."""

    bsn: str | None
    first: str
    core: str  # surname without tussenvoegsel, folded
    born: date | None
    first_sound: str = ""
    core_sound: str = ""

    @classmethod
    def of(
        cls,
        *,
        bsn: str | None,
        voornaam: str | None,
        tussenvoegsel: str | None,
        achternaam: str | None,
        geboortedatum: date | None,
    ) -> Person:
        return cls.normal(
            bsn, first_name(voornaam), surname_core(achternaam, tussenvoegsel), geboortedatum
        )

    @classmethod
    def normal(cls, bsn: str | None, first: str, core: str, born: date | None) -> Person:
        return cls(
            bsn, first, core, born, sound(first) if first else "", sound(core) if core else ""
        )

    @classmethod
    def from_profile(cls, p: dict[str, str | None]) -> Person:
        born = p["born"]
        return cls(
            p["bsn"], p["first"] or "", p["core"] or "",
            date.fromisoformat(born) if born else None, p["fs"] or "", p["cs"] or "",
        )  # fmt: skip

    def profile(self) -> dict[str, str | None]:
        """The normal form as stored in a case's matching profile (sounds included, so
        that reading a profile computes nothing)."""
        born = self.born.isoformat() if self.born else None
        return {
            "bsn": self.bsn, "first": self.first, "core": self.core, "born": born,
            "fs": self.first_sound, "cs": self.core_sound,
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class Address:
    postcode: str | None
    huisnummer: int | None
    toevoeging: str
    place: str  # folded woonplaats, "" if unknown


@dataclass
class Candidate:
    case_id: UUID
    household_id: UUID
    open: bool
    addresses: list[Address]  # every address reported for the household (it may move)
    persons: list[Person] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Scored:
    candidate: Candidate
    score: float
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Outcome:
    decision: Decision
    best_open: Scored | None  # the open case linked to, or to review against
    history_from: Scored | None  # whose history counts for urgency (open or closed case)


def _jw(a: str, b: str) -> float:
    return float(JaroWinkler.similarity(a, b))


def _dob(a: date, b: date) -> tuple[float, str]:
    if a == b:
        return W_DOB_AGREE, "geboortedatum gelijk"
    if swapped(a) == b:
        return W_DOB_SWAPPED, "geboortedatum gelijk met dag en maand verwisseld"
    same = (a.year == b.year) + (a.month == b.month) + (a.day == b.day)
    if same == 2:
        return W_DOB_TYPO, "geboortedatum wijkt op één onderdeel af"
    return W_DOB_DISAGREE, "geboortedatum verschilt"


def _surname(a: str, b: str, a_sound: str, b_sound: str) -> tuple[float, str]:
    if a == b:
        return W_SURNAME_AGREE, "achternaam gelijk"
    if a_sound == b_sound:
        return W_SURNAME_SOUND, "achternaam klinkt gelijk"
    if _jw(a, b) >= 0.9:
        return W_SURNAME_CLOSE, "achternaam bijna gelijk (tikfout)"
    return W_SURNAME_DISAGREE, "achternaam verschilt"


def _first(a: str, b: str, a_sound: str, b_sound: str) -> tuple[float, str]:
    if a == b:
        return W_FIRST_AGREE, "voornaam gelijk"
    if is_initial(a) or is_initial(b):
        if a[0] == b[0]:
            return W_FIRST_INITIAL, "voorletter past"
        return W_FIRST_DISAGREE, "voorletter verschilt"
    if a_sound == b_sound or _jw(a, b) >= 0.88:
        return W_FIRST_CLOSE, "voornaam bijna gelijk"
    return W_FIRST_DISAGREE, "voornaam verschilt"


def _names(a: Person, b: Person) -> tuple[float, list[str]]:
    score, reasons = 0.0, list[str]()
    if a.core and b.core:
        w, r = _surname(a.core, b.core, a.core_sound, b.core_sound)
        score, reasons = score + w, [*reasons, r]
    if a.first and b.first:
        w, r = _first(a.first, b.first, a.first_sound, b.first_sound)
        score, reasons = score + w, [*reasons, r]
    return score, reasons


def person_evidence(a: Person, b: Person) -> tuple[float, list[str]]:
    """How strongly ``a`` and ``b`` are one person; positive is for, negative against."""
    score, reasons = 0.0, list[str]()
    if a.bsn and b.bsn:
        agree = a.bsn == b.bsn
        score += W_BSN_AGREE if agree else W_BSN_DISAGREE
        reasons.append("BSN gelijk" if agree else "BSN verschilt")
    if a.born and b.born:
        w, r = _dob(a.born, b.born)
        score, reasons = score + w, [*reasons, r]
    straight, straight_reasons = _names(a, b)
    # Sources sometimes swap first name and surname; compare crosswise as well (unless
    # both names agree already: crosswise cannot do better).
    if a.first and a.core and straight < W_SURNAME_AGREE + W_FIRST_AGREE:
        crossed, crossed_reasons = _names(
            Person(a.bsn, a.core, a.first, a.born, a.core_sound, a.first_sound), b
        )
        if crossed > straight:
            return score + crossed, [
                *reasons, *crossed_reasons, "voornaam en achternaam verwisseld"
            ]  # fmt: skip
    return score + straight, [*reasons, *straight_reasons]


def _address_evidence(a: Address, b: Address) -> tuple[float, str | None]:
    if a.postcode and b.postcode and a.huisnummer and b.huisnummer:
        if a.postcode == b.postcode and a.huisnummer == b.huisnummer:
            if a.toevoeging == b.toevoeging:
                return W_ADDRESS_SAME, "zelfde woning"
            return W_ADDRESS_OTHER_UNIT, "zelfde huisnummer, andere toevoeging (andere woning)"
        if a.postcode == b.postcode:
            return W_ADDRESS_NEIGHBOUR, "zelfde straat, ander huisnummer (buren)"
        return W_ADDRESS_ELSEWHERE, "ander adres"
    if a.place and a.place == b.place:
        return W_PLACE_SAME, "zelfde woonplaats"
    return W_NO_ADDRESS, None


def score_candidate(persons: Sequence[Person], address: Address, candidate: Candidate) -> Scored:
    addr_score, addr_reason = max(
        (_address_evidence(address, other) for other in candidate.addresses),
        key=lambda e: e[0],
        default=(0.0, None),
    )
    reasons = [addr_reason] if addr_reason else []
    best_per_person: list[tuple[float, list[str]]] = []
    for person in persons:
        pairs = [person_evidence(person, other) for other in candidate.persons]
        if pairs:
            best_per_person.append(max(pairs, key=lambda p: p[0]))
    person_score = 0.0
    if best_per_person:
        best_per_person.sort(key=lambda p: p[0], reverse=True)
        top, top_reasons = best_per_person[0]
        extra = sum(score for score, _ in best_per_person[1:] if score > 0)
        person_score = top + min(EXTRA_PERSON_CAP, EXTRA_PERSON_SHARE * extra)
        if addr_score == W_ADDRESS_SAME:
            person_score = max(person_score, SAME_DWELLING_PERSON_FLOOR)
        reasons += [f"persoon: {r}" for r in top_reasons]
    return Scored(candidate, addr_score + person_score, tuple(reasons))


def decide(persons: Sequence[Person], address: Address, candidates: Sequence[Candidate]) -> Outcome:
    """Link to the best open case if the evidence is strong, send it to review if it is
    middling, else open a new case; a closed case that matches gives its history."""
    scored = sorted(
        (score_candidate(persons, address, c) for c in candidates),
        key=lambda s: s.score,
        reverse=True,
    )
    best_open = next((s for s in scored if s.candidate.open), None)
    best_closed = next((s for s in scored if not s.candidate.open), None)
    if best_open is not None and best_open.score >= LINK_AT:
        return Outcome("linked", best_open, best_open)
    if best_open is not None and best_open.score >= REVIEW_AT:
        return Outcome("review", best_open, best_open)
    closed_history = best_closed if best_closed and best_closed.score >= LINK_AT else None
    return Outcome("new_case", None, closed_history)


def fold_place(place: str | None) -> str:
    return fold(place)
