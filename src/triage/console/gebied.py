"""The coordinator's page: a gebied's queue, who is on duty now and in the coming week,
absences and extra shifts, escalations, and the process indicators per week.

Reads and changes through the same functions as the API (``dispatch/views.py``,
``routing/roster_changes.py``, ``reporting/kpi.py``); a roster change takes effect at once
through the after-commit stage, as it does through the API.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from triage.api import handlers as h
from triage.api.keys import PRINCIPAL, RUNTIME
from triage.auth.principal import Principal
from triage.console.pages import apply_change, form_fields, parsed
from triage.console.render import page
from triage.dispatch import views
from triage.effects import Done
from triage.problems import forbidden
from triage.problems_nl import said
from triage.reporting import kpi
from triage.request_body import ID_MAX
from triage.routing import roster_changes
from triage.routing.network import Change, NetworkConfig
from triage.routing.roster import on_duty
from triage.vocabulary import UserRole

U = UserRole
#: The process indicators' periods on the page: the last six weeks or the last six
#: months (a 7-day contact norm shows week to week; 100 and 180 days need months).
PERIODS = {"week": "per week", "maand": "per maand"}
SHOWN = 6


#: The indicators charted, in the order of the case's milestones.
INDICATORS = (
    ("contact", "Contact binnen norm (24-72 u)", "first_contact_within_norm"),
    ("plan", "Plan binnen 7 dagen", "plan_within_7_days"),
    ("outreach", "Outreach tot dag 30", "outreach_to_day_30"),
    ("overdracht", "Overdracht binnen 100 dagen", "handover_within_100_days"),
    ("evaluatie", "Evaluatie op 180 dagen", "evaluation_by_180_days"),
)


def charts(
    found: list[tuple[date, Any]], labels: list[str]
) -> list[tuple[str, str, list[tuple[str, Any]]]]:
    """Per indicator, its share per period (label, kpi.Share), oldest first."""
    return [
        (key, title, [(label, getattr(k, name)) for label, (_, k) in zip(labels, found,
                                                                        strict=True)])
        for key, title, name in INDICATORS
    ]  # fmt: skip


def periods(kind: str, today: date) -> list[tuple[date, date]]:
    """The last ``SHOWN`` weeks (Monday to Monday) or months, oldest first, this one last."""
    if kind == "maand":
        first = today.replace(day=1)
        starts: list[date] = []
        for _ in range(SHOWN):
            starts.insert(0, first)
            first = (first - timedelta(days=1)).replace(day=1)
        ends = [*starts[1:], (starts[-1] + timedelta(days=32)).replace(day=1)]
        return list(zip(starts, ends, strict=True))
    monday = today - timedelta(days=today.weekday())
    return [(monday - timedelta(weeks=back), monday - timedelta(weeks=back - 1))
            for back in range(SHOWN - 1, -1, -1)]  # fmt: skip


DAYS = ("ma", "di", "wo", "do", "vr", "za", "zo")


@dataclass(frozen=True, slots=True)
class DayCell:
    """One person's day in the week table: the hours on duty and the hours marked absent.
    Both show: an absence of a few hours on a day with a shift is as much the coordinator's
    business as one that takes the whole day."""

    on: str  # "08-17", "08-12, 14-17" or "" (no duty)
    absent: str  # "" (not absent), "hele dag" or the hours, "00-03"

    @property
    def away(self) -> str:
        """The absence as the table says it: "afwezig 00-03", "afwezig" (all day) or ""."""
        if not self.absent:
            return ""
        return "afwezig" if self.absent == "hele dag" else f"afwezig {self.absent}"

    @property
    def text(self) -> str:
        return ", ".join(part for part in (self.on, self.away) if part)


@dataclass(frozen=True, slots=True)
class WeekRow:
    """One person's hours on duty in the gebied, per day of the coming week."""

    specialist: str
    naam: str
    days: list[DayCell]


def _hours(hours: list[int]) -> str:
    """Consecutive hours as ranges: [8..16] -> "08-17"."""
    ranges: list[str] = []
    start = previous = None
    for hour in [*hours, None]:
        if hour is not None and previous is not None and hour == previous + 1:
            previous = hour
            continue
        if start is not None and previous is not None:
            ranges.append(f"{start:02d}-{previous + 1:02d}")
        start = previous = hour
    return ", ".join(ranges)


def week(
    config: NetworkConfig, gebied: str, first: date, extra: list[Change]
) -> tuple[list[date], list[WeekRow]]:
    """Who is on duty in ``gebied`` each hour of the seven days from ``first`` (local),
    sampled on the hour (shifts begin and end on the hour), and which hours an absence
    touches (absences begin and end at any minute: an hour partly away counts)."""
    days = [first + timedelta(days=i) for i in range(7)]
    network = config.network_of(gebied)
    people = list(dict.fromkeys([*(network.members if network else []),
                                 *(network.coordinators if network else [])]))  # fmt: skip
    hours: dict[str, list[list[int]]] = {p: [[] for _ in days] for p in people}
    absent: dict[str, list[list[int]]] = {}
    away = [(config.local(c.start), config.local(c.end), c.specialist)
            for c in extra if c.kind == "absent"]  # fmt: skip
    for index, day in enumerate(days):
        for hour in range(24):
            at = config.day_start(day, datetime.min.time()) + timedelta(hours=hour)
            for duty in on_duty(config, at, extra):
                if duty.gebied == gebied:
                    hours.setdefault(duty.specialist, [[] for _ in days])[index].append(hour)
            for start, end, specialist in away:
                if start < at + timedelta(hours=1) and end > at:
                    per_day = absent.setdefault(specialist, [[] for _ in days])
                    if hour not in per_day[index]:
                        per_day[index].append(hour)
    rows = []
    for specialist, per_day in hours.items():
        away_hours = absent.get(specialist, [[] for _ in days])
        cells = [DayCell(_hours(on), "hele dag" if len(off) == 24 else _hours(off))
                 for on, off in zip(per_day, away_hours, strict=True)]  # fmt: skip
        naam = config.by_id[specialist].naam if specialist in config.by_id else specialist
        rows.append(WeekRow(specialist, naam, cells))
    return days, rows


def _gebied(request: web.Request) -> str:
    """The coordinator's own gebied; the desk and CIT pick one (?gebied=)."""
    me: Principal = request[PRINCIPAL]
    region = request.app[RUNTIME].region
    if me.role == U.coordinator:
        return me.gebied or ""
    asked = request.query.get("gebied") or region.gebied_codes[0]
    if asked not in region.gebied_codes:
        raise forbidden("not a gebied of the region", "Dit is geen gebied van de regio.")
    return asked


async def _page(request: web.Request, gebied: str, *, status: int = 200,
                error: str | None = None) -> web.Response:  # fmt: skip
    runtime = request.app[RUNTIME]
    me: Principal = request[PRINCIPAL]
    scope = views.staff_scope(me, gebied)
    now = runtime.clock.now()
    changes = await roster_changes.current(runtime.pool, now)
    extra = roster_changes.as_changes(changes)
    today = runtime.network.local(now).date()
    days, rows = week(runtime.network, gebied, today, extra)
    everything, kpi_gebied = kpi.scope_of(me, gebied)
    period = request.query.get("periode", "week")
    if period not in PERIODS:
        period = "week"
    async with h.connection(request) as conn:
        queue = await views.gebied_queue(conn, gebied, 50)
        escalated = await views.escalations(conn, scope, now, 50)
        weeks = []
        for start, end in periods(period, today):
            found = await kpi.compute(conn, start, end, now, zone=runtime.network.zone,
                                      everything=everything, gebied=kpi_gebied)  # fmt: skip
            weeks.append((start, found.total))
    labels = [start.strftime("%d-%m" if period == "week" else "%m-%Y") for start, _ in weeks]
    mine = [c for c in changes if c.network == gebied]
    network = runtime.network.network_of(gebied)
    staff = sorted({*(network.members if network else []),
                    *(network.coordinators if network else [])})  # fmt: skip
    return page(
        request, "gebied.html", status, gebied=gebied, error=error,
        on_duty=views.on_duty_now(runtime.network, gebied, now, extra),
        days=days, day_names=DAYS, rows=rows, queue=queue.meldingen,
        escalations=escalated.escalations, overdue=escalated.milestones_overdue,
        changes=roster_changes.as_seen_by(mine, me, gebied), staff=staff,
        names={s.id: s.naam for s in runtime.network.specialists}, weeks=weeks,
        may_change=me.role == U.coordinator, gebieden=runtime.region.gebied_codes,
        today=today, period=period, periods=PERIODS, labels=labels,
        charts=charts(weeks, labels),
    )  # fmt: skip


async def get_gebied(request: web.Request) -> web.Response:
    return await _page(request, _gebied(request))


async def _roster(
    request: web.Request, gebied: str, run: Callable[[Any], Awaitable[Done[Any]]], done: str
) -> web.Response:
    """A roster change of ``gebied`` in its transaction; its effects (offers withdrawn,
    the workers told) follow at once; a refusal shows the page with its reason."""
    return await apply_change(
        request, run, then="/gebied?" + urlencode({"gedaan": done}),
        refused=lambda problem: _page(request, gebied, status=problem.status,
                                      error=said(problem)),
    )  # fmt: skip


async def post_roster_change(request: web.Request) -> web.Response:
    network = request.app[RUNTIME].network
    gebied = _gebied(request)
    fields = await form_fields(request)

    async def run(conn: Any) -> Done[Any]:
        body = parsed(roster_changes.RosterChangeIn, {
            "kind": fields.get("kind", ""), "specialist": fields.get("specialist", ""),
            "start": fields.get("start", ""), "end": fields.get("end", ""),
            "reason": fields.get("reason", "").strip(),
            **({"gebied": gebied} if fields.get("kind") == "extra" else {}),
        })  # fmt: skip
        return await roster_changes.add_change(conn, network, gebied, body, request[PRINCIPAL],
                                               **h.request_context(request))  # fmt: skip

    return await _roster(request, gebied, run, "roosterwijziging")


async def post_roster_withdraw(request: web.Request) -> web.Response:
    network = request.app[RUNTIME].network
    gebied = _gebied(request)
    await form_fields(request)
    change_id = h.whole_number(request.match_info["change_id"], "change_id", most=ID_MAX)

    async def run(conn: Any) -> Done[Any]:
        return await roster_changes.withdraw(conn, network, gebied, change_id,
                                             request[PRINCIPAL],
                                             **h.request_context(request))  # fmt: skip

    return await _roster(request, gebied, run, "ingetrokken")
