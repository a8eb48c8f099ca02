"""Urgency scoring over the real rules file: monotone, explained, with the history rules.

Property-based (hypothesis): for any melding, adding a signal, a child or an earlier
melding never lowers the level or the score.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from triage.scoring import History, load_rules, score_melding
from triage.vocabulary import LEVEL_ASCENDING, Category, Kind, Level

RULES = load_rules()
SIGNALS = sorted(RULES.signals)
RECEIVED = datetime(2026, 11, 22, 21, 0, tzinfo=UTC)

birth_dates = st.lists(
    st.one_of(st.none(), st.dates(min_value=date(1920, 1, 1), max_value=date(2026, 11, 22))),
    max_size=6,
)
histories = st.builds(
    lambda open_case, m30, extra, crisis, closed: History(
        open_case=open_case,
        meldingen_30d=m30,
        meldingen_180d=m30 + extra,
        earlier_crisis=crisis,
        closed_case_180d=closed,
    ),
    st.booleans(),
    st.integers(0, 6),
    st.integers(0, 6),
    st.booleans(),
    st.booleans(),
)
meldingen = st.fixed_dictionaries(
    {
        "category": st.sampled_from(list(Category)),
        "signals": st.lists(st.sampled_from(SIGNALS), unique=True, max_size=8),
        "birth_dates": birth_dates,
        "history": histories,
    }
)


def _score(m: dict[str, object]) -> tuple[int, int]:
    urgency = score_melding(
        RULES,
        kind=Kind.melding,
        received_at=RECEIVED,
        **m,  # type: ignore[arg-type]
    )
    return LEVEL_ASCENDING.index(urgency.level), urgency.score


def _at_least(before: tuple[int, int], after: tuple[int, int]) -> bool:
    return after[0] >= before[0] and after[1] >= before[1]


@settings(max_examples=400, deadline=None)
@given(meldingen, st.sampled_from(SIGNALS))
def test_adding_a_signal_never_lowers(m: dict[str, object], signal: str) -> None:
    more = dict(m, signals=sorted({*m["signals"], signal}))  # type: ignore[misc]
    assert _at_least(_score(m), _score(more))


@settings(max_examples=400, deadline=None)
@given(meldingen, st.integers(0, 17))
def test_adding_a_child_never_lowers(m: dict[str, object], age: int) -> None:
    born = RECEIVED.date() - timedelta(days=365 * age + 30)
    more = dict(m, birth_dates=[*m["birth_dates"], born])  # type: ignore[misc]
    assert _at_least(_score(m), _score(more))


@settings(max_examples=400, deadline=None)
@given(meldingen, st.sampled_from(["30d", "180d", "crisis", "open", "closed"]))
def test_an_earlier_melding_never_lowers(m: dict[str, object], what: str) -> None:
    h: History = m["history"]  # type: ignore[assignment]
    more_history = {
        "30d": History(
            h.open_case,
            h.meldingen_30d + 1,
            h.meldingen_180d + 1,
            h.earlier_crisis,
            h.closed_case_180d,
        ),
        "180d": History(
            h.open_case, h.meldingen_30d, h.meldingen_180d + 1, h.earlier_crisis, h.closed_case_180d
        ),
        "crisis": History(h.open_case, h.meldingen_30d, h.meldingen_180d, True, h.closed_case_180d),
        "open": History(
            True, h.meldingen_30d, h.meldingen_180d, h.earlier_crisis, h.closed_case_180d
        ),
        "closed": History(h.open_case, h.meldingen_30d, h.meldingen_180d, h.earlier_crisis, True),
    }[what]
    assert _at_least(_score(m), _score(dict(m, history=more_history)))


@settings(max_examples=200, deadline=None)
@given(meldingen)
def test_every_point_is_explained(m: dict[str, object]) -> None:
    urgency = score_melding(RULES, kind=Kind.melding, received_at=RECEIVED, **m)  # type: ignore[arg-type]
    assert urgency.score == min(100, sum(r.contribution for r in urgency.reasons))
    assert all(r.text and r.rule for r in urgency.reasons)
    window = RULES.levels[urgency.level].respond_within_hours
    assert urgency.respond_before == RECEIVED + timedelta(hours=window)
    # A level above what the score gives is explained too: a signal's minimum level (at
    # no points), or a herhaalmelding's step up.
    by_score = [lv for lv in LEVEL_ASCENDING if urgency.score >= RULES.levels[lv].min_score][-1]
    if urgency.level is not by_score:
        said = {r.rule for r in urgency.reasons}
        assert said & {"niveau.minimum", "historie.herhaalmelding_30d"}, urgency.reasons


def test_a_herhaalmelding_within_30_days_raises_the_level_a_step() -> None:
    plain = score_melding(
        RULES,
        kind=Kind.melding,
        category=Category.overlast,
        signals=[],
        received_at=RECEIVED,
        history=History(),
    )
    repeat = score_melding(
        RULES,
        kind=Kind.melding,
        category=Category.overlast,
        signals=[],
        received_at=RECEIVED,
        history=History(meldingen_30d=1, meldingen_180d=1),
    )
    assert plain.level is Level.regulier
    assert LEVEL_ASCENDING.index(repeat.level) >= LEVEL_ASCENDING.index(plain.level) + 1
    assert "historie.herhaalmelding_30d" in [r.rule for r in repeat.reasons]


def test_children_and_elderly_count_from_birth_dates() -> None:
    toddler = RECEIVED.date() - timedelta(days=365 * 2)
    grandmother = date(1940, 5, 1)
    urgency = score_melding(
        RULES,
        kind=Kind.melding,
        category=Category.overig,
        signals=[],
        birth_dates=[toddler, grandmother],
        received_at=RECEIVED,
        history=History(),
    )
    rules = [r.rule for r in urgency.reasons]
    assert rules == [
        "categorie.overig",
        "personen.kinderen",
        "personen.jong_kind",
        "personen.oudere",
    ]


def test_a_count_is_said_as_the_language_says_it() -> None:
    """One child is "één minderjarige", two are "2 minderjarigen"; not "1 minderjarige(n)"."""
    child = RECEIVED.date() - timedelta(days=365 * 8)

    def said(children: int, earlier: int) -> list[str]:
        urgency = score_melding(
            RULES, kind=Kind.melding, category=Category.overig, signals=[],
            birth_dates=[child] * children, received_at=RECEIVED,
            history=History(meldingen_30d=earlier, meldingen_180d=earlier),
        )  # fmt: skip
        return [r.text for r in urgency.reasons if r.rule != "categorie.overig"]

    one = said(1, 1)
    assert "Er is één minderjarige in het huishouden." in one
    assert "Eén eerdere melding over dit huishouden in het afgelopen halfjaar." in one
    two = said(2, 2)
    assert "Er zijn 2 minderjarigen in het huishouden." in two
    assert "2 eerdere meldingen over dit huishouden in het afgelopen halfjaar." in two
    assert not [text for text in one + two if "(n)" in text or "(en)" in text]


def test_weak_information_asks_for_a_call_back_without_lowering() -> None:
    base = {
        "kind": Kind.melding,
        "category": Category.huiselijk_geweld,
        "received_at": RECEIVED,
        "history": History(),
    }
    plain = score_melding(RULES, signals=["geweld_nu"], **base)  # type: ignore[arg-type]
    weak = score_melding(RULES, signals=["geweld_nu", "weinig_informatie"], **base)  # type: ignore[arg-type]
    assert weak.callback
    assert not plain.callback
    assert (weak.level, weak.score) == (plain.level, plain.score)


def test_an_adviesvraag_is_not_dispatched() -> None:
    urgency = score_melding(
        RULES,
        kind=Kind.adviesvraag,
        category=Category.jeugd,
        signals=["levensgevaar"],
        received_at=RECEIVED,
        history=History(),
    )
    assert urgency.level is Level.advies
    assert urgency.respond_before == RECEIVED + timedelta(hours=RULES.advies_respond_within_hours)
