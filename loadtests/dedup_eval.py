"""Household recognition against a labelled synthetic set, through the real API.

    python loadtests/dedup_eval.py [--meldingen 20000] [--households 8000] [--rate 400]

Builds households with Faker ``nl_NL`` (seeded), then meldingen about them with the
corruption real intake sees: typos, initials, swapped first and last names, tussenvoegsel
spellings ("Berg, van der"), missing BSNs and birth dates, day and month swapped, address
format variants, households that move, people without a fixed address, and the hard
cases: apartments 12A and 12B, and neighbours with one surname. It posts them to a fresh
service (like intake_bench.py) and compares the cases formed with the truth:

- auto-link precision: of the meldingen linked to an open case, the share linked to a
  case of their own household;
- recall: of the meldingen whose household already had a case, the share linked to it;
- review share: meldingen sent to review, of all.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import orjson
from faker import Faker

from dataset import PLACES, valid_bsn
from intake_bench import PATH, _free_port, add_server_options, prepare_database, start_service
from openloop import encode_post, run_open_loop

_LETTERS = "ABCDEFGHJKLMNPRTUVWXYZ"


def _postcode(rng: random.Random, low: int, high: int) -> str:
    return f"{rng.randint(low, high)}{rng.choice(_LETTERS)}{rng.choice(_LETTERS)}"


_PREFIXES = ["van", "de", "van der", "van den", "van de", "ter", "den", "in 't"]


@dataclass
class Member:
    voornaam: str
    tussenvoegsel: str | None
    achternaam: str
    geboortedatum: date
    bsn: str
    role: str


@dataclass
class Household:
    ident: int
    postcode: str | None  # None: no fixed address
    huisnummer: int
    toevoeging: str
    woonplaats: str
    members: list[Member] = field(default_factory=list)


class World:
    def __init__(self, seed: int, households: int) -> None:
        self.rng = random.Random(seed)
        self.fake = Faker("nl_NL")
        self.fake.seed_instance(seed)
        self.households: list[Household] = []
        while len(self.households) < households:
            roll = self.rng.random()
            if roll < 0.04:
                self._apartments()
            elif roll < 0.08:
                self._neighbours()
            else:
                self.households.append(self._household())

    def _surname(self) -> tuple[str | None, str]:
        if self.rng.random() < 0.25:
            return self.rng.choice(_PREFIXES), self.fake.last_name().split()[-1]
        return None, self.fake.last_name()

    def _member(self, role: str, prefix: str | None, surname: str, age: tuple[int, int]) -> Member:
        born = date(2026, 11, 1) - timedelta(days=self.rng.randint(age[0] * 365, age[1] * 365))
        first = (
            self.fake.first_name_female()
            if self.rng.random() < 0.5
            else self.fake.first_name_male()
        )
        return Member(first, prefix, surname, born, valid_bsn(self.rng), role)

    def _household(
        self,
        postcode: str | None = None,
        number: int | None = None,
        toevoeging: str = "",
        surname: tuple[str | None, str] | None = None,
    ) -> Household:
        place, (low, high) = self.rng.choice(PLACES)
        homeless = postcode is None and self.rng.random() < 0.05
        if postcode is None and not homeless:
            postcode = _postcode(self.rng, low, high)
        house = Household(
            ident=len(self.households),
            postcode=postcode,
            huisnummer=number or self.rng.randint(1, 300),
            toevoeging=toevoeging or self.rng.choice(["", "", "", "", "", "A", "B", "1"]),
            woonplaats=place,
        )
        prefix, name = surname or self._surname()
        house.members.append(self._member("slachtoffer", prefix, name, (18, 85)))
        if self.rng.random() < 0.7:
            other_prefix, other = self._surname() if self.rng.random() < 0.5 else (prefix, name)
            house.members.append(self._member("pleger", other_prefix, other, (18, 75)))
        for _ in range(self.rng.choice([0, 0, 1, 1, 2, 3])):
            house.members.append(self._member("kind", prefix, name, (0, 17)))
        return house

    def _apartments(self) -> None:
        """12A and 12B: two households behind one front door number."""
        first = self._household(toevoeging="A")
        if first.postcode is None:
            return
        self.households.append(first)
        self.households.append(self._household(first.postcode, first.huisnummer, "B"))

    def _neighbours(self) -> None:
        """Two households in one street with the same surname (relatives, or a common name)."""
        first = self._household()
        if first.postcode is None:
            return
        self.households.append(first)
        surname = (first.members[0].tussenvoegsel, first.members[0].achternaam)
        self.households.append(
            self._household(first.postcode, first.huisnummer + 2, first.toevoeging, surname)
        )


class Reporter:
    """Writes meldingen about households the way different desks do."""

    def __init__(self, world: World, seed: int) -> None:
        self.world = world
        self.rng = random.Random(seed)
        # The corruptions added later draw from their own generators, so that the set
        # otherwise stays the one earlier figures were measured on.
        self.noise = random.Random(seed + 100)
        self.streets = Faker("nl_NL")
        self.streets.seed_instance(seed + 100)
        self.street_of: dict[str, str] = {}
        #: Which members of its household the last melding named (for the figures only).
        self.mentioned: set[int] = set()

    def _street(self, postcode: str) -> str:
        """One street per postcode (the letters of a Dutch postcode follow the street)."""
        if postcode not in self.street_of:
            self.street_of[postcode] = self.streets.street_name()
        return self.street_of[postcode]

    def _born(self, born: date) -> date:
        """Day and month swapped (3%), or one digit wrong (2%)."""
        if self.rng.random() < 0.03 and born.day <= 12:
            born = date(born.year, born.day, born.month)
        if self.noise.random() < 0.02:
            born = self._digit_typo(born)
        return born

    def _digit_typo(self, born: date) -> date:
        """One digit of the date typed wrong, still a date."""
        text = born.strftime("%Y%m%d")
        for _ in range(20):
            i = self.noise.choice([2, 3, 5, 6, 7])  # not the century, not a month's tens
            candidate = text[:i] + str(self.noise.randrange(10)) + text[i + 1 :]
            try:
                typed = datetime.strptime(candidate, "%Y%m%d").date()
            except ValueError:
                continue
            if typed != born and typed <= date.today():
                return typed
        return born

    def _typo(self, text: str) -> str:
        if len(text) < 4:
            return text
        i = self.rng.randrange(1, len(text) - 1)
        kind = self.rng.choice(["swap", "drop", "double", "replace"])
        if kind == "swap":
            return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
        if kind == "drop":
            return text[:i] + text[i + 1 :]
        if kind == "double":
            return text[:i] + text[i] + text[i:]
        return text[:i] + self.rng.choice("aeiou") + text[i + 1 :]

    def _person(self, member: Member) -> dict[str, Any]:
        r = self.rng.random
        voornaam, achternaam, prefix = member.voornaam, member.achternaam, member.tussenvoegsel
        if r() < 0.06:
            achternaam = self._typo(achternaam)
        if r() < 0.06:
            voornaam = self._typo(voornaam)
        if r() < 0.08:
            voornaam = voornaam[0] + "."
        if r() < 0.1:
            achternaam, voornaam = achternaam.upper(), voornaam.upper()
        person: dict[str, Any] = {"role": member.role, "voornaam": voornaam}
        if prefix and r() < 0.4:
            person["achternaam"] = f"{achternaam}, {prefix}"
        elif prefix and r() < 0.5:
            person["achternaam"] = f"{prefix} {achternaam}"
        else:
            person["achternaam"] = achternaam
            if prefix:
                person["tussenvoegsel"] = prefix
        if r() < 0.03:
            person["voornaam"], person["achternaam"] = person["achternaam"], person["voornaam"]
            person.pop("tussenvoegsel", None)
        born = self._born(member.geboortedatum)
        if r() < 0.8:
            person["geboortedatum"] = born.isoformat()
        if r() < 0.5:
            person["bsn"] = member.bsn
        return person

    def _address(self, house: Household) -> dict[str, Any]:
        if house.postcode is None:
            return {"woonplaats": house.woonplaats}
        postcode = house.postcode
        street = self._street(postcode)
        if self.noise.random() < 0.01:  # a letter of the postcode mistyped
            i = self.noise.choice([4, 5])
            postcode = postcode[:i] + self.noise.choice(_LETTERS) + postcode[i + 1 :]
        if self.rng.random() < 0.5:
            postcode = f"{postcode[:4]} {postcode[4:]}"
        if self.rng.random() < 0.3:
            postcode = postcode.lower()
        address: dict[str, Any] = {"postcode": postcode, "woonplaats": house.woonplaats}
        if self.noise.random() < 0.6:
            address["straat"] = self._typo(street) if self.noise.random() < 0.03 else street
        style = self.rng.random()
        if not house.toevoeging:
            address["huisnummer"] = house.huisnummer if style < 0.5 else str(house.huisnummer)
        elif style < 0.3:
            address["huisnummer"] = f"{house.huisnummer}-{house.toevoeging.lower()}"
        elif style < 0.6:
            address["huisnummer"] = f"{house.huisnummer} {house.toevoeging}"
        else:
            address["huisnummer"] = house.huisnummer
            address["toevoeging"] = house.toevoeging
        return address

    def melding(self, index: int, house: Household, received_at: datetime) -> dict[str, Any]:
        mentioned = self.rng.sample(
            house.members, k=self.rng.randint(1, min(3, len(house.members)))
        )
        self.mentioned = {house.members.index(m) for m in mentioned}
        return {
            "source": self.rng.choice(["politie", "politie", "veilig_thuis", "cit", "wijkteam"]),
            "external_id": f"EVAL-{index:06d}",
            "received_at": received_at.isoformat(timespec="seconds"),
            "kind": "melding",
            "category": self.rng.choice(
                ["huiselijk_geweld", "verward_gedrag", "kindermishandeling"]
            ),
            "signals": [],
            "summary": "Synthetische evaluatiemelding.",
            "address": self._address(house),
            "persons": [self._person(m) for m in mentioned],
        }


#: The groups reported apart: a household at its address, one reported after it moved
#: (the address it had is no help), one without a fixed address. A melding is also
#: marked when it names nobody its household's earlier meldingen named: then only the
#: address (or a family name) can tie it to the case, and an address alone does not link.
GROUPS = ("vast adres", "verhuisd", "zonder adres")


def stream(world: World, count: int, seed: int) -> list[tuple[int, str, dict[str, Any]]]:
    """``count`` meldingen in time order, each with its household and group (with
    " (niemand eerder genoemd)" appended when it names nobody named before); some
    households are reported often, and about one in fifty moves house at some point."""
    rng = random.Random(seed)
    reporter = Reporter(world, seed)
    weights = [rng.paretovariate(1.6) for _ in world.households]
    chosen = rng.choices(world.households, weights=weights, k=count)
    # Every household at least once, so the set spans all of them.
    chosen[: len(world.households)] = world.households
    rng.shuffle(chosen)
    moved: set[int] = set()
    named_before: dict[int, set[int]] = {}
    start = datetime.now(UTC) - timedelta(days=20)
    out = []
    for index, house in enumerate(chosen):
        if house.postcode and house.ident not in moved and rng.random() < 0.02:
            moved.add(house.ident)
            place, (low, high) = rng.choice(PLACES)
            house.postcode = _postcode(rng, low, high)
            house.huisnummer, house.toevoeging, house.woonplaats = rng.randint(1, 300), "", place
        received = start + timedelta(seconds=index * 80)
        group = (
            "zonder adres" if house.postcode is None
            else "verhuisd" if house.ident in moved else "vast adres"
        )  # fmt: skip
        melding = reporter.melding(index, house, received)
        named = named_before.setdefault(house.ident, set())
        if named and not named & reporter.mentioned:
            group += NOBODY_NAMED
        named |= reporter.mentioned
        out.append((house.ident, group, melding))
    return out


NOBODY_NAMED = " (niemand eerder genoemd)"


def _shares(linked: int, right: int, should: int, did: int, asked: int) -> dict[str, float]:
    return {
        "precision": right / linked if linked else float("nan"),
        "recall": did / should if should else float("nan"),
        "recall_with_review": (did + asked) / should if should else float("nan"),
        "linked": linked,
        "should_link": should,
    }


#: The meldingen that name someone their household's earlier meldingen named.
NAMED = "iemand eerder genoemd"


async def filed(db_url: str) -> list[asyncpg.Record]:
    """Each melding's case, decision and the case it was weighed against most, in the
    order they were stored."""
    conn = await asyncpg.connect(db_url)
    try:
        rows: list[asyncpg.Record] = await conn.fetch(
            "SELECT external_id, case_id, dedup_decision, dedup_matched_case_id FROM meldingen "
            "WHERE external_id LIKE 'EVAL-%' ORDER BY created_at, id"
        )
        return rows
    finally:
        await conn.close()


def _households(
    rows: Sequence[Mapping[str, Any]], truth: dict[str, int]
) -> dict[Any, Counter[int]]:
    case_household: dict[Any, Counter[int]] = {}
    for row in rows:
        case_household.setdefault(row["case_id"], Counter())[truth[row["external_id"]]] += 1
    return case_household


def owners(rows: Sequence[Mapping[str, Any]], truth: dict[str, int]) -> dict[Any, int]:
    """Each case's household: the one most of its meldingen are about."""
    return {c: n.most_common(1)[0][0] for c, n in _households(rows, truth).items()}


def figures(
    rows: Sequence[Mapping[str, Any]], truth: dict[str, int], groups: dict[str, str]
) -> dict[str, Any]:
    """Precision, recall and review share of the cases formed (``rows`` in stored order:
    external_id, case_id, dedup_decision, dedup_matched_case_id), overall and per group.

    Beside recall (linked to its household's case), recall with review: linked, or sent to
    review with its household's case as the one weighed most, so that the operator who
    reviews it has the household in front of them. Point 2 of recognition sends some
    herhaalmeldingen there on purpose (people the case does not know, at its dwelling)."""
    case_household = _households(rows, truth)
    owner = owners(rows, truth)
    seen: set[int] = set()
    decisions: Counter[str] = Counter()
    linked = linked_right = should_link = did_link = asked_right = 0
    # per group: linked, right, should, did, asked (review with the right case)
    per_group = {g: [0, 0, 0, 0, 0] for g in (*GROUPS, NAMED)}
    for row in rows:
        house = truth[row["external_id"]]
        group = groups[row["external_id"]]
        counts = per_group[group.removesuffix(NOBODY_NAMED)]
        named = per_group[NAMED] if not group.endswith(NOBODY_NAMED) else [0, 0, 0, 0, 0]
        decision = row["dedup_decision"]
        decisions[decision] += 1
        if decision == "linked":
            linked += 1
            right = owner[row["case_id"]] == house
            linked_right += right
            for c in (counts, named):
                c[0] += 1
                c[1] += right
        if house in seen:
            should_link += 1
            did = decision == "linked" and owner[row["case_id"]] == house
            matched = row["dedup_matched_case_id"]
            asked = decision == "review" and matched is not None and owner.get(matched) == house
            did_link += did
            asked_right += asked
            for c in (counts, named):
                c[2] += 1
                c[3] += did
                c[4] += asked
        seen.add(house)
    cases_of: dict[int, set[Any]] = {}
    for case, in_case in case_household.items():
        for household in in_case:
            cases_of.setdefault(household, set()).add(case)
    households_split = sum(1 for cases in cases_of.values() if len(cases) > 1)
    return {
        "meldingen": len(rows),
        "households": len(set(truth.values())),
        "cases": len(case_household),
        "households_in_several_cases": households_split,
        "linked": linked,
        "review": decisions["review"],
        "new_case": decisions["new_case"],
        "precision": linked_right / linked if linked else float("nan"),
        "recall": did_link / should_link if should_link else float("nan"),
        "recall_with_review": (
            (did_link + asked_right) / should_link if should_link else float("nan")
        ),
        "review_share": decisions["review"] / len(rows),
        "groups": {g: _shares(*c) for g, c in per_group.items()},
    }


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--meldingen", type=int, default=20_000)
    parser.add_argument("--households", type=int, default=8_000)
    parser.add_argument("--rate", type=float, default=400)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--model", help="recognition model file (default: the packaged one)")
    add_server_options(parser)
    args = parser.parse_args()

    world = World(args.seed, args.households)
    labelled = stream(world, args.meldingen, args.seed + 1)
    truth = {m["external_id"]: house for house, _, m in labelled}
    groups = {m["external_id"]: group for _, group, m in labelled}
    if args.model:
        # Once, before anything runs: nothing waits on this event loop yet.
        model = os.path.abspath(args.model)  # noqa: ASYNC240
        os.environ["TRIAGE_RECOGNITION_MODEL_FILE"] = model
    db_url, tokens = await prepare_database(args.admin_url, "triage_dedup_eval")
    port = _free_port()
    service = start_service(db_url, args.redis_url, port, args.processes)
    try:
        requests = [
            encode_post(
                f"127.0.0.1:{port}",
                PATH,
                orjson.dumps(m),
                {
                    "Authorization": f"Bearer {tokens[m['source']]}",
                    "Content-Type": "application/json",
                },
            )
            for _, _, m in labelled
        ]
        result = await run_open_loop("127.0.0.1", port, requests, args.rate)
        print(f"[http] {result.summary()}")
    finally:
        service.terminate()
        service.wait(timeout=20)
    report(figures(await filed(db_url), truth, groups))


def report(figures: dict[str, Any]) -> None:
    print(
        f"[dedup] {figures['meldingen']} meldingen about {figures['households']} households "
        f"formed {figures['cases']} cases; linked {figures['linked']}, review "
        f"{figures['review']}, new {figures['new_case']}; auto-link precision "
        f"{figures['precision']:.4f}, recall {figures['recall']:.4f} (with review against "
        f"the household's case {figures['recall_with_review']:.4f}), review share "
        f"{figures['review_share']:.2%}; households split over several cases: "
        f"{figures['households_in_several_cases']}"
    )
    for group, g in figures["groups"].items():
        print(f"[dedup] {group:<21} auto-link precision {g['precision']:.4f} "
              f"({g['linked']} linked), recall {g['recall']:.4f} (with review "
              f"{g['recall_with_review']:.4f}; {g['should_link']} herhaalmeldingen)")  # fmt: skip


if __name__ == "__main__":
    import uvloop

    uvloop.install()
    asyncio.run(main())
