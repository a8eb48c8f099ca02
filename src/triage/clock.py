"""An injectable clock, so tests can travel in time (ARCHITECTURE invariant 6)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that only moves when told to; for tests and simulations."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FrozenClock needs a timezone-aware start time")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta


class ShiftedClock:
    """The system clock moved by an offset: it runs at the real pace, from another
    moment. A test suite runs on one shifted a year ahead to prove that nothing in it
    depends on today's date; ``at`` sets it to a given moment for a while."""

    def __init__(self, offset: timedelta = timedelta(0)) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    @contextlib.contextmanager
    def at(self, moment: datetime) -> Iterator[None]:
        """Within the block, now is ``moment`` (and runs on from there)."""
        if moment.tzinfo is None:
            raise ValueError("ShiftedClock.at needs a timezone-aware moment")
        saved = self.offset
        self.offset = moment - datetime.now(UTC)
        try:
            yield
        finally:
            self.offset = saved
