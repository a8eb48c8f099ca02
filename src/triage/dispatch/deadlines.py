"""Deadlines watched: escalate meldingen at risk and breached to the gebied's coordinators.

Runs in every worker's timer loop. A melding without first contact is ``at_risk`` once
``at_risk_fraction`` of its window (received to respond_before) is used and ``breached``
when respond_before passes; each is recorded once per melding (a unique key: several
instances never escalate twice), counted in Prometheus and listed for coordinators
(GET /api/v1/escalations); every coordinator of the gebied hears of it as a server-sent
event, and their organisations by webhook.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg
import structlog

from triage.effects import Changed, Done, Effect, Tell
from triage.notify import webhooks
from triage.notify.webhooks import Notice
from triage.observability import metrics
from triage.region import REGIONAL_POOL
from triage.routing.network import NetworkConfig
from triage.store.db import encode_json
from triage.store.sql import load_queries

log = structlog.get_logger(__name__)
_Q = load_queries("triage.dispatch", "dispatch.sql")


async def escalate(
    pool: asyncpg.Pool,
    config: NetworkConfig,
    now: datetime,
    longest_window: timedelta,
) -> Done[int]:
    """Record the escalations due at ``now``; how many were new, and the events that tell
    the coordinators after the commit."""
    gebieden = [*config.networks, REGIONAL_POOL]
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            _Q["escalate"], now, config.at_risk_fraction, longest_window, gebieden,
            [encode_json(config.coordinators_of(g)) for g in gebieden],
        )  # fmt: skip
        await webhooks.record(conn, [n for row in rows for n in _notices(config, row)], now)
    for row in rows:
        metrics.ESCALATIONS.labels(row["kind"], row["gebied"]).inc()
    if rows:
        log.warning("meldingen_escalated", count=len(rows))
    effects: list[Effect] = [Tell(person, "escalation", {
        "melding_id": row["melding_id"], "kind": row["kind"], "link": "/api/v1/escalations",
    }) for row in rows for person in row["told"]]  # fmt: skip
    effects += [Changed(row["gebied"], row["melding_id"]) for row in rows]
    return Done(len(rows), tuple(effects))


def _notices(config: NetworkConfig, row: asyncpg.Record) -> list[Notice]:
    """The organisations of the people told hear of the escalation too, once each."""
    return escalation_notices(config, row["melding_id"], row["kind"], row["gebied"], row["told"])


def escalation_notices(
    config: NetworkConfig, melding_id: UUID, kind: str, gebied: str, told: Sequence[str]
) -> list[Notice]:
    """One webhook notice per organisation of the people ``told`` (ids and codes only)."""
    by_organisation: dict[str, list[str]] = {}
    for person in told:
        by_organisation.setdefault(config.by_id[person].organisatie, []).append(person)
    return [Notice(organisation, "escalation", {
        "melding_id": melding_id, "kind": kind, "gebied": gebied, "coordinator": people[0],
        "told": people, "link": f"/api/v1/meldingen/{melding_id}",
    }) for organisation, people in by_organisation.items()]  # fmt: skip
