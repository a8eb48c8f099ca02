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

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal
from uuid import UUID

from rapidfuzz.distance import OSA, JaroWinkler

from triage.households.model import PERSON_FIELDS, Weights
from triage.households.names import first_name, fold, is_initial, sound, surname_core, swapped

Decision = Literal["linked", "review", "new_case"]


@functools.lru_cache(maxsize=8192)
def _normal_names(voornaam: str | None, achternaam: str | None) -> tuple[str, str, str, str]:
    """First name and surname core with their sound keys. Kept for the names met most
    (a region's people share a few thousand names; a list of a common surname's cases
    would otherwise fold and sound the same name thousands of times). Only in this
    process's memory, bounded, gone with it."""
    first, core = first_name(voornaam), surname_core(achternaam)
    return first, core, sound(first) if first else "", sound(core) if core else ""


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
        first, core, first_sound, core_sound = _normal_names(voornaam, achternaam)
        return cls(bsn, first, core, geboortedatum, first_sound, core_sound)

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
    street: str = ""  # folded straat, "" if unknown

    @classmethod
    def written(
        cls,
        *,
        postcode: str | None,
        huisnummer: int | None,
        toevoeging: str | None,
        woonplaats: str | None,
        straat: str | None,
    ) -> Address:
        """An address as stored or sent (postcode normalised, number split), in the form
        recognition compares: woonplaats and straat folded, no addition as ""."""
        return cls(postcode, huisnummer, toevoeging or "", fold(woonplaats), fold(straat))


#: No address given: what keys and comparisons see of a person looked up on their own.
NO_ADDRESS = Address(postcode=None, huisnummer=None, toevoeging="", place="")


@dataclass
class Candidate:
    case_id: UUID
    household_id: UUID
    open: bool
    addresses: list[Address]  # every address reported for the household (it may move)
    persons: list[Person] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Contribution:
    """One step of the waterfall: a field's level and what it added to the match weight.
    ``field`` is a compared field, or ``households_here`` (several households
    at the dwelling), ``other_persons`` (more people of the melding found in the case)."""

    field: str
    level: str
    weight: float

    @property
    def text(self) -> str:
        return TEXTS.get((self.field, self.level), f"{self.field}: {self.level}")


#: What each level means, for the operator.
TEXTS: dict[tuple[str, str], str] = {
    ("bsn", "exact"): "BSN gelijk",
    ("bsn", "different"): "BSN verschilt",
    ("born", "exact"): "geboortedatum gelijk",
    ("born", "swapped"): "geboortedatum gelijk met dag en maand verwisseld",
    ("born", "one_digit"): "geboortedatum wijkt één cijfer af",
    ("born", "one_part"): "geboortedatum wijkt op één onderdeel af",
    ("born", "different"): "geboortedatum verschilt",
    ("surname", "exact"): "achternaam gelijk",
    ("surname", "sound"): "achternaam klinkt gelijk",
    ("surname", "close"): "achternaam bijna gelijk (tikfout)",
    ("surname", "similar"): "achternaam lijkt erop",
    ("surname", "different"): "achternaam verschilt",
    ("first", "exact"): "voornaam gelijk",
    ("first", "sound"): "voornaam klinkt gelijk",
    ("first", "close"): "voornaam bijna gelijk (tikfout)",
    ("first", "similar"): "voornaam lijkt erop",
    ("first", "initial"): "voorletter past",
    ("first", "different"): "voornaam verschilt",
    ("names", "swapped"): "voornaam en achternaam verwisseld",
    ("names", "two_people"): "een ander persoon (ander BSN): alleen de familienaam telt",
    ("address", "dwelling"): "zelfde woning",
    ("address", "dwelling_other_street"): "zelfde postcode en huisnummer, andere straat",
    ("address", "other_unit"): "zelfde huisnummer, andere toevoeging (andere woning)",
    ("address", "postcode_typo"): "zelfde huisnummer, postcode wijkt af (tikfout?)",
    ("address", "neighbour"): "zelfde straat, ander huisnummer (buren)",
    ("address", "pc4"): "zelfde wijk (postcodecijfers), ander adres",
    ("address", "place"): "zelfde woonplaats",
    ("address", "different"): "ander adres",
    ("households_here", "several"): "meer huishoudens op dit adres",
    ("other_persons", "found"): "meer personen van de melding in de casus",
}


#: Why evidence strong enough to link did not link on its own: the operator reads it.
NOT_ALONE = {
    "persons_disagree": "geen automatische koppeling: geen persoon komt overeen, alleen het adres",
    "namesake_elsewhere": "geen automatische koppeling: alleen achternaam en geboortedatum "
    "gelijk, andere voornaam, andere woonplaats (een naamgenoot?)",
    "names_elsewhere": "geen automatische koppeling: alleen de namen gelijk, geen "
    "geboortedatum of BSN om te vergelijken, op een ander adres (een naamgenoot?)",
    "relative_next_door": "geen automatische koppeling: alleen de achternaam gelijk, een "
    "ander huisnummer in de straat (familie van de buren?)",
}
NotAlone = Literal["namesake_elsewhere", "names_elsewhere", "relative_next_door"]


@dataclass(frozen=True, slots=True)
class Scored:
    candidate: Candidate
    #: The evidence: log2 of how much likelier these comparisons are for one household
    #: than for two (the sum of the contributions). The thresholds apply to it.
    score: float
    contributions: tuple[Contribution, ...]
    #: No person of the melding agrees with any of the case's on any field both have:
    #: the address would decide alone, which is not enough to link.
    persons_disagree: bool = False
    #: The best-matching person may be a namesake, so a person decides (a key of
    #: ``NOT_ALONE``): ``namesake_elsewhere``, they agree on surname and birth date only,
    #: with another first name, in another town (a namesake born the same day as often as
    #: the same person; on the benchmarks' data every such link was wrong but for
    #: FEBRL's); ``names_elsewhere``, they agree on the names and nothing else of theirs
    #: can be compared (no birth date or BSN on one side), and the melding gives a
    #: dwelling whose comparison with the case's counts against (another address in the
    #: town: as often a namesake as a move; on the Dutch set every such link was wrong);
    #: ``relative_next_door``, they agree on the surname and on nothing of their own (first
    #: name, birth date, BSN) at another number in the street: a family next door, however
    #: much a region's model learned that a neighbour's number is a typo of the case's.
    namesake: NotAlone | None = None

    @property
    def may_link(self) -> bool:
        return not (self.persons_disagree or self.namesake)

    @property
    def at_dwelling(self) -> bool:
        """The melding's address is this case's dwelling (postcode, number, addition)."""
        return any(c.field == "address" and c.level == "dwelling" for c in self.contributions)

    @property
    def reasons(self) -> tuple[str, ...]:
        found = tuple(
            f"persoon: {c.text}" if c.field in PERSON_FIELDS or c.field == "names" else c.text
            for c in self.contributions
        )
        if self.persons_disagree:
            return (*found, NOT_ALONE["persons_disagree"])
        if self.namesake:
            return (*found, NOT_ALONE[self.namesake])
        return found


@dataclass(frozen=True, slots=True)
class Outcome:
    decision: Decision
    best_open: Scored | None  # the open case linked to, or to review against
    #: Whose history counts for urgency: the case linked to, or a closed case of the same
    #: household. Never a case only possibly the same (review): until a person confirms
    #: it, its history is someone else's.
    history_from: Scored | None
    others: tuple[Scored, ...] = ()  # the other candidates, best first


def _jw(a: str, b: str) -> float:
    return float(JaroWinkler.similarity(a, b))


def _born_level(a: date, b: date) -> str:
    if a == b:
        return "exact"
    if swapped(a) == b:
        return "swapped"
    if (a.year == b.year) + (a.month == b.month) + (a.day == b.day) != 2:
        return "different"
    # One part differs (a digit mistyped lies within one part): in one digit, or more.
    x, y = (a.year, b.year) if a.year != b.year else (
        (a.month, b.month) if a.month != b.month else (a.day, b.day))  # fmt: skip
    differing = 0
    while x or y:
        x, dx = divmod(x, 10)
        y, dy = divmod(y, 10)
        differing += dx != dy
    return "one_digit" if differing == 1 else "one_part"


def _name_level(a: str, b: str, a_sound: str, b_sound: str, *, first: bool) -> str:
    if a == b:
        return "exact"
    if first and (is_initial(a) or is_initial(b)):
        return "initial" if a[0] == b[0] else "different"
    if a_sound == b_sound:
        return "sound"
    similarity = _jw(a, b)
    if similarity >= 0.92:
        return "close"
    if similarity >= 0.8:
        return "similar"
    return "different"


#: One step of the evidence while comparing: (field, level, weight). Plain tuples in the
#: inner loop (every pair of people of every candidate); Contributions for the winner.
Step = tuple[str, str, float]
_SWAPPED: Step = ("names", "swapped", 0.0)
_TWO_PEOPLE: Step = ("names", "two_people", 0.0)


def _name_step(w: Weights, field: Literal["surname", "first"], a: tuple[str, str],
               b: tuple[str, str]) -> Step:  # fmt: skip
    """``a`` and ``b`` are (name, sound)."""
    level = _name_level(a[0], b[0], a[1], b[1], first=field == "first")
    if level == "exact":
        # A common name agreeing says less; never less than sounding alike.
        return field, level, max(w.exact_name(field, b[0]), w.level[field]["sound"])
    return field, level, w.level[field][level]


def _names(first: tuple[str, str], core: tuple[str, str], b: Person, w: Weights
           ) -> tuple[float, list[Step]]:  # fmt: skip
    """``first`` and ``core`` (surname) are (name, sound), compared with ``b``'s."""
    found: list[Step] = []
    score = 0.0
    if core[0] and b.core:
        step = _name_step(w, "surname", core, (b.core, b.core_sound))
        found.append(step)
        score += step[2]
    if first[0] and b.first:
        step = _name_step(w, "first", first, (b.first, b.first_sound))
        found.append(step)
        score += step[2]
    return score, found


def _evidence(a: Person, b: Person, w: Weights, as_compared: bool) -> tuple[float, list[Step]]:
    found: list[Step] = []
    score = 0.0
    if a.bsn and b.bsn:
        level = "exact" if a.bsn == b.bsn else "different"
        score = w.level["bsn"][level]
        found.append(("bsn", level, score))
        if level == "different" and not as_compared:
            # Two people: their birth dates and first names say nothing about whether one
            # is the other. Only the family name may still tie them to one household.
            family_score, family = _names(("", ""), (a.core, a.core_sound), b, w)
            return score + family_score, [*found, *family, _TWO_PEOPLE]
    first, core = (a.first, a.first_sound), (a.core, a.core_sound)
    named, names = _names(first, core, b, w)
    # Sources sometimes swap first name and surname; compare crosswise as well (unless
    # both names agree already: crosswise cannot do better).
    if (
        a.first and a.core
        and not (len(names) == 2 and names[0][1] == names[1][1] == "exact")
        # Crosswise can only do better if a crossed pair may be alike: their sounds start
        # alike (it skips the second comparison for nearly every pair of two people).
        and ((b.first and a.core_sound[:1] == b.first_sound[:1])
             or (b.core and a.first_sound[:1] == b.core_sound[:1]))
    ):  # fmt: skip
        crossed, crossed_names = _names(core, first, b, w)
        if crossed > named:
            named, names = crossed, [*crossed_names, _SWAPPED]
    if a.born and b.born:
        level = _born_level(a.born, b.born)
        weight = w.level["born"][level]
        found.append(("born", level, weight))
        score += weight
    return score + named, [*found, *names]


def person_evidence(
    a: Person, b: Person, w: Weights, *, as_compared: bool = False
) -> tuple[float, list[Contribution]]:
    """How strongly ``a`` and ``b`` are one person, or of one family: the sum of each
    field's weight, with the field's level (a field one of them lacks adds nothing).
    Two people with different BSNs are two people: only their family name counts.
    ``as_compared``: every field as it compared, also for two people (what training
    counts: the levels' probabilities are of the comparisons themselves)."""
    score, found = _evidence(a, b, w, as_compared)
    return score, [Contribution(*step) for step in found]


def _one_typo(a: str, b: str) -> bool:
    """``a`` and ``b`` are one string with one character written wrong, or two neighbours
    swapped (5018 and 5081)."""
    if len(a) != len(b):
        return False
    at = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    if len(at) == 1:
        return True
    return len(at) == 2 and at[1] == at[0] + 1 and a[at[0]] == b[at[1]] and a[at[1]] == b[at[0]]


def _near(a: str, b: str) -> bool:
    """Not another place: the same one, one mistyped, or one of them not known."""
    return not (a and b) or _jw(a, b) >= 0.9


#: The shortest woonplaats in which one mistake is a typo and not another town.
_PLACE_TYPO_FROM = 7


def _one_place(a: str, b: str) -> bool:
    """One woonplaats, also when written with one mistake (a letter wrong, left out or
    added, two neighbours swapped, a space): not in a short name, where one letter is
    another town (Drunen and Druten, Rijen and Rijsen). Jaro-Winkler, as for names, is too
    lenient here: Udenhout and Uden, Haaren and Haarlem are each two places."""
    a, b = a.replace(" ", ""), b.replace(" ", "")
    return a == b or (min(len(a), len(b)) >= _PLACE_TYPO_FROM and OSA.distance(a, b) <= 1)


def address_level(a: Address, b: Address) -> str | None:
    """How two addresses compare, or None when they cannot be compared."""
    if a.postcode and b.postcode and a.huisnummer and b.huisnummer:
        same_number = a.huisnummer == b.huisnummer and a.toevoeging == b.toevoeging
        if a.postcode == b.postcode and a.huisnummer != b.huisnummer:
            return "neighbour"
        if a.postcode == b.postcode and a.toevoeging != b.toevoeging:
            return "other_unit"  # 12A is not 12B
        # Both name a street, and not one street (a typo is "one street"; so is a space
        # left out: "Lelta place" and "Leltaplace").
        a_street, b_street = a.street.replace(" ", ""), b.street.replace(" ", "")
        one_street = bool(a_street) and a_street == b_street
        streets_differ = (
            bool(a_street and b_street) and not one_street and _jw(a_street, b_street) < 0.9
        )
        if a.postcode == b.postcode:
            return "dwelling_other_street" if streets_differ else "dwelling"
        # One number at a postcode that differs only in its letters, or on one street in
        # one place, or on one street with one character of the postcode wrong (or two
        # neighbours swapped) in a place not another: a postcode written wrong (the
        # letters follow the street). Not when the streets differ: number 12 of another
        # street in the same neighbourhood is another dwelling. Not on the postcode alone
        # when its digits differ: number 12 one digit away is another neighbourhood's.
        if (
            same_number
            and not streets_differ
            and (
                a.postcode[:4] == b.postcode[:4]
                or (one_street and a.place == b.place)
                or (one_street and _one_typo(a.postcode, b.postcode) and _near(a.place, b.place))
            )
        ):
            return "postcode_typo"
        if a.postcode[:4] == b.postcode[:4]:
            return "pc4"
    if a.place and b.place:
        return "place" if _one_place(a.place, b.place) else "different"
    if a.postcode and b.postcode:
        return "pc4" if a.postcode[:4] == b.postcode[:4] else "different"
    return None


_PERSON_FIELDS = frozenset(PERSON_FIELDS)


@dataclass(slots=True)
class _People:
    """The people of a melding against a case's: each one's best match, and whether any
    pair of them agreed on anything they both have."""

    best: list[tuple[float, list[Step]]] = field(default_factory=list)
    compared: bool = False
    agreed: bool = False


def _compare_people(persons: Sequence[Person], others: Sequence[Person], w: Weights) -> _People:
    people = _People()
    for person in persons:
        best: tuple[float, list[Step]] | None = None
        for other in others:
            found = _evidence(person, other, w, False)
            if not people.agreed:
                for f, level, _ in found[1]:
                    if f in _PERSON_FIELDS:
                        people.compared = True
                        people.agreed |= level != "different"
            if best is None or found[0] > best[0]:
                best = found
        if best is not None:
            people.best.append(best)
    return people


def score_candidate(
    persons: Sequence[Person],
    address: Address,
    candidate: Candidate,
    w: Weights,
    *,
    households_here: int = 1,
) -> Scored:
    """The evidence for ``candidate``: the address, the best-matching person, and a
    share of the other people of the melding that the case also knows."""
    contributions: list[Contribution] = []
    levels = [lv for other in candidate.addresses if (lv := address_level(address, other))]
    level = max(levels, key=lambda lv: w.level["address"][lv]) if levels else None
    if level is not None:
        contributions.append(Contribution("address", level, w.level["address"][level]))
        if households_here > 1 and level in ("dwelling", "dwelling_other_street"):
            # Several open cases at one dwelling (rooms, a care home): the dwelling says
            # that much less about which of them this is.
            contributions.append(
                Contribution("households_here", "several", -math.log2(households_here))
            )
    people = _compare_people(persons, candidate.persons, w)
    best = sorted(people.best, key=lambda b: b[0], reverse=True)
    if best:
        contributions += [Contribution(*step) for step in best[0][1]]
        # Another person counts only as a match of their own: members of one family
        # share a surname, so that alone would count the same evidence twice.
        extra = sum(score for score, _ in best[1:] if score >= w.model.extra_person_at)
        if extra:
            share = min(w.model.extra_person_cap, w.model.extra_person_share * extra)
            contributions.append(Contribution("other_persons", "found", share))
    score = sum(c.weight for c in contributions)
    disagree = people.compared and not people.agreed
    # The address compared counts against: a dwelling the case does not know, in the
    # town or elsewhere (the model's weight of that level is below zero).
    against = level is not None and w.level["address"][level] < 0
    namesake = _namesake(
        best[0][1] if best else [],
        elsewhere=level == "different",
        other_dwelling=against and bool(address.postcode and address.huisnummer),
        next_door=level == "neighbour",
    )
    return Scored(candidate, score, tuple(contributions), disagree, namesake)


#: The levels at which a person's own fields agree (not a family's surname).
_OWN_AGREES = frozenset({
    ("bsn", "exact"), ("born", "exact"), ("born", "swapped"), ("born", "one_digit"),
    ("first", "exact"), ("first", "sound"), ("first", "close"),
})  # fmt: skip


def _namesake(
    steps: Sequence[Step], *, elsewhere: bool, other_dwelling: bool, next_door: bool
) -> NotAlone | None:
    """Whether the best-matching person may be a namesake or a relative
    (``Scored.namesake``)."""
    levels = {f: level for f, level, _ in steps if f in _PERSON_FIELDS}
    if levels.pop("surname", "different") == "different":
        return None
    if elsewhere and levels == {"born": "exact", "first": "different"}:
        return "namesake_elsewhere"
    if other_dwelling and set(levels) == {"first"} and levels["first"] != "different":
        return "names_elsewhere"
    if next_door and not _OWN_AGREES & set(levels.items()):
        return "relative_next_door"
    return None


def decide(
    persons: Sequence[Person],
    address: Address,
    candidates: Sequence[Candidate],
    w: Weights,
    *,
    households_here: int = 1,
) -> Outcome:
    """Link to the best open case if the evidence is strong, send it to review if it is
    middling or if the melding is at the dwelling of one open case, else open a new case; a
    closed case that matches gives its history. No link when the best-matching people
    disagree on everything they both have."""
    scored = sorted(
        (score_candidate(persons, address, c, w, households_here=households_here)
         for c in candidates),
        key=lambda s: s.score,
        reverse=True,
    )  # fmt: skip
    best_open = next((s for s in scored if s.candidate.open), None)
    best_closed = next((s for s in scored if not s.candidate.open), None)
    others = tuple(s for s in scored if s is not best_open)
    model = w.model
    if best_open is not None and best_open.score >= model.link_at:
        if best_open.may_link:
            return Outcome("linked", best_open, best_open, others)
        return Outcome("review", best_open, None, others)
    if best_open is not None and best_open.score >= model.review_at:
        return Outcome("review", best_open, None, others)
    # At the dwelling of an open case, about people it does not know: a new partner, a
    # housemate, or a new tenant. Not enough to link, too much to pass by in silence: the
    # operator decides, with the case beside it. Not where several households live (rooms,
    # a care home): there another person is another household.
    here = next((s for s in scored if s.candidate.open and s.at_dwelling), None)
    if here is not None and households_here == 1:
        return Outcome("review", here, None, tuple(s for s in scored if s is not here))
    closed_history = (
        best_closed if best_closed and best_closed.score >= model.link_at and best_closed.may_link
        else None
    )  # fmt: skip
    return Outcome("new_case", None, closed_history, others)
