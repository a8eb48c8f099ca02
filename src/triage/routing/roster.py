"""Who is on duty at a moment: weekly shifts in local time, then the one-off changes.

Shifts are defined in local time (Europe/Amsterdam) and compared in UTC, so the night
the clocks change a 22:00-08:00 shift lasts 9 or 11 hours, as it does for the person
working it. A shift that starts in the hour skipped in spring starts an hour later by the
clock (the same instant as the local time before the change); in autumn a time that
occurs twice means its first occurrence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from triage.routing.network import WEEKDAYS, Change, NetworkConfig, Shift


@dataclass(frozen=True, slots=True)
class Duty:
    specialist: str
    gebied: str  # a gebied code, or the regional pool for the backup network
    start: datetime  # UTC
    end: datetime  # UTC
    via: str  # why: "rooster", "extra dienst", "ruil met <id>"


def _shift_on(config: NetworkConfig, shift: Shift, day: date) -> tuple[datetime, datetime]:
    start = config.day_start(day, shift.start_time)
    end = config.day_start(day + timedelta(days=1) if shift.overnight else day, shift.end_time)
    return start.astimezone(UTC), end.astimezone(UTC)


def _span(config: NetworkConfig, change: Change) -> tuple[datetime, datetime]:
    return config.local(change.start).astimezone(UTC), config.local(change.end).astimezone(UTC)


def _active(
    config: NetworkConfig, at: datetime, extra: Sequence[Change]
) -> list[tuple[Change, datetime, datetime]]:
    spans = [(c, *_span(config, c)) for c in [*config.changes, *extra]]
    return [(c, start, end) for c, start, end in spans if start <= at < end]


def turns(config: NetworkConfig, start: datetime, end: datetime,
          extra: Sequence[Change] = ()) -> list[datetime]:  # fmt: skip
    """The moments from ``start`` to ``end`` (UTC) at which who is on duty may change: a
    shift's or a change's start or end, and ``start`` itself. Between two of them
    ``on_duty`` answers the same, so a table of a week asks it at these only."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    first, last = start.astimezone(config.zone).date(), end.astimezone(config.zone).date()
    found = {start}
    day = first - timedelta(days=1)  # a night shift of the day before may end within
    while day <= last:
        for roster in config.rosters:
            for shift in roster.shifts:
                if WEEKDAYS[day.weekday()] in shift.days:
                    found.update(_shift_on(config, shift, day))
        day += timedelta(days=1)
    for change in [*config.changes, *extra]:
        found.update(_span(config, change))
    return sorted(t for t in found if start <= t < end)


def absent_at(config: NetworkConfig, at: datetime, extra: Sequence[Change] = ()) -> set[str]:
    """Who is marked absent at ``at``: not offered anything, not even as a coordinator
    (who is otherwise reachable off roster)."""
    return {c.specialist for c, _, _ in _active(config, at.astimezone(UTC), extra)
            if c.kind == "absent"}  # fmt: skip


def on_duty(config: NetworkConfig, at: datetime, extra: Sequence[Change] = ()) -> list[Duty]:
    """Everyone on duty at ``at`` (aware), with where and why; ``extra``: changes made
    through the API (routing/roster_changes.py) beside the file's own."""
    at = at.astimezone(UTC)
    today = at.astimezone(config.zone).date()
    duties: list[Duty] = []
    for roster in config.rosters:
        for shift in roster.shifts:
            # A night shift that started yesterday may still be running.
            for day in (today - timedelta(days=1), today):
                if WEEKDAYS[day.weekday()] not in shift.days:
                    continue
                start, end = _shift_on(config, shift, day)
                if start <= at < end:
                    duties.append(Duty(roster.specialist, roster.gebied, start, end, "rooster"))
    active = _active(config, at, extra)
    for change, start, end in active:
        if change.kind == "extra" and change.gebied is not None:
            duties.append(Duty(change.specialist, change.gebied, start, end, "extra dienst"))
    absent = {c.specialist for c, _, _ in active if c.kind == "absent"}
    swaps = {c.specialist: c.replaced_by for c, _, _ in active if c.replaced_by is not None}
    worked = [
        Duty(swaps[d.specialist], d.gebied, d.start, d.end, f"ruil met {d.specialist}")
        if d.specialist in swaps else d
        for d in duties
    ]  # fmt: skip
    return [d for d in worked if d.specialist not in absent]
