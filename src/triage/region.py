"""The region: its gebieden, their postcode ranges and places (configuration as data)."""

from __future__ import annotations

import re
import unicodedata
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from triage.vocabulary import Source
from triage.yamlconfig import load_model, load_model_file

#: Meldingen that cannot be placed in a gebied go to the regional pool.
REGIONAL_POOL = "regio"
#: What the console calls the regional pool: the regional crisis service, the backup.
POOL_NAME = "Regio (achterwacht)"

Slug = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,39}$")]
_PC4_RANGE = re.compile(r"^(\d{4})(?:-(\d{4}))?$")


def place_key(name: str) -> str:
    """Compare place names without case, accents, punctuation or spacing."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().casefold()
    return re.sub(r"[^a-z0-9]", "", folded)


class Gemeente(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    naam: str = Field(min_length=1)
    woonplaatsen: list[str] = Field(default_factory=list)


class Gebied(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    code: Slug
    naam: str = Field(min_length=1)
    gemeenten: list[Gemeente] = Field(min_length=1)
    pc4: list[str] = Field(min_length=1, description='PC4 codes or ranges, e.g. "5011-5049".')

    @field_validator("pc4")
    @classmethod
    def _ranges_are_valid(cls, value: list[str]) -> list[str]:
        for item in value:
            match = _PC4_RANGE.match(item)
            if match is None:
                raise ValueError(f'"{item}" is not a PC4 code or range such as "5011-5049"')
            low, high = match.group(1), match.group(2) or match.group(1)
            if int(low) < 1000 or int(high) < int(low):
                raise ValueError(f'"{item}": a range runs from 1000 upwards, low to high')
        return value

    def pc4_codes(self) -> list[int]:
        codes: list[int] = []
        for item in self.pc4:
            match = _PC4_RANGE.match(item)
            assert match is not None  # checked by the validator
            low, high = int(match.group(1)), int(match.group(2) or match.group(1))
            codes.extend(range(low, high + 1))
        return codes


class Retention(BaseModel):
    """How long personal data of a closed case is kept (privacy/retention.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    closed_case_days: int = Field(
        default=1825, ge=180, le=36500,
        description="Personal data of a case closed this many days ago is erased (people, "
        "addresses, summaries, free text); what the process indicators count is kept. At "
        "least 180 days: the urgency of a new melding looks back that far at closed cases.",
    )  # fmt: skip
    batch: int = Field(default=200, ge=1, le=10_000, description="Cases erased per transaction.")


class Region(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    code: Slug
    naam: str = Field(min_length=1)
    version: str = Field(min_length=1)
    gebieden: list[Gebied] = Field(min_length=1)
    urgency_visible_to: list[Source] = Field(
        default_factory=list,
        description="Sources whose systems see the urgency level in their receipt. The "
        "level reflects the household's history (an earlier crisis raises it), so naming "
        "a source here discloses that to it; by default no source sees it.",
    )
    retention: Retention = Field(default_factory=Retention)

    @model_validator(mode="after")
    def _no_overlaps(self) -> Region:
        seen_codes: set[str] = set()
        owner: dict[int, str] = {}
        places: dict[str, str] = {}
        for gebied in self.gebieden:
            if gebied.code in seen_codes or gebied.code == REGIONAL_POOL:
                raise ValueError(f'gebied code "{gebied.code}" is used twice or reserved')
            seen_codes.add(gebied.code)
            for code in gebied.pc4_codes():
                if code in owner:
                    raise ValueError(
                        f"PC4 {code} is in both gebied {owner[code]} and gebied {gebied.code}"
                    )
                owner[code] = gebied.code
            for gemeente in gebied.gemeenten:
                for name in [gemeente.naam, *gemeente.woonplaatsen]:
                    key = place_key(name)
                    if places.get(key, gebied.code) != gebied.code:
                        raise ValueError(f'place "{name}" is in two gebieden')
                    places[key] = gebied.code
        return self

    @cached_property
    def _by_pc4(self) -> dict[int, str]:
        return {code: g.code for g in self.gebieden for code in g.pc4_codes()}

    @cached_property
    def _by_place(self) -> dict[str, str]:
        return {
            place_key(name): g.code
            for g in self.gebieden
            for gem in g.gemeenten
            for name in [gem.naam, *gem.woonplaatsen]
        }

    @property
    def gebied_codes(self) -> list[str]:
        return [g.code for g in self.gebieden]

    @cached_property
    def names(self) -> dict[str, str]:
        """What people call each gebied (``naam``), the regional pool included."""
        return {**{g.code: g.naam for g in self.gebieden}, REGIONAL_POOL: POOL_NAME}

    @property
    def with_pool(self) -> list[str]:
        """Every gebied a melding can lie in: the region's, and the regional pool."""
        return [*self.gebied_codes, REGIONAL_POOL]

    def gebied_for_postcode(self, postcode: str) -> str | None:
        """``postcode`` in normal form (``5038AB``)."""
        return self._by_pc4.get(int(postcode[:4]))

    def gebied_for_place(self, name: str) -> str | None:
        return self._by_place.get(place_key(name))


def load_region(path: Path | None = None) -> Region:
    """The region file at ``path``, or the packaged demo region."""
    if path is not None:
        return load_model_file(Region, path)
    text = resources.files("triage.regions").joinpath("hart-van-brabant.yaml").read_text("utf-8")
    return load_model(Region, text, "hart-van-brabant.yaml")
