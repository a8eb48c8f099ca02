"""Networks, rosters and the choice of whom to offer a melding to (pure; no I/O)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from helpers import TEST_CLOCK
from triage.auth.accounts import AccountError, check_network
from triage.console.gebied import week
from triage.dispatch.views import duty_of, on_duty_now
from triage.region import REGIONAL_POOL, load_region
from triage.routing.choose import Choice, Need, choose
from triage.routing.network import Change, NetworkConfig, load_network
from triage.routing.roster import on_duty
from triage.scoring import load_rules
from triage.vocabulary import Category, UserRole
from triage.yamlconfig import ConfigError

AMS = ZoneInfo("Europe/Amsterdam")
REGION = load_region()
SIGNALS = frozenset(load_rules().signals)
DEMO = load_network(None, REGION, SIGNALS)
DEMO_FILE = Path(__file__).parents[1] / "src/triage/regions/hart-van-brabant-netwerk.yaml"


def _local(*args: int) -> datetime:
    return datetime(*args, tzinfo=AMS)  # type: ignore[misc]


def _with(**changes: object) -> NetworkConfig:
    data = yaml.safe_load(DEMO_FILE.read_text())
    data.update(changes)
    return NetworkConfig.model_validate(data)


def _here(config: NetworkConfig, at: datetime, gebied: str) -> set[str]:
    return {d.specialist for d in on_duty(config, at) if d.gebied == gebied}


def test_the_demo_network_covers_every_gebied_and_the_week() -> None:
    assert set(DEMO.networks) == set(REGION.gebied_codes)
    assert len(DEMO.specialists) >= 40
    # Every hour of a week someone is on duty in the backup, one person at night.
    for hour in range(7 * 24):
        at = datetime(2026, 11, 23, tzinfo=UTC) + timedelta(hours=hour)
        assert _here(DEMO, at, REGIONAL_POOL), at
    assert len(_here(DEMO, _local(2026, 11, 25, 3, 0), REGIONAL_POOL)) == 1
    assert not _here(DEMO, _local(2026, 11, 25, 3, 0), "tilburg")  # nobody at night


def test_the_week_table_shows_every_absence_beside_the_hours_on_duty() -> None:
    """An absence of a few hours shows on its day beside the shift that remains (it used to
    show only when it took the whole day, so an absence at night vanished from the table);
    to the minute; a whole day away shows as such; a shift from 08:30 shows from 08:30
    (the table sampled on the hour, and showed 09)."""
    sunday = date(2026, 11, 29)  # Milou van Tours works Sundays 10-18 and Fridays 17-22
    changes = [
        Change(kind="absent", specialist="sp-tilburg-7", start=datetime(2026, 11, 29, 0, 17),
               end=datetime(2026, 11, 29, 2, 22)),
        Change(kind="absent", specialist="sp-tilburg-7", start=datetime(2026, 12, 4, 16, 0),
               end=datetime(2026, 12, 4, 19, 0)),
        Change(kind="absent", specialist="sp-tilburg-7", start=datetime(2026, 12, 1),
               end=datetime(2026, 12, 2)),
    ]  # fmt: skip
    days, rows = week(DEMO, "tilburg", sunday, changes)
    assert days[0] == sunday
    assert len(days) == 7
    milou = next(r for r in rows if r.specialist == "sp-tilburg-7")
    assert [c.text for c in milou.days] == [
        "10-18, afwezig 00:17-02:22", "", "afwezig", "", "", "19-22, afwezig 16-19", "",
    ]  # fmt: skip
    assert [bool(c.absent) for c in milou.days] == [True, False, True, False, False, True, False]
    others = [r for r in rows if r.specialist != "sp-tilburg-7"]
    assert others
    assert not any(c.absent for r in others for c in r.days)
    # without changes: the roster as it is
    _, plain = week(DEMO, "tilburg", sunday, [])
    milou = next(r for r in plain if r.specialist == "sp-tilburg-7")
    assert [c.text for c in milou.days] == ["10-18", "", "", "", "", "17-22", ""]
    monday = next(r for r in plain if any(c.on.startswith("08:30") for c in r.days))
    assert any(c.on == "08:30-17:00" for c in monday.days), [c.on for c in monday.days]


def test_a_bad_network_file_names_field_and_line(tmp_path: Path) -> None:
    text = DEMO_FILE.read_text()
    broken = text.replace('start: "08:30"', 'start: "25:00"', 1).replace(
        "  oost:\n", "  noord:\n", 1
    )
    path = tmp_path / "netwerk.yaml"
    path.write_text(broken)
    with pytest.raises(ConfigError) as caught:
        load_network(path, REGION, SIGNALS)
    [problem] = caught.value.problems  # the shape is checked before the region
    assert "25:00" in problem
    bad_line = next(i for i, line in enumerate(broken.splitlines(), 1) if "25:00" in line)
    assert problem.startswith(f"line {bad_line}:")
    path.write_text(text.replace("  oost:\n", "  noord:\n", 1))
    with pytest.raises(ConfigError) as caught:
        load_network(path, REGION, SIGNALS)
    problems = caught.value.problems
    assert any("networks.noord: is not a gebied of the region" in p for p in problems)
    assert any('gebied "oost" has no network' in p for p in problems)
    assert all(p.startswith("line ") for p in problems)


def test_a_night_shift_lasts_as_long_as_the_night_also_when_the_clocks_change() -> None:
    night = [{"specialist": "cd-1", "gebied": "regio",
              "shifts": [{"days": ["za"], "start": "22:00", "end": "08:00"}]}]  # fmt: skip
    config = _with(rosters=night)
    # Autumn: Saturday 24 October 2026 22:00 CEST to Sunday 08:00 CET is 11 hours.
    [duty] = on_duty(config, _local(2026, 10, 24, 23, 0))
    assert (duty.end - duty.start).total_seconds() == 11 * 3600
    assert on_duty(config, _local(2026, 10, 25, 7, 59))
    assert not on_duty(config, _local(2026, 10, 25, 8, 0))
    # Spring: Saturday 28 March 2026 22:00 CET to Sunday 08:00 CEST is 9 hours.
    [duty] = on_duty(config, _local(2026, 3, 29, 1, 0))
    assert (duty.end - duty.start).total_seconds() == 9 * 3600
    assert on_duty(config, _local(2026, 3, 29, 7, 59))
    assert not on_duty(config, _local(2026, 3, 29, 8, 0))
    assert not on_duty(config, _local(2026, 3, 28, 21, 59))


def test_absence_extra_shifts_and_swaps() -> None:
    monday = _local(2026, 11, 23, 10, 0)
    assert "sp-tilburg-1" in _here(DEMO, monday, "tilburg")
    config = _with(changes=[
        {"kind": "absent", "specialist": "sp-tilburg-1", "start": "2026-11-23T00:00",
         "end": "2026-11-24T00:00"},
        {"kind": "swap", "specialist": "sp-tilburg-2", "replaced_by": "sp-tilburg-7",
         "start": "2026-11-23T08:00", "end": "2026-11-23T18:00"},
        {"kind": "extra", "specialist": "sp-oost-1", "gebied": "tilburg",
         "start": "2026-11-23T09:00", "end": "2026-11-23T13:00"},
    ])  # fmt: skip
    here = _here(config, monday, "tilburg")
    assert "sp-tilburg-1" not in here  # ill
    assert "sp-tilburg-2" not in here
    assert {"sp-tilburg-7", "sp-oost-1"} <= here
    swapped = next(d for d in on_duty(config, monday) if d.specialist == "sp-tilburg-7")
    assert swapped.via == "ruil met sp-tilburg-2"
    assert "sp-oost-1" in _here(config, monday, "oost")  # an extra shift adds, removes nothing
    assert "sp-tilburg-1" in _here(config, _local(2026, 11, 24, 10, 0), "tilburg")


def test_an_extra_shift_over_ones_own_lists_the_person_once() -> None:
    """The on-duty view shows a person once, until the later end, by both reasons."""
    today = DEMO.local(TEST_CLOCK.now()).date()
    day = today + timedelta(days=(6 - today.weekday()) % 7)  # the coming Sunday
    sunday = _local(day.year, day.month, day.day, 11, 0)  # sp-tilburg-7's own: Sun 10-18
    config = _with(changes=[
        {"kind": "extra", "specialist": "sp-tilburg-7", "gebied": "tilburg",
         "start": f"{day}T10:55", "end": f"{day}T20:00"},
    ])  # fmt: skip
    assert [d.via for d in on_duty(config, sunday) if d.specialist == "sp-tilburg-7"] == [
        "rooster",
        "extra dienst",
    ]
    [listed] = [p for p in on_duty_now(config, "tilburg", sunday).on_duty
                if p.id == "sp-tilburg-7"]  # fmt: skip
    ends = _local(day.year, day.month, day.day, 20, 0)
    assert (listed.until, listed.via) == (ends, "rooster, extra dienst")


def test_a_change_must_say_what_it_needs() -> None:
    with pytest.raises(ValueError, match="replaced_by"):
        _with(changes=[{"kind": "swap", "specialist": "sp-tilburg-2",
                        "start": "2026-11-23T08:00", "end": "2026-11-23T18:00"}])  # fmt: skip
    with pytest.raises(ValueError, match="end must be after start"):
        _with(changes=[{"kind": "absent", "specialist": "sp-tilburg-2",
                        "start": "2026-11-23T08:00", "end": "2026-11-23T08:00"}])  # fmt: skip


MONDAY = _local(2026, 11, 23, 10, 0)


def _choose(*args: Any, **kwargs: Any) -> Choice:
    """Whom routing offers to, when it finds someone."""
    chosen = _choose_or_none(*args, **kwargs)
    assert chosen is not None
    return chosen


def _choose_or_none(
    gebied: str,
    category: Category,
    signals: list[str],
    at: datetime = MONDAY,
    *,
    load: dict[str, int] | None = None,
    lead: str | None = None,
    declined: frozenset[str] = frozenset(),
) -> Choice | None:
    need = Need.of(DEMO, category, signals)
    return choose(DEMO, gebied=gebied, need=need, duties=on_duty(DEMO, at), load=load or {},
                  lead=lead, declined=declined)  # fmt: skip


def test_the_network_member_with_the_needed_and_wanted_expertise_and_least_load() -> None:
    plain = _choose("tilburg", Category.huiselijk_geweld, [])
    assert plain.tier == "network"
    # Both Veilig Thuis members qualify; children present prefer jeugd expertise.
    kids = _choose("tilburg", Category.huiselijk_geweld, ["kinderen_aanwezig"])
    chosen = DEMO.by_id[kids.specialist]
    assert {"huiselijk_geweld", "jeugd"} <= set(chosen.expertise)
    assert "jeugd" in kids.reasons[0]
    psych = _choose("tilburg", Category.verward_gedrag, ["psychose"])
    assert "psychiatrie" in DEMO.by_id[psych.specialist].expertise
    # Full caseload: the next one.
    full = {kids.specialist: 99}
    other = _choose("tilburg", Category.huiselijk_geweld, ["kinderen_aanwezig"], load=full)
    assert other.specialist != kids.specialist
    assert other.tier == "network"


def test_continuity_first_then_declines_are_respected() -> None:
    lead = "sp-tilburg-3"  # GGZ, not Veilig Thuis: continuity outranks expertise
    kept = _choose("tilburg", Category.huiselijk_geweld, [], lead=lead)
    assert (kept.specialist, kept.tier) == (lead, "continuity")
    moved = _choose("tilburg", Category.huiselijk_geweld, [], lead=lead, declined=frozenset({lead}))
    assert moved.specialist != lead
    off = _choose("tilburg", Category.huiselijk_geweld, [], at=_local(2026, 11, 25, 3, 0),
                  lead=lead)  # fmt: skip
    assert off.tier == "backup"


def test_nobody_qualified_goes_to_the_backup_then_the_coordinator() -> None:
    night = _local(2026, 11, 25, 3, 0)
    backup = _choose("west", Category.verslaving, ["middelengebruik"], at=night)
    assert backup.tier == "backup"
    assert any("In het gebied van de melding heeft nu niemand dienst" in r for r in backup.reasons)
    [on_call] = _here(DEMO, night, REGIONAL_POOL)
    busy = _choose("west", Category.verslaving, [], at=night, load={on_call: 99})
    assert (busy.specialist, busy.tier) == ("co-west", "coordinator")
    assert busy.reasons[-1] == "Opgeschaald naar Teun van de Kooij (coördinator)."
    pool = _choose(REGIONAL_POOL, Category.overig, [], at=night, load={on_call: 99})
    assert pool.specialist == "co-regio"


def test_past_the_coordinators_the_chain_goes_on_and_then_nobody_is_left() -> None:
    """Whoever passed on a melding in this round is not asked again: the backup's
    coordinator, the last resort, then nobody (the caller escalates it by name)."""
    night = _local(2026, 11, 25, 3, 0)
    [on_call] = _here(DEMO, night, REGIONAL_POOL)
    passed = {on_call, "co-west"}
    assert DEMO.chain("west") == ["co-west", "co-regio", "mvd-regio"]
    steps = []
    while (chosen := _choose_or_none("west", Category.verslaving, [], at=night,
                                     declined=frozenset(passed))) is not None:  # fmt: skip
        steps.append((chosen.specialist, chosen.reasons[-1]))
        passed.add(chosen.specialist)
    assert steps == [
        ("co-regio", "Opgeschaald naar Xavi Oennen (coördinator van de regionale achtervang)."),
        ("mvd-regio", "Opgeschaald naar Noortje Haverkamp (laatste schakel van de opschaling)."),
    ]


def test_a_coordinators_account_is_for_whom_the_file_names_coordinator() -> None:
    """A coordinator reads all of the gebied without a reason: a member of its network is
    no coordinator by having an account made so."""
    check_network(DEMO, "co-tilburg", UserRole.coordinator, "tilburg")
    check_network(DEMO, "sp-tilburg-3", UserRole.specialist, "tilburg")
    with pytest.raises(AccountError, match="among the coordinators of tilburg"):
        check_network(DEMO, "sp-tilburg-3", UserRole.coordinator, "tilburg")


def test_a_persons_own_duty_now_or_when_it_next_begins() -> None:
    """Mijn werk says until when its person is on duty, or when their next duty begins:
    without it, an empty page does not say that no offer comes while they are off."""
    sunday_night, monday = _local(2026, 11, 22, 3, 0), _local(2026, 11, 23, 10, 0)
    assert duty_of(DEMO, "sp-tilburg-1", sunday_night) == (None, _local(2026, 11, 23, 8, 30))
    assert duty_of(DEMO, "sp-tilburg-1", monday) == (_local(2026, 11, 23, 17, 0), None)
    # An absence over the whole of Monday: the next duty is Tuesday's.
    away = Change(kind="absent", specialist="sp-tilburg-1", start=_local(2026, 11, 23, 0, 0),
                  end=_local(2026, 11, 24, 0, 0))  # fmt: skip
    assert duty_of(DEMO, "sp-tilburg-1", sunday_night, [away]) == (
        None, _local(2026, 11, 24, 8, 30))  # fmt: skip
