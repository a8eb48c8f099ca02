"""The region's process indicators (seed 000: "Doorlooptijd 24-72-7-30-100-180 wordt
gehaald") per gebied and period, counts and shares only, no personal data.

For a period (local dates, Europe/Amsterdam, ``until`` exclusive):

- first contact within the norm: of the meldingen received in the period whose deadline
  has passed or that had first contact (the others cannot be judged yet), the share
  with first contact by their ``respond_before``;
- plans within 7 days, warm handovers within 100 days, evaluations by 180 days: of the
  case milestones due in the period (and due by now, or done), the share done by their
  due date;
- herhaalmeldingen: meldingen about a household with an open case, a melding in the last
  30 days, or a case closed in the last 180 days (the urgency reasons say which);
- escalated: the share of meldingen escalated at risk, and breached.

``GET /api/v1/kpi`` (coordinators their gebied; desk, CIT and admin the region) and
``triage report`` on the command line.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import asyncpg
from pydantic import BaseModel, Field

from triage.auth.principal import Principal
from triage.problems import FieldError, forbidden, invalid
from triage.store.sql import load_queries

_Q = load_queries("triage.reporting", "kpi.sql")
_MILESTONES = {
    "plan": "plan_within_7_days",
    "outreach": "outreach_to_day_30",
    "handover": "handover_within_100_days",
    "evaluation": "evaluation_by_180_days",
}
#: The longest period one report covers.
MAX_DAYS = 400


class Share(BaseModel):
    """``done`` of ``of``; ``share`` is None when there is nothing to judge yet."""

    done: int
    of: int
    share: float | None


def _share(done: int, of: int) -> Share:
    return Share(done=done, of=of, share=round(done / of, 4) if of else None)


class GebiedKpi(BaseModel):
    gebied: str = Field(description="A gebied code, regio for the regional pool, or all.")
    meldingen: int
    first_contact_within_norm: Share
    plan_within_7_days: Share
    outreach_to_day_30: Share
    handover_within_100_days: Share
    evaluation_by_180_days: Share
    herhaalmeldingen: Share = Field(description="Of all meldingen in the period.")
    escalated_at_risk: Share
    escalated_breached: Share


class KpiOut(BaseModel):
    period_from: date
    period_until: date = Field(description="Exclusive.")
    computed_at: datetime
    gebieden: list[GebiedKpi]
    total: GebiedKpi


def period(start: date | None, until: date | None, today: date) -> tuple[date, date]:
    """The period asked for; by default the last 30 days up to and including today."""
    until = until or today + timedelta(days=1)
    start = start or until - timedelta(days=30)
    if start >= until:
        raise invalid(
            [
                FieldError(
                    "/from",
                    "the period's start must be before its end",
                    "het begin van de periode moet voor het einde liggen",
                )
            ]
        )
    if (until - start).days > MAX_DAYS:
        raise invalid(
            [
                FieldError(
                    "/from",
                    f"a period of at most {MAX_DAYS} days",
                    f"een periode van hoogstens {MAX_DAYS} dagen",
                )
            ]
        )
    return start, until


def scope_of(principal: Principal, gebied: str | None) -> tuple[bool, str | None]:
    """(everything, gebied): coordinators their own gebied; desk, CIT, admin any."""
    scope = principal.indicator_scope()
    if scope is None:
        raise forbidden("the indicators are for coordinators, the desk, CIT and admin")
    if scope.everything:
        return gebied is None, gebied
    if gebied not in (None, scope.gebied):
        raise forbidden("a coordinator sees the indicators of their own gebied")
    return False, scope.gebied


async def compute(
    conn: asyncpg.Connection,
    start: date,
    until: date,
    now: datetime,
    *,
    zone: ZoneInfo,
    everything: bool,
    gebied: str | None,
) -> KpiOut:
    """The indicators of the period's local dates (``zone``: the region's)."""
    lo = datetime.combine(start, time(), zone)
    hi = datetime.combine(until, time(), zone)
    rows = await conn.fetch(_Q["meldingen"], lo, hi, now, everything, gebied)
    marks = await conn.fetch(_Q["milestones"], lo, hi, now, everything, gebied)
    names = sorted({r["gebied"] for r in rows} | {r["gebied"] for r in marks})
    per = [_gebied(g, [r for r in rows if r["gebied"] == g],
                   [m for m in marks if m["gebied"] == g]) for g in names]  # fmt: skip
    return KpiOut(period_from=start, period_until=until, computed_at=now, gebieden=per,
                  total=_gebied("all", list(rows), list(marks)))  # fmt: skip


def _gebied(name: str, rows: list[asyncpg.Record], marks: list[asyncpg.Record]) -> GebiedKpi:
    def total(field: str) -> int:
        return sum(int(r[field]) for r in rows)

    milestone = {
        label: _share(sum(m["in_time"] for m in marks if m["kind"] == kind),
                      sum(m["due"] for m in marks if m["kind"] == kind))
        for kind, label in _MILESTONES.items()
    }  # fmt: skip
    count = total("meldingen")
    return GebiedKpi(
        gebied=name, meldingen=count,
        first_contact_within_norm=_share(total("contact_in_time"), total("contact_due")),
        herhaalmeldingen=_share(total("herhaal"), count),
        escalated_at_risk=_share(total("at_risk"), count),
        escalated_breached=_share(total("breached"), count),
        **milestone,
    )  # fmt: skip
