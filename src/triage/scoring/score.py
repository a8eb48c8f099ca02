"""Score one melding against the rules. Pure: no I/O, the clock comes in as ``received_at``.

Every rule that fires adds a ``Reason``: its id, the Dutch sentence the operator reads and
its contribution, so that the level can always be explained (navolgbare oordeelsvorming).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from triage.scoring.rules import Rules
from triage.vocabulary import LEVEL_ASCENDING, Category, Kind, Level


@dataclass(frozen=True, slots=True)
class Reason:
    rule: str
    text: str
    contribution: int


#: How far back a household's meldingen count as history (the longest rule window).
HISTORY_WINDOW = timedelta(days=180)


@dataclass(frozen=True, slots=True)
class History:
    """What is known about the household when the melding arrives."""

    open_case: bool = False
    meldingen_30d: int = 0  # earlier meldingen in the 30 days before this one
    meldingen_180d: int = 0  # ... in the 180 days before (includes the 30)
    earlier_crisis: bool = False
    closed_case_180d: bool = False


@dataclass(frozen=True, slots=True)
class Urgency:
    level: Level
    score: int
    reasons: tuple[Reason, ...]
    respond_before: datetime
    callback: bool
    rules_version: str


def _age(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _rank(level: Level) -> int:
    return LEVEL_ASCENDING.index(level)


def _person_reasons(rules: Rules, birth_dates: Sequence[date | None], on: date) -> list[Reason]:
    ages = [_age(born, on) for born in birth_dates if born is not None]
    p = rules.persons
    reasons = []
    children = sum(1 for a in ages if a <= p.children.max_age)
    if children:
        weight = min(
            p.children.max_weight,
            p.children.weight_first + p.children.weight_each_more * (children - 1),
        )
        reasons.append(Reason("personen.kinderen", p.children.said(children), weight))
    if any(a <= p.young_child.max_age for a in ages):
        reasons.append(Reason("personen.jong_kind", p.young_child.reason, p.young_child.weight))
    if any(a >= p.elderly.min_age for a in ages):
        reasons.append(Reason("personen.oudere", p.elderly.reason, p.elderly.weight))
    return reasons


def _history_reasons(rules: Rules, history: History) -> list[Reason]:
    h = rules.history
    reasons = []
    if history.open_case:
        reasons.append(Reason("historie.open_casus", h.open_case.reason, h.open_case.weight))
    if history.meldingen_30d:
        text = h.repeat_30d.said(history.meldingen_30d)
        reasons.append(Reason("historie.herhaalmelding_30d", text, h.repeat_30d.weight))
    if history.meldingen_180d:
        weight = min(h.earlier_180d.max_weight, h.earlier_180d.weight_each * history.meldingen_180d)
        text = h.earlier_180d.said(history.meldingen_180d)
        reasons.append(Reason("historie.meldingen_180d", text, weight))
    if history.earlier_crisis:
        reasons.append(
            Reason("historie.eerdere_crisis", h.earlier_crisis.reason, h.earlier_crisis.weight)
        )
    if history.closed_case_180d:
        reasons.append(
            Reason(
                "historie.afgesloten_casus", h.closed_case_180d.reason, h.closed_case_180d.weight
            )
        )
    return reasons


def score_melding(
    rules: Rules,
    *,
    kind: Kind,
    category: Category,
    signals: Sequence[str],
    birth_dates: Sequence[date | None] = (),
    received_at: datetime,
    history: History,
) -> Urgency:
    cat = rules.categories[category]
    reasons = [Reason(f"categorie.{category.value}", f"Categorie: {cat.label}.", cat.weight)]
    floor, floor_by = Level.regulier, ""
    callback = False
    for code in signals:
        rule = rules.signals[code]
        reasons.append(Reason(f"signaal.{code}", rule.reason, rule.weight))
        callback = callback or rule.callback
        if rule.min_level is not None and _rank(rule.min_level) > _rank(floor):
            floor, floor_by = rule.min_level, rule.label
    reasons += _person_reasons(rules, birth_dates, received_at.date())
    reasons += _history_reasons(rules, history)
    score = min(100, sum(r.contribution for r in reasons))
    if kind is Kind.adviesvraag:
        level = Level.advies
        window = rules.advies_respond_within_hours
    else:
        by_score = [lv for lv in LEVEL_ASCENDING if score >= rules.levels[lv].min_score][-1]
        if _rank(floor) > _rank(by_score):  # the level is not the score's: say why
            reasons.append(Reason("niveau.minimum", f"Het signaal '{floor_by}' maakt de "
                                  f"urgentie minstens {floor.value}.", 0))  # fmt: skip
        rank = max(_rank(by_score), _rank(floor))
        if history.meldingen_30d:
            rank = min(rank + rules.history.repeat_30d.raise_levels, len(LEVEL_ASCENDING) - 1)
        level = LEVEL_ASCENDING[rank]
        window = rules.levels[level].respond_within_hours
    return Urgency(
        level=level,
        score=score,
        reasons=tuple(reasons),
        respond_before=received_at + timedelta(hours=window),
        callback=callback,
        rules_version=rules.version,
    )
