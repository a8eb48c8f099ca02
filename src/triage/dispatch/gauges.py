"""What the timers report to Prometheus about the queues, the deadlines and the rosters.

Set by every worker's timer loop from PostgreSQL (the truth, not Redis) and from the
roster, for every gebied and level, zeros included, so that an alert resolves when its
cause is gone. Each worker sets the same values (multiprocess mode ``mostrecent``).

Coverage is what a night shift asks: who can take a melding of this gebied now and at
every moment of the next hour (its own network on duty, and the regional crisis
service, which covers the gebieden at night). A gebied's coordinator is reachable off
roster and does not count: escalation to them is the last resort, not coverage.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import asyncpg

from triage.observability import metrics
from triage.region import REGIONAL_POOL
from triage.routing.network import Change, NetworkConfig
from triage.routing.roster import Duty, on_duty
from triage.store.sql import load_queries
from triage.vocabulary import LEVEL_ASCENDING

_Q = load_queries("triage.dispatch", "dispatch.sql")
#: How finely the next hour is looked at for gaps (shifts start and end on the quarter).
_STEP = timedelta(minutes=5)


async def refresh_queues(
    pool: asyncpg.Pool, config: NetworkConfig, now: datetime, longest_window: timedelta
) -> None:
    """Queue depth and oldest age; meldingen at risk and breached; by gebied and level.
    And the review backlog (possible duplicates waiting for an operator)."""
    places = [*config.networks, REGIONAL_POOL]
    queued = {(r["gebied"], r["urgency_level"]): r for r in await pool.fetch(_Q["queue_state"])}
    rows = await pool.fetch(_Q["deadline_state"], now, config.at_risk_fraction, longest_window)
    deadlines = {(r["gebied"], r["urgency_level"]): r for r in rows}
    for gebied in places:
        for level in LEVEL_ASCENDING:
            key = (gebied, level.value)
            q, d = queued.get(key), deadlines.get(key)
            metrics.QUEUE_DEPTH.labels(gebied, level.value).set(q["depth"] if q else 0)
            oldest = (now - q["oldest"]).total_seconds() if q else 0.0
            metrics.QUEUE_OLDEST.labels(gebied, level.value).set(max(oldest, 0.0))
            metrics.MELDINGEN_AT_RISK.labels(gebied, level.value).set(d["at_risk"] if d else 0)
            metrics.MELDINGEN_BREACHED.labels(gebied, level.value).set(d["breached"] if d else 0)
    review = await pool.fetchrow(_Q["review_state"])
    metrics.REVIEW_BACKLOG.set(review["waiting"])
    oldest = (now - review["oldest"]).total_seconds() if review["oldest"] else 0.0
    metrics.REVIEW_OLDEST.set(max(oldest, 0.0))


def coverage(duties: Sequence[Duty], gebied: str) -> int:
    """People who can take a melding of ``gebied``: its network and the crisis service."""
    return len({d.specialist for d in duties if d.gebied in (gebied, REGIONAL_POOL)})


def refresh_rosters(
    config: NetworkConfig, now: datetime, duties: Sequence[Duty], extra: Sequence[Change]
) -> None:
    """Who is on duty by gebied and expertise; coverage now and over the next hour."""
    places = [*config.networks, REGIONAL_POOL]
    for gebied in places:
        here = {d.specialist for d in duties if d.gebied == gebied}
        for tag in config.expertise:
            count = sum(tag in config.by_id[s].expertise for s in here)
            metrics.ON_DUTY.labels(gebied, tag).set(count)
    hour = [duties, *(on_duty(config, now + _STEP * i, extra) for i in range(1, 13))]
    for gebied in config.networks:
        metrics.COVERAGE.labels(gebied, "now").set(coverage(duties, gebied))
        metrics.COVERAGE.labels(gebied, "next_hour").set(min(coverage(d, gebied) for d in hour))
