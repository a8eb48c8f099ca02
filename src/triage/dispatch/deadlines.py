"""Deadlines watched: escalate meldingen at risk and breached to the gebied's coordinator.

Runs in every worker's timer loop. A melding without first contact is ``at_risk`` once
``at_risk_fraction`` of its window (received to respond_before) is used and ``breached``
when respond_before passes; each is recorded once per melding (a unique key: several
instances never escalate twice), counted in Prometheus and listed for coordinators
(GET /api/v1/escalations); the coordinator hears of it as a server-sent event and
their organisation by webhook.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg
import structlog

from triage.notify import webhooks
from triage.notify.events import Publisher
from triage.notify.webhooks import Notice
from triage.observability import metrics
from triage.region import REGIONAL_POOL
from triage.routing.network import NetworkConfig
from triage.store.sql import load_queries

log = structlog.get_logger(__name__)
_Q = load_queries("triage.dispatch", "dispatch.sql")


async def escalate(
    pool: asyncpg.Pool,
    config: NetworkConfig,
    now: datetime,
    longest_window: timedelta,
    events: Publisher | None = None,
) -> int:
    """Record the escalations due at ``now`` and tell the coordinators (server-sent
    events, when ``events`` is given); how many were new."""
    gebieden = [*config.networks, REGIONAL_POOL]
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            _Q["escalate"], now, config.at_risk_fraction, longest_window, gebieden,
            [config.coordinator_of(g) for g in gebieden],
        )  # fmt: skip
        await webhooks.record(conn, [_notice(config, row) for row in rows], now)
    for row in rows:
        metrics.ESCALATIONS.labels(row["kind"], row["gebied"]).inc()
        if events is not None:
            await events.publish(config.coordinator_of(row["gebied"]), "escalation", {
                "melding_id": row["melding_id"], "kind": row["kind"],
                "link": "/api/v1/escalations",
            })  # fmt: skip
    if rows:
        log.warning("meldingen_escalated", count=len(rows))
    return len(rows)


def _notice(config: NetworkConfig, row: asyncpg.Record) -> Notice:
    """The coordinator's organisation hears of the escalation too."""
    coordinator = config.coordinator_of(row["gebied"])
    return Notice(config.by_id[coordinator].organisatie, "escalation", {
        "melding_id": row["melding_id"], "kind": row["kind"], "gebied": row["gebied"],
        "coordinator": coordinator, "link": f"/api/v1/meldingen/{row['melding_id']}",
    })  # fmt: skip
