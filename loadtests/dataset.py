"""Realistic synthetic meldingen (Faker ``nl_NL``), reproducible from a seed.

About ``known_share`` of the meldingen concern a household that an earlier melding in the
stream already reported: the same dwelling and people, possibly from another source, as
happens when the police, Veilig Thuis and a wijkteam each report one family.
All names, BSNs and addresses are fake; BSNs pass the elfproef like real ones.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from faker import Faker

# PC4 ranges and places of the demo region (Hart van Brabant), so routing has work to do.
PLACES: list[tuple[str, tuple[int, int]]] = [
    ("Tilburg", (5011, 5049)), ("Waalwijk", (5141, 5146)), ("Kaatsheuvel", (5171, 5172)),
    ("Drunen", (5151, 5152)), ("Oisterwijk", (5061, 5062)), ("Dongen", (5101, 5107)),
    ("Rijen", (5121, 5122)), ("Goirle", (5051, 5053)), ("Hilvarenbeek", (5081, 5083)),
]  # fmt: skip
SOURCES = ["politie"] * 6 + [
    "veilig_thuis",
    "cit",
    "wijkteam",
    "meldpunt",
    "ggz",
    "huisarts",
    "burger",
]
CATEGORIES = [
    "huiselijk_geweld", "huiselijk_geweld", "kindermishandeling", "verward_gedrag", "psychiatrie",
    "verslaving", "overlast", "zorgmijding", "ouderenmishandeling", "complexe_scheiding",
    "dakloosheid", "jeugd", "overig",
]  # fmt: skip
SIGNALS = [
    "geweld_nu", "letsel", "wapen", "dreiging", "kinderen_aanwezig", "intieme_terreur",
    "psychose", "agressie", "middelengebruik", "geen_netwerk", "schulden", "weinig_informatie",
    "suicidaal", "kwetsbare_oudere", "zelfverwaarlozing", "wurging", "levensgevaar",
]  # fmt: skip
_LETTERS = "ABCDEFGHJKLMNPRTUVWXYZ"


def valid_bsn(rng: random.Random) -> str:
    while True:
        digits = [rng.randint(0, 9) for _ in range(8)]
        check = sum(d * w for d, w in zip(digits, range(9, 1, -1), strict=True)) % 11
        if check < 10 and digits[0] != 0:
            return "".join(map(str, digits)) + str(check)


@dataclass
class Household:
    postcode: str
    huisnummer: int
    toevoeging: str
    straat: str
    woonplaats: str
    persons: list[dict[str, Any]] = field(default_factory=list)


class MeldingFactory:
    def __init__(
        self, seed: int = 2026, known_share: float = 0.3, undated_share: float = 0.0
    ) -> None:
        self.rng = random.Random(seed)
        # People without a birth date, as a source often names a partner or a child. 0 (the
        # default) draws nothing for it, so a seed gives the meldingen it always gave.
        self.undated_share = undated_share
        self.fake = Faker("nl_NL")
        self.fake.seed_instance(seed)
        self.known_share = known_share
        self.households: list[Household] = []

    def _person(self, role: str, achternaam: str, age: tuple[int, int]) -> dict[str, Any]:
        born = date(2026, 1, 1) - timedelta(days=self.rng.randint(age[0] * 365, age[1] * 365))
        person: dict[str, Any] = {
            "role": role,
            "voornaam": self.fake.first_name(),
            "achternaam": achternaam,
            "geboortedatum": born.isoformat(),
        }
        if self.undated_share and self.rng.random() < self.undated_share:
            del person["geboortedatum"]
        if self.rng.random() < 0.6:
            person["bsn"] = valid_bsn(self.rng)
        return person

    def household(self) -> Household:
        place, (low, high) = self.rng.choice(PLACES)
        postcode = (
            f"{self.rng.randint(low, high)}{self.rng.choice(_LETTERS)}{self.rng.choice(_LETTERS)}"
        )
        achternaam = self.fake.last_name()
        persons = [self._person("slachtoffer", achternaam, (19, 85))]
        if self.rng.random() < 0.7:
            persons.append(self._person("pleger", self.fake.last_name(), (19, 70)))
        for _ in range(self.rng.choice([0, 0, 1, 2, 3])):
            persons.append(self._person("kind", achternaam, (0, 17)))
        return Household(
            postcode=postcode,
            huisnummer=self.rng.randint(1, 250),
            toevoeging=self.rng.choice(["", "", "", "", "A", "B", "2"]),
            straat=self.fake.street_name(),
            woonplaats=place,
            persons=persons,
        )

    def melding(self, index: int, received_at: datetime | None = None) -> dict[str, Any]:
        if self.households and self.rng.random() < self.known_share:
            house = self.rng.choice(self.households)
        else:
            house = self.household()
            self.households.append(house)
        signals = self.rng.sample(SIGNALS, k=self.rng.choice([0, 1, 1, 2, 2, 3, 4]))
        return {
            "source": self.rng.choice(SOURCES),
            "external_id": f"LOAD-{index:08d}-{self.rng.getrandbits(32):08x}",
            "received_at": (received_at or datetime.now(UTC)).isoformat(timespec="seconds"),
            "kind": "adviesvraag" if self.rng.random() < 0.2 else "melding",
            "category": self.rng.choice(CATEGORIES),
            "signals": sorted(signals),
            "summary": self.fake.paragraph(nb_sentences=self.rng.randint(2, 6)),
            "address": {
                "postcode": house.postcode,
                "huisnummer": str(house.huisnummer)
                + (f"-{house.toevoeging}" if house.toevoeging else ""),
                "straat": house.straat,
                "woonplaats": house.woonplaats,
            },
            "persons": house.persons,
        }
