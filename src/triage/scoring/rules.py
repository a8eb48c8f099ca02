"""The scoring rules file: its schema and loader."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from triage.vocabulary import LEVEL_ASCENDING, Category, Level
from triage.yamlconfig import load_model, load_model_file


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LevelRule(_Strict):
    min_score: int = Field(ge=0, le=100)
    respond_within_hours: float = Field(gt=0)


class CategoryRule(_Strict):
    label: str = Field(min_length=1)
    weight: int = Field(ge=0, le=100)


class SignalRule(_Strict):
    label: str = Field(min_length=1)
    description: str = Field(min_length=1)
    weight: int = Field(ge=0, le=100, description="Never negative: scoring must be monotone.")
    min_level: Level | None = None
    callback: bool = Field(default=False, description="Flag the melding for a call-back.")
    reason: str = Field(min_length=1, description="The sentence an operator reads.")


class FlatRule(_Strict):
    """A fixed weight when the condition holds."""

    weight: int = Field(ge=0, le=100)
    reason: str = Field(min_length=1)


class Counted(_Strict):
    """A reason that says how many: ``reason`` with ``{count}``, and ``reason_one`` for
    exactly one, where the language says it otherwise ("1 eerdere melding", not "1
    eerdere meldingen")."""

    reason: str = Field(min_length=1, description="May use {count}.")
    reason_one: str | None = Field(
        default=None, min_length=1, description="For a count of one; else ``reason``."
    )

    def said(self, count: int) -> str:
        if count == 1 and self.reason_one is not None:
            return self.reason_one
        return self.reason.format(count=count)


class RepeatRule(Counted):
    """A herhaalmelding: weight, and the level raised this many steps."""

    weight: int = Field(ge=0, le=100)
    raise_levels: int = Field(ge=0, le=3)


class CountRule(Counted):
    """``weight_each`` per earlier melding, at most ``max_weight``."""

    weight_each: int = Field(ge=0, le=100)
    max_weight: int = Field(ge=0, le=100)


class HistoryRules(_Strict):
    open_case: FlatRule
    repeat_30d: RepeatRule
    earlier_180d: CountRule
    earlier_crisis: FlatRule
    closed_case_180d: FlatRule


class ChildrenRule(Counted):
    max_age: int = Field(ge=0, le=25)
    weight_first: int = Field(ge=0, le=100)
    weight_each_more: int = Field(ge=0, le=100)
    max_weight: int = Field(ge=0, le=100)


class YoungChildRule(FlatRule):
    max_age: int = Field(ge=0, le=17)


class ElderlyRule(FlatRule):
    min_age: int = Field(ge=50, le=120)


class PersonRules(_Strict):
    children: ChildrenRule
    young_child: YoungChildRule
    elderly: ElderlyRule


class Rules(_Strict):
    version: str = Field(min_length=1)
    levels: dict[Level, LevelRule]
    advies_respond_within_hours: float = Field(gt=0)
    persons: PersonRules
    history: HistoryRules
    categories: dict[Category, CategoryRule]
    signals: dict[str, SignalRule] = Field(min_length=1)

    @model_validator(mode="after")
    def _complete_and_ordered(self) -> Rules:
        missing = [lv.value for lv in LEVEL_ASCENDING if lv not in self.levels]
        if missing or Level.advies in self.levels:
            raise ValueError(f"levels must be exactly {[lv.value for lv in LEVEL_ASCENDING]}")
        thresholds = [self.levels[lv].min_score for lv in LEVEL_ASCENDING]
        if thresholds[0] != 0 or thresholds != sorted(set(thresholds)):
            raise ValueError("level min_score must start at 0 for regulier and rise with urgency")
        missing_cat = [c.value for c in Category if c not in self.categories]
        if missing_cat:
            raise ValueError(f"categories lack a rule for: {', '.join(missing_cat)}")
        for code, rule in self.signals.items():
            if rule.min_level == Level.advies:
                raise ValueError(f"signal {code}: min_level cannot be advies")
        return self


def load_rules(path: Path | None = None) -> Rules:
    """The rules file at ``path``, or the packaged rules."""
    if path is not None:
        return load_model_file(Rules, path)
    text = resources.files("triage.scoring").joinpath("rules.yaml").read_text("utf-8")
    return load_model(Rules, text, "rules.yaml")
