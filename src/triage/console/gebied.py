"""The coordinator's page: a gebied's queue, who is on duty now and in the coming week,
absences and extra shifts, escalations, and the process indicators per week.

Reads and changes through the same functions as the API (``dispatch/views.py``,
``routing/roster_changes.py``, ``reporting/kpi.py``); a roster change takes effect at once
through the after-commit stage, as it does through the API.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web

from triage.api import handlers as h
from triage.api.keys import PRINCIPAL, RUNTIME
from triage.auth.principal import Principal
from triage.cases.read import BREAK_GLASS_DAYS, break_glass
from triage.console.pages import apply_change, form_fields, parsed
from triage.console.render import page
from triage.dispatch import views
from triage.effects import Done
from triage.problems import not_found
from triage.problems_nl import said
from triage.reporting import kpi
from triage.request_body import ID_MAX
from triage.routing import roster_changes
from triage.routing.network import Change, NetworkConfig
from triage.routing.roster import on_duty, turns
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

    on: str  # "08:30-17:00", "08-12, 14-17" or "" (no duty)
    absent: str  # "" (not absent), "hele dag" or the times, "00-03"

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


Span = tuple[datetime, datetime]


def _merged(spans: list[Span]) -> list[Span]:
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _within(spans: list[Span], day: Span) -> list[Span]:
    """``spans`` cut to ``day`` (midnight to midnight), merged."""
    return _merged([(max(s, day[0]), min(e, day[1])) for s, e in spans
                    if s < day[1] and e > day[0]])  # fmt: skip


def _said(spans: list[Span], midnight: datetime, zone: ZoneInfo) -> str:
    """The day's spans as the table says them, in local time: "08:30-17:00"; on whole
    hours as hours, "10-18"; the day's end as 24."""
    said = []
    for start, end in spans:
        a, b = start.astimezone(zone), end.astimezone(zone)
        end_hour = 24 if end >= midnight + timedelta(days=1) else b.hour
        if a.minute == b.minute == 0:
            said.append(f"{a.hour:02d}-{end_hour:02d}")
        else:
            said.append(f"{a.hour:02d}:{a.minute:02d}-{end_hour:02d}:{b.minute:02d}")
    return ", ".join(said)


def week(
    config: NetworkConfig, gebied: str, first: date, extra: list[Change]
) -> tuple[list[date], list[WeekRow]]:
    """Who is on duty in ``gebied`` in the seven days from ``first`` (local), to the
    minute, and when an absence takes them away. ``on_duty`` is asked at each moment the
    roster may turn (a shift or a change begins or ends), not sampled."""
    days = [first + timedelta(days=i) for i in range(7)]
    midnights = [config.day_start(d, datetime.min.time())
                 for d in [*days, days[-1] + timedelta(days=1)]]  # fmt: skip
    network = config.network_of(gebied)
    people = list(dict.fromkeys([*(network.members if network else []),
                                 *(network.coordinators if network else [])]))  # fmt: skip
    on: dict[str, list[Span]] = {p: [] for p in people}
    moments = turns(config, midnights[0], midnights[-1], extra)
    for at, until in zip(moments, [*moments[1:], midnights[-1]], strict=True):
        for duty in on_duty(config, at, extra):
            if duty.gebied == gebied:
                on.setdefault(duty.specialist, []).append((at, until))
    away: dict[str, list[Span]] = {}
    for c in extra:
        if c.kind == "absent":
            away.setdefault(c.specialist, []).append((config.local(c.start), config.local(c.end)))
    rows = []
    for specialist, spans in on.items():
        cells = []
        for day in itertools.pairwise(midnights):
            off = _within(away.get(specialist, []), day)
            absent = "hele dag" if off == [day] else _said(off, day[0], config.zone)
            cells.append(DayCell(_said(_within(spans, day), day[0], config.zone), absent))
        naam = config.by_id[specialist].naam if specialist in config.by_id else specialist
        rows.append(WeekRow(specialist, naam, cells))
    return days, rows


def _gebied(request: web.Request) -> str:
    """The coordinator's own gebied; the desk and CIT pick one (?gebied=), the regional
    pool (its backup's roster) too."""
    me: Principal = request[PRINCIPAL]
    region = request.app[RUNTIME].region
    if me.role == U.coordinator:
        return me.gebied or ""
    asked = request.query.get("gebied") or region.gebied_codes[0]
    if asked not in region.with_pool:
        raise not_found("not a gebied of the region", "Dit is geen gebied van de regio.")
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
    may_see_glass = me.role == U.coordinator and me.gebied == gebied
    async with h.connection(request) as conn:
        queue = await views.gebied_queue(conn, gebied, 50)
        escalated = await views.escalations(conn, scope, now, 50)
        with_chain = await views.chain_offers(conn, runtime.network, gebied, 50)
        duty = views.on_duty_now(runtime.network, gebied, now, extra)
        unreachable = await views.unreachable(conn, runtime.network, [
            *(d.id for d in [*duty.on_duty, *duty.backup]), *(c.id for c in duty.coordinators),
            *(r.specialist for r in rows),
        ])  # fmt: skip
        # Who read what of the gebied outside their own work, and why: the coordinator's
        # to look at (not the desk's: a reason may name people).
        glass = (await break_glass(conn, me, now=now, limit=50)).reads if may_see_glass else []
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
        on_duty=duty, unreachable=unreachable,
        days=days, day_names=DAYS, rows=rows, queue=queue.meldingen,
        escalations=escalated.escalations, overdue=escalated.milestones_overdue,
        with_chain=with_chain,
        changes=roster_changes.as_seen_by(mine, me, gebied), staff=staff,
        names={s.id: s.naam for s in runtime.network.specialists}, weeks=weeks,
        may_change=me.role == U.coordinator, gebieden=runtime.region.with_pool,
        today=today, period=period, periods=PERIODS, labels=labels,
        charts=charts(weeks, labels), glass=glass, may_see_glass=may_see_glass,
        glass_days=BREAK_GLASS_DAYS,
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
