"""Offer claimed meldingen: routing picks the specialist, one statement makes the offers.

Runs in a worker after a claim from the queues: one read of the claimed meldingen (each
with its case's lead and who passed on it), one of the loads of the people on duty, the
choices in Python (each choice counts in the loads for the next, so a batch spreads over
people as offers one at a time would), then one statement for all of the round's offers
(one round trip, one commit) that makes each only if its melding is still queued in that
gebied at that level (offered by another worker after a duplicate claim, reassigned,
raised or moved on meanwhile: left out). Should that statement fail (an offer that
breaks a constraint), each offer is made on its own, so that only the failing one waits
for its lease to expire. No transaction is held open across the choice; the
one-active-assignment index makes a second offer impossible whatever the timing.

A melding that nobody is left to offer to (routing/choose.py returns None: everyone on
duty and the whole escalation chain passed on it in this round) is escalated at once to
the chain's people by name, with the answer time of its level as deadline: it is never
left queued on no queue. What must follow the commit (events to the people) comes back
as data, for the worker to publish.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg
import structlog

from triage.dispatch.deadlines import escalation_notices
from triage.effects import Changed, Effect, Enqueue, Tell, enqueue
from triage.ids import uuid7
from triage.notify import webhooks
from triage.notify.webhooks import Notice
from triage.observability import metrics
from triage.region import REGIONAL_POOL
from triage.routing.choose import Choice, Need, choose
from triage.routing.network import NetworkConfig
from triage.routing.roster import Duty
from triage.store.db import encode_json
from triage.store.sql import load_queries
from triage.vocabulary import Category

log = structlog.get_logger(__name__)
_Q = load_queries("triage.dispatch", "dispatch.sql")


@dataclass(frozen=True, slots=True)
class Escalated:
    melding_id: UUID
    gebied: str
    told: tuple[str, ...]
    until: datetime


@dataclass(slots=True)
class Round:
    """What a round did: offers made, meldingen escalated, and those whose offer or
    escalation failed (they keep their lease, to be tried again when it expires)."""

    offered: list[Offered] = field(default_factory=list)
    escalated: list[Escalated] = field(default_factory=list)
    failed: set[UUID] = field(default_factory=set)
    #: Planned but left out while still queued (the person was marked absent or handed
    #: the case over meanwhile): back on the queue, for the next round to choose again.
    left: list[Enqueue] = field(default_factory=list)

    @property
    def effects(self) -> list[Effect]:
        """After the commit: each person offered something, and everyone an escalation
        names, is told, and so are the werkvoorraad pages of their gebieden; what was left
        out goes back on its queue."""
        offers = [Tell(m.choice.specialist, "offer", {
            "assignment_id": m.assignment_id, "melding_id": m.melding_id,
            "tier": m.choice.tier, "link": "/api/v1/me/assignments",
        }) for m in self.offered]  # fmt: skip
        shown = [*(Changed(m.gebied, m.melding_id) for m in self.offered),
                 *(Changed(e.gebied, e.melding_id) for e in self.escalated)]  # fmt: skip
        return [*self.left, *offers, *(Tell(person, "escalation", {
            "melding_id": e.melding_id, "kind": "no_candidate", "until": e.until,
            "link": f"/api/v1/meldingen/{e.melding_id}",
        }) for e in self.escalated for person in e.told), *shown]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Offered:
    assignment_id: UUID
    melding_id: UUID
    gebied: str
    choice: Choice
    level: str
    created_at: datetime


async def offer(
    pool: asyncpg.Pool,
    config: NetworkConfig,
    claimed: Sequence[tuple[str, UUID]],
    now: datetime,
    duties: Sequence[Duty],
    *,
    absent: Collection[str] = (),
) -> Round:
    """Offer those of the ``claimed`` (gebied, melding id) that are still queued, and
    escalate those nobody is left for. ``duties``:
    who is on duty ``now``, roster changes made through the API included (the worker's
    ``duties``). Loads are read for the people routing can choose from: on duty in the
    claims' gebieden or in the regional backup."""
    where = {gebied for gebied, _ in claimed} | {REGIONAL_POOL}
    people = sorted({d.specialist for d in duties if d.gebied in where})
    melding_ids = [melding_id for _, melding_id in claimed]
    async with pool.acquire() as conn:
        rows = await conn.fetch(_Q["meldingen_to_offer"], melding_ids)
        found = await conn.fetch(
            _Q["loads"], people, [config.by_id[p].max_caseload for p in people]
        )
    load: dict[str, int] = {r["specialist"]: r["open"] for r in found}
    plans = []
    unplaced = []
    done = Round()
    for row in rows:
        if row["status"] != "queued":
            continue
        try:
            choice = choose(
                config,
                gebied=row["gebied"],
                need=Need.of(config, Category(row["category"]), row["signals"]),
                duties=duties,
                load=load,
                lead=row["lead"],
                declined=set(row["passed"]),
                absent=absent,
            )
        except Exception as exc:  # one melding that cannot be routed holds up no other
            log.error("offer_not_planned", melding_id=str(row["id"]), error=type(exc).__name__)
            done.failed.add(row["id"])
            continue
        if choice is None:
            unplaced.append(row)
            continue
        load[choice.specialist] = load.get(choice.specialist, 0) + 1
        plans.append((row, choice))
    if plans:
        await _offer_planned(pool, config, plans, now, done)
    if unplaced:
        try:
            done.escalated = await _escalate(pool, config, unplaced, now, absent)
        except (asyncpg.PostgresError, OSError) as exc:  # kept leased: tried again
            log.warning("escalation_failed", meldingen=len(unplaced), error=type(exc).__name__)
            done.failed.update(row["id"] for row in unplaced)
    return done


async def _offer_planned(
    pool: asyncpg.Pool,
    config: NetworkConfig,
    plans: Sequence[tuple[asyncpg.Record, Choice]],
    now: datetime,
    done: Round,
) -> None:
    try:
        done.offered, left = await _make_all(pool, config, plans, now)
        done.left = [enqueue(row) for row, _ in plans if row["id"] in left]
        return
    except asyncpg.PostgresError as exc:
        # One offer that fails (a constraint) fails the statement: each on its own, so
        # that it alone is tried again.
        log.info("offer_round_split", offers=len(plans), error=type(exc).__name__)
    made = await asyncio.gather(*(_make(pool, config, row, c, now) for row, c in plans),
                                return_exceptions=True)  # fmt: skip
    for (row, _), result in zip(plans, made, strict=True):
        if isinstance(result, BaseException):  # its lease expires; it is tried again
            log.warning("offer_failed", melding_id=str(row["id"]), error=type(result).__name__)
            done.failed.add(row["id"])
        elif result is None:  # left out: back on the queue (harmless if taken meanwhile)
            done.left.append(enqueue(row))
    done.offered = [m for m in made if isinstance(m, Offered)]


async def _escalate(
    pool: asyncpg.Pool,
    config: NetworkConfig,
    rows: Sequence[asyncpg.Record],
    now: datetime,
    absent: Collection[str],
) -> list[Escalated]:
    """Escalate ``rows`` (nobody left to offer them to) to their gebied's chain by name
    (those of it marked absent left out), until the answer time of their level; their
    organisations hear it by webhook in the same transaction. Those no longer queued as
    read are left out."""
    told = {row["id"]: _present(config.chain(row["gebied"]), absent) for row in rows}
    until = {row["id"]: _answer_before(config, row, now) for row in rows}
    async with pool.acquire() as conn, conn.transaction():
        made = await conn.fetch(
            _Q["escalate_unplaced"], [r["id"] for r in rows], [r["gebied"] for r in rows],
            [r["urgency_level"] for r in rows], [encode_json(told[r["id"]]) for r in rows],
            [until[r["id"]] for r in rows], now,
        )  # fmt: skip
        await webhooks.record(conn, [
            n for m in made
            for n in escalation_notices(config, m["id"], "no_candidate", m["gebied"], told[m["id"]])
        ], now)  # fmt: skip
    for m in made:
        metrics.ESCALATIONS.labels("no_candidate", m["gebied"]).inc()
        log.warning("melding_escalated", melding_id=str(m["id"]), kind="no_candidate")
    return [Escalated(m["id"], m["gebied"], tuple(told[m["id"]]), m["until"]) for m in made]


async def _make_all(
    pool: asyncpg.Pool,
    config: NetworkConfig,
    plans: Sequence[tuple[asyncpg.Record, Choice]],
    now: datetime,
) -> tuple[list[Offered], set[UUID]]:
    """A round's offers in one statement (one commit, one round trip): those whose
    melding was no longer as read are left out; what was offered, and which of those
    left out are still queued."""
    ids = [uuid7() for _ in plans]
    answer_before = [_answer_before(config, row, now) for row, _ in plans]
    notices = [
        offer_notice(
            config, assignment_id=aid, melding_id=row["id"], specialist=c.specialist,
            gebied=row["gebied"], level=row["urgency_level"], tier=c.tier, answer_before=due,
        )
        for aid, due, (row, c) in zip(ids, answer_before, plans, strict=True)
    ]  # fmt: skip
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(_Q["hold_people"], sorted({c.specialist for _, c in plans}))
        made = await conn.fetchrow(
            _Q["offer_round"], ids, [row["id"] for row, _ in plans],
            [row["gebied"] for row, _ in plans], [c.specialist for _, c in plans],
            [c.tier for _, c in plans], [encode_json(list(c.reasons)) for _, c in plans],
            answer_before, [n.organisation for n in notices], [n.data for n in notices],
            [row["urgency_level"] for row, _ in plans], config.version, now,
        )  # fmt: skip
    offered = set(made["offered"])
    result = []
    for aid, (row, choice) in zip(ids, plans, strict=True):
        if row["id"] not in offered:
            continue
        metrics.OFFERS.labels(choice.tier).inc()
        log.debug("melding_offered", melding_id=str(row["id"]), tier=choice.tier)
        result.append(Offered(aid, row["id"], row["gebied"], choice, row["urgency_level"],
                              row["created_at"]))  # fmt: skip
    return result, set(made["left_queued"])


def _present(chain: list[str], absent: Collection[str]) -> list[str]:
    """The chain without those marked absent; the whole chain if all of it is (then
    someone is still told by name)."""
    return [p for p in chain if p not in absent] or chain


def _answer_before(config: NetworkConfig, row: asyncpg.Record, now: datetime) -> datetime:
    return now + timedelta(minutes=config.answer_within_minutes[row["urgency_level"]])


async def _make(
    pool: asyncpg.Pool, config: NetworkConfig, row: asyncpg.Record, choice: Choice, now: datetime
) -> Offered | None:
    """One offer on its own (the round's statement failed); None when not made."""
    try:
        made, _ = await _make_all(pool, config, [(row, choice)], now)
    except asyncpg.UniqueViolationError:  # offered meanwhile: the constraint decides
        return None
    return made[0] if made else None


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
