"""The recognition model: how much each comparison says, learned from the data.

Fellegi-Sunter: for each field compared (BSN, birth date, surname, first name, address)
the comparison falls into one level (exact, sounding alike, a typo, different, ...), and
each level has two probabilities: ``m``, that two records of one household compare like
that, and ``u``, that two records of different households do. The level adds
``log2(m / u)`` to the score; a field one of them lacks adds nothing. The score is the
evidence (log2 of a Bayes factor) and the thresholds ``link_at`` and ``review_at`` apply
to it. ``prior``, the share of candidate pairs (records that share a blocking key) that
are one household, is what training estimates besides; it is not added to the score:
it depends on how broad the blocking is, and would move every threshold with it.

An exact surname or first name counts by how common the name is (term frequency): a
match on "de Jong" says less than one on "Oudenallen". ``term_frequencies`` holds the
names seen at least ``min_count`` times (rarer names are not written into the file: it
is shared with people who must not learn a region's rare surnames) with their share of
all names; a name not in the table weighs as the level does (a name on average).

The model is data, like the scoring rules: ``triage recognition train`` estimates it
from a region's own meldingen (``train.py``); the packaged one was trained on the
synthetic set of ``loadtests/dedup_eval.py``. Its version is stored with every decision.
"""

from __future__ import annotations

import math
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from triage.yamlconfig import ConfigError

FieldName = Literal["bsn", "born", "surname", "first", "address"]

#: Each field's levels, most alike first. The code decides which level a pair is in
#: (match.py); the model only says how much each level weighs.
LEVELS: dict[str, tuple[str, ...]] = {
    "bsn": ("exact", "different"),
    "born": ("exact", "swapped", "one_digit", "one_part", "different"),
    "surname": ("exact", "sound", "close", "similar", "different"),
    "first": ("exact", "sound", "close", "similar", "initial", "different"),
    "address": (
        "dwelling", "dwelling_other_street", "other_unit", "postcode_typo", "neighbour",
        "pc4", "place", "different",
    ),
}  # fmt: skip
PERSON_FIELDS: tuple[FieldName, ...] = ("bsn", "born", "surname", "first")
#: Probabilities are kept away from 0 and 1: a level never seen in training must not
#: weigh infinitely.
_P_MIN, _P_MAX = 1e-12, 1 - 1e-12


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LevelProbabilities(_Strict):
    m: float = Field(ge=_P_MIN, le=_P_MAX, description="P(level | one household)")
    u: float = Field(ge=_P_MIN, le=_P_MAX, description="P(level | two households)")
    fixed: bool = Field(
        default=False,
        description="Set by people, kept by training: what the data cannot teach (two "
        "records at 12A and 12B are almost never one household, but nearly no candidate "
        "pair shows it).",
    )


class TermFrequencies(_Strict):
    min_count: int = Field(ge=1, description="Names seen fewer times are not in the table.")
    names: dict[str, float] = Field(description="Folded name -> share of all names seen.")

    @model_validator(mode="after")
    def _shares(self) -> TermFrequencies:
        bad = [n for n, f in self.names.items() if not 0 < f <= 1]
        if bad:
            raise ValueError(f"shares must be in (0, 1]; not so for {len(bad)} name(s)")
        return self


class Model(_Strict):
    version: str = Field(min_length=1, max_length=80)
    trained: dict[str, Any] = Field(description="Where and how it was estimated.")
    prior: float = Field(gt=0, lt=1, description="Share of candidate pairs that match.")
    link_at: float = Field(description="Match weight from which a melding joins the case.")
    review_at: float = Field(description="Match weight from which it goes to review.")
    extra_person_share: float = Field(ge=0, le=1)
    extra_person_at: float = Field(
        description="Another person of the melding adds a share of their weight only from "
        "this weight (a match of their own, not a shared surname)."
    )
    extra_person_cap: float = Field(ge=0)
    key_cap: int = Field(
        ge=2, description="A blocking key shared by more cases than this finds none of them."
    )
    fields: dict[str, dict[str, LevelProbabilities]]
    term_frequencies: dict[Literal["surname", "first"], TermFrequencies]
    _weights: Weights | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _complete(self) -> Model:
        unknown = sorted(set(self.fields) - set(LEVELS))
        if unknown:
            raise ValueError(f"fields: unknown field(s) {', '.join(unknown)}; "
                             f"the fields are {', '.join(LEVELS)}")  # fmt: skip
        for name, levels in LEVELS.items():
            have = set(self.fields.get(name, {}))
            if have != set(levels):
                raise ValueError(
                    f"fields.{name} must give m and u for exactly the levels "
                    f"{', '.join(levels)}; it gives {', '.join(sorted(have)) or 'none'}"
                )
        if self.review_at > self.link_at:
            raise ValueError("review_at must not be above link_at")
        return self

    def weights(self) -> Weights:
        if self._weights is None:
            self._weights = Weights(self)
        return self._weights


class Weights:
    """The model as the matcher uses it: ``log2(m/u)`` per field and level, computed once."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.level: dict[str, dict[str, float]] = {
            f: {lv: math.log2(p.m / p.u) for lv, p in levels.items()}
            for f, levels in model.fields.items()
        }
        self._exact_m = {f: model.fields[f]["exact"].m for f in ("surname", "first")}
        self._tf = {f: tf.names for f, tf in model.term_frequencies.items() if tf.names}

    def exact_name(self, field: Literal["surname", "first"], name: str) -> float:
        """An exact name's weight, adjusted for how common the name is: log2(m / share)."""
        names = self._tf.get(field)
        share = names.get(name) if names is not None else None
        if share is None:
            # Not in the table: seen fewer than min_count times where the model was
            # trained, which says little about a region it was not trained on (the
            # packaged model's names are synthetic). It weighs as a name on average.
            return self.level[field]["exact"]
        return math.log2(self._exact_m[field] / share)


def parse_model(data: bytes, source: str) -> Model:
    """The model in ``data`` (JSON), or ConfigError naming each problem's place."""
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ConfigError(source, [f"not JSON: {exc}"]) from None
    try:
        return Model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(
            source,
            [f"{'.'.join(map(str, e['loc'])) or '(top level)'}: {e['msg']}" for e in exc.errors()],
        ) from None


@cache
def _packaged() -> Model:
    data = resources.files("triage.households").joinpath("model.json").read_bytes()
    return parse_model(data, "model.json")


def load_model(path: Path | None = None) -> Model:
    """The model file at ``path``, or the packaged model."""
    if path is None:
        return _packaged()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read it: {exc.strerror}"]) from None
    return parse_model(data, str(path))


def dump_model(model: Model) -> bytes:
    return orjson.dumps(model.model_dump(mode="json"), option=orjson.OPT_INDENT_2)
