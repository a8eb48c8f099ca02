"""Offer one claimed melding: routing picks the specialist, the offer is one statement.

Runs in a worker after a claim from the gebied's queue: one read (the melding, its
case's lead, who passed on it, the loads of the people on duty), the choice in Python,
then one statement that makes the offer only if the melding is still queued in that
gebied (offered by another worker after a duplicate claim, reassigned or moved on
meanwhile: nothing happens). Two round trips and no transaction held open across the
choice; the one-active-assignment index makes a second offer impossible whatever the
timing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg
import structlog

from triage.ids import uuid7
from triage.notify.webhooks import Notice
from triage.observability import metrics
from triage.region import REGIONAL_POOL
from triage.routing.choose import Choice, Need, choose
from triage.routing.network import NetworkConfig
from triage.routing.roster import Duty
from triage.store.sql import load_queries
from triage.vocabulary import Category

log = structlog.get_logger(__name__)
_Q = load_queries("triage.dispatch", "dispatch.sql")


@dataclass(frozen=True, slots=True)
class Offered:
    assignment_id: UUID
    melding_id: UUID
    choice: Choice
    level: str
    created_at: datetime


async def offer(
    conn: asyncpg.Connection,
    config: NetworkConfig,
    melding_id: UUID,
    now: datetime,
    duties: list[Duty],
) -> Offered | None:
    """Offer ``melding_id`` if it is still queued; None if there was nothing to do.
    ``duties``: who is on duty ``now``, roster changes made through the API included
    (the worker's ``duties``)."""
    try:
        made = await _offer(conn, config, melding_id, now, duties)
    except asyncpg.UniqueViolationError:  # offered meanwhile: the constraint decides
        return None
    if made is not None:
        metrics.OFFERS.labels(made.choice.tier).inc()
        log.debug("melding_offered", melding_id=str(melding_id), tier=made.choice.tier)
    return made


async def _offer(
    conn: asyncpg.Connection,
    config: NetworkConfig,
    melding_id: UUID,
    now: datetime,
    duties: list[Duty],
) -> Offered | None:
    row = await conn.fetchrow(
        _Q["melding_to_offer"], melding_id, [d.specialist for d in duties],
        [config.by_id[d.specialist].max_caseload for d in duties], [d.gebied for d in duties],
        REGIONAL_POOL,
    )  # fmt: skip
    if row is None or row["status"] != "queued":
        return None
    choice = choose(
        config,
        gebied=row["gebied"],
        need=Need.of(config, Category(row["category"]), row["signals"]),
        duties=duties,
        load=row["loads"],
        lead=row["lead"],
        declined=set(row["passed"]),
    )
    answer_before = now + timedelta(minutes=config.answer_within_minutes[row["urgency_level"]])
    assignment_id = uuid7()
    notice = offer_notice(
        config, assignment_id=assignment_id, melding_id=melding_id,
        specialist=choice.specialist, gebied=row["gebied"], level=row["urgency_level"],
        tier=choice.tier, answer_before=answer_before,
    )  # fmt: skip
    made = await conn.fetchrow(
        _Q["offer"], assignment_id, melding_id, row["gebied"], choice.specialist, choice.tier,
        list(choice.reasons), config.version, now, answer_before, notice.organisation,
        notice.data,
    )  # fmt: skip
    if made is None:
        return None
    return Offered(assignment_id, melding_id, choice, row["urgency_level"], row["created_at"])


def offer_notice(
    config: NetworkConfig,
    *,
    assignment_id: UUID,
    melding_id: UUID,
    specialist: str,
    gebied: str,
    level: str,
    tier: str,
    answer_before: datetime,
) -> Notice:
    """What the specialist's organisation hears of an offer (ids and codes only)."""
    return Notice(config.by_id[specialist].organisatie, "offer", {
        "assignment_id": assignment_id, "melding_id": melding_id, "specialist": specialist,
        "gebied": gebied, "level": level, "tier": tier, "answer_before": answer_before,
        "link": f"/api/v1/meldingen/{melding_id}",
    })  # fmt: skip
