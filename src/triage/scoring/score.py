"""Score one melding against the rules. Pure: no I/O, the clock comes in as ``received_at``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from triage.scoring.rules import Rules
from triage.vocabulary import LEVEL_ASCENDING, Category, Kind, Level


@dataclass(frozen=True, slots=True)
class Reason:
    rule: str
    text: str
    contribution: int


@dataclass(frozen=True, slots=True)
class History:
    """What is known about the household when the melding arrives."""

    open_case: bool = False


@dataclass(frozen=True, slots=True)
class Urgency:
    level: Level
    score: int
    reasons: tuple[Reason, ...]
    respond_before: datetime
    callback: bool
    rules_version: str


def _level_for(rules: Rules, score: int) -> Level:
    reached = [lv for lv in LEVEL_ASCENDING if score >= rules.levels[lv].min_score]
    return reached[-1]


def score_melding(
    rules: Rules,
    *,
    kind: Kind,
    category: Category,
    signals: list[str],
    received_at: datetime,
    history: History,
) -> Urgency:
    cat = rules.categories[category]
    reasons = [Reason(f"categorie.{category.value}", f"Categorie: {cat.label}.", cat.weight)]
    floor = Level.regulier
    callback = False
    for code in signals:
        rule = rules.signals[code]
        reasons.append(Reason(f"signaal.{code}", rule.reason, rule.weight))
        callback = callback or rule.callback
        if rule.min_level is not None and LEVEL_ASCENDING.index(
            rule.min_level
        ) > LEVEL_ASCENDING.index(floor):
            floor = rule.min_level
    if history.open_case:
        hist = rules.history.open_case
        reasons.append(Reason("historie.open_casus", hist.reason, hist.weight))
    score = min(100, sum(r.contribution for r in reasons))
    if kind is Kind.adviesvraag:
        level = Level.advies
        window = rules.advies_respond_within_hours
    else:
        by_score = _level_for(rules, score)
        level = max(by_score, floor, key=LEVEL_ASCENDING.index)
        window = rules.levels[level].respond_within_hours
    return Urgency(
        level=level,
        score=score,
        reasons=tuple(reasons),
        respond_before=received_at + timedelta(hours=window),
        callback=callback,
        rules_version=rules.version,
    )
