"""The region's specialist networks and their rosters (configuration as data).

One file per region beside the region file: the expertise vocabulary, which expertise a
melding needs (from its category) and which helps (from its signals), the specialists
(organisation, expertise, maximum caseload), each gebied's network and coordinators, the
regional backup network (the 24/7 crisis service) and the rosters: weekly recurring
shifts in local time (Europe/Amsterdam) and one-off changes (absence, an extra shift, a
swap). Checked against the region and the scoring rules when loaded, so a file that
names an unknown gebied, signal or specialist refuses to load, with its line.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from triage.problems import Invalid
from triage.region import REGIONAL_POOL, Region
from triage.vocabulary import Category
from triage.yamlconfig import ConfigError, line_of, load_model, read_config_text

Tag = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,39}$")]
StaffId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9.-]{1,63}$")]
Weekday = Literal["ma", "di", "wo", "do", "vr", "za", "zo"]
WEEKDAYS: tuple[Weekday, ...] = ("ma", "di", "wo", "do", "vr", "za", "zo")
#: A problem found across files: where in this file, and what.
Finding = tuple[tuple[str | int, ...], str]
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def _clock(value: str) -> time:
    match = _CLOCK.match(value)
    if match is None:
        raise ValueError(f'"{value}" is not a time of day such as "08:30" (24-hour clock)')
    return time(int(match.group(1)), int(match.group(2)))


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Expertise(_Frozen):
    label: str = Field(min_length=1)


class Specialist(_Frozen):
    id: StaffId = Field(description="Also the user's username when they log in.")
    naam: str = Field(min_length=1)
    organisatie: str = Field(min_length=1)
    expertise: list[Tag] = Field(min_length=1)
    max_caseload: int = Field(ge=1, le=200, description="Open assignments at most.")


class Network(_Frozen):
    members: list[StaffId] = Field(min_length=1)
    coordinators: list[StaffId] = Field(
        min_length=1, description="Who is escalated to when nobody qualifies: never a silent wait."
    )


class Shift(_Frozen):
    """Every week on ``days``, from ``start`` to ``end`` local time; an ``end`` at or before
    ``start`` ends the next day (a night shift)."""

    days: list[Weekday] = Field(min_length=1)
    start: str
    end: str

    @field_validator("start", "end")
    @classmethod
    def _is_clock(cls, value: str) -> str:
        _clock(value)
        return value

    @property
    def start_time(self) -> time:
        return _clock(self.start)

    @property
    def end_time(self) -> time:
        return _clock(self.end)

    @property
    def overnight(self) -> bool:
        return self.end_time <= self.start_time


class Roster(_Frozen):
    specialist: StaffId
    gebied: str = Field(description=f'A gebied code, or "{REGIONAL_POOL}" for the backup.')
    shifts: list[Shift] = Field(min_length=1)


class Change(_Frozen):
    """A one-off change: ``absent`` (off duty, e.g. ill or on leave), ``extra`` (an extra
    shift in ``gebied``), or ``swap`` (``replaced_by`` works the specialist's shifts)."""

    kind: Literal["absent", "extra", "swap"]
    specialist: StaffId
    start: datetime = Field(description="Local time (Europe/Amsterdam) unless an offset is given.")
    end: datetime
    gebied: str | None = None
    replaced_by: StaffId | None = None

    @model_validator(mode="after")
    def _fits_its_kind(self) -> Change:
        if self.end <= self.start:
            raise Invalid("end must be after start", "het einde moet na het begin liggen")
        if (self.kind == "extra") != (self.gebied is not None):
            raise Invalid(
                "an extra shift names its gebied; other changes do not",
                "bij een extra dienst hoort een gebied, bij andere wijzigingen niet",
            )
        if (self.kind == "swap") != (self.replaced_by is not None):
            raise Invalid(
                "a swap names who replaces the specialist (replaced_by)",
                "een ruil noemt wie de specialist vervangt",
            )
        return self


class NetworkConfig(_Frozen):
    version: str = Field(min_length=1)
    timezone: str = "Europe/Amsterdam"
    expertise: dict[Tag, Expertise] = Field(min_length=1)
    needs: dict[Category, list[Tag]] = Field(
        description="Per category the expertise a lead needs (any one of them; empty: any)."
    )
    helps: dict[str, list[Tag]] = Field(
        default_factory=dict, description="Per signal the expertise that is preferred."
    )
    specialists: list[Specialist] = Field(min_length=1)
    networks: dict[str, Network] = Field(min_length=1)
    backup: Network
    last_resort: list[StaffId] = Field(
        default_factory=list,
        description="Told last when nobody is left to offer a melding to, after the gebied's "
        "and the backup's coordinators (a manager on call, say).",
    )
    rosters: list[Roster] = Field(default_factory=list)
    changes: list[Change] = Field(default_factory=list)
    answer_within_minutes: dict[str, int] = Field(
        default_factory=lambda: {"crisis": 5, "acuut": 15, "hoog": 60, "regulier": 240},
        description="How long an offer waits for an answer before it goes to the next.",
    )

    at_risk_fraction: float = Field(
        default=0.75,
        gt=0,
        lt=1,
        description="A melding without first contact is at risk once this share of its "
        "window is used; its gebied's coordinator is told.",
    )

    @field_validator("answer_within_minutes")
    @classmethod
    def _every_level(cls, value: dict[str, int]) -> dict[str, int]:
        levels = {"crisis", "acuut", "hoog", "regulier"}
        if set(value) != levels:
            raise ValueError(f"give a time for each of {sorted(levels)}, and nothing else")
        if any(minutes < 1 for minutes in value.values()):
            raise ValueError("times are whole minutes, at least 1")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (KeyError, ValueError):
            raise ValueError(
                f'"{value}" is not a known time zone such as "Europe/Amsterdam"'
            ) from None
        return value

    @model_validator(mode="after")
    def _refers_to_what_exists(self) -> NetworkConfig:
        missing = [c.value for c in Category if c not in self.needs]
        if missing:
            raise ValueError(f"needs: every category needs an entry; missing {missing}")
        tags = set(self.expertise)
        used = [(f"needs.{c.value}", t) for c, ts in self.needs.items() for t in ts]
        used += [(f"helps.{s}", t) for s, ts in self.helps.items() for t in ts]
        used += [(f"specialist {s.id}", t) for s in self.specialists for t in s.expertise]
        for where, tag in used:
            if tag not in tags:
                raise ValueError(f'{where}: expertise "{tag}" is not in the expertise list')
        ids = [s.id for s in self.specialists]
        if len(set(ids)) != len(ids):
            raise ValueError("specialists: an id is used twice")
        known = set(ids)
        named = [(f"networks.{g}", m) for g, n in self.networks.items()
                 for m in [*n.members, *n.coordinators]]  # fmt: skip
        named += [("backup", m) for m in [*self.backup.members, *self.backup.coordinators]]
        named += [("last_resort", m) for m in self.last_resort]
        named += [("rosters", r.specialist) for r in self.rosters]
        named += [("changes", c.specialist) for c in self.changes]
        named += [("changes", c.replaced_by) for c in self.changes if c.replaced_by]
        for where, staff in named:
            if staff not in known:
                raise ValueError(f'{where}: "{staff}" is not in the specialists list')
        return self

    def network_of(self, gebied: str) -> Network | None:
        """The gebied's network, or the regional backup for the regional pool."""
        return self.backup if gebied == REGIONAL_POOL else self.networks.get(gebied)

    def coordinator_of(self, gebied: str) -> str:
        return self.coordinators_of(gebied)[0]

    def coordinators_of(self, gebied: str) -> list[str]:
        """Everyone who coordinates the gebied's network (the backup's for the pool)."""
        network = self.network_of(gebied)
        assert network is not None  # every gebied has a network (check_against)
        return list(network.coordinators)

    def may_take(self, gebied: str) -> list[str]:
        """Who a melding of ``gebied`` may be given to by hand: its network (members, then
        coordinators), then the regional backup's, then the escalation chain's last ones.
        Not someone of another gebied: they would read all of a case not theirs."""
        team = self.network_of(gebied)
        people = [*(team.members if team else []), *(team.coordinators if team else []),
                  *self.backup.members, *self.backup.coordinators, *self.last_resort]  # fmt: skip
        return list(dict.fromkeys(people))

    def chain(self, gebied: str) -> list[str]:
        """Whom a melding of ``gebied`` is escalated to, in order, when nobody on duty is
        left: the gebied's coordinators, the backup's, then the last resort."""
        people = [*self.coordinators_of(gebied), *self.backup.coordinators, *self.last_resort]
        return list(dict.fromkeys(people))

    def check_against(self, region: Region, signals: frozenset[str]) -> list[Finding]:
        """What this file says that the region or the scoring rules do not know."""
        gebieden = set(region.gebied_codes)
        places = gebieden | {REGIONAL_POOL}
        found: list[Finding] = [(("networks", g), "is not a gebied of the region")
                 for g in self.networks if g not in gebieden]  # fmt: skip
        found += [(("networks",), f'gebied "{g}" has no network')
                  for g in sorted(gebieden) if g not in self.networks]  # fmt: skip
        found += [(("helps", s), "is not a signal of the scoring rules")
                  for s in self.helps if s not in signals]  # fmt: skip
        for i, roster in enumerate(self.rosters):
            pool = self.network_of(roster.gebied)
            if roster.gebied not in places:
                found.append((("rosters", i, "gebied"), f'"{roster.gebied}" is not a gebied '
                              f'or "{REGIONAL_POOL}"'))  # fmt: skip
            elif pool is not None and roster.specialist not in [*pool.members, *pool.coordinators]:
                found.append((("rosters", i, "specialist"), f'{roster.specialist} has shifts '
                              f'in "{roster.gebied}" but is not in its network'))  # fmt: skip
        found += [(("changes", i, "gebied"), f'"{c.gebied}" is not a gebied or "{REGIONAL_POOL}"')
                  for i, c in enumerate(self.changes)
                  if c.gebied is not None and c.gebied not in places]  # fmt: skip
        return found

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def by_id(self) -> dict[str, Specialist]:
        return {s.id: s for s in self.specialists}

    def local(self, moment: datetime) -> datetime:
        """``moment`` in the region's zone: without an offset it is taken as the time there
        (a change's time as typed); with one it is converted (the clock's now, a stored
        time), so that its date and hours are the region's. Only replacing the zone of an
        aware time showed the console's forms UTC as local time, an hour early."""
        if moment.tzinfo is None:
            return moment.replace(tzinfo=self.zone)
        return moment.astimezone(self.zone)

    def day_start(self, day: date, at: time) -> datetime:
        return datetime.combine(day, at, tzinfo=self.zone)


def load_network(path: Path | None, region: Region, signals: frozenset[str]) -> NetworkConfig:
    """The network file at ``path`` (or the demo region's), checked against the region
    and the rules' signals; every problem with its line."""
    if path is None:
        source = "hart-van-brabant-netwerk.yaml"
        text = resources.files("triage.regions").joinpath(source).read_text("utf-8")
    else:
        source = str(path)
        text = read_config_text(path)
    config = load_model(NetworkConfig, text, source)
    found = config.check_against(region, signals)
    if found:
        raise ConfigError(source, [f"line {line_of(text, loc)}: {'.'.join(map(str, loc))}: "
                                   f"{message}" for loc, message in found])  # fmt: skip
    return config
