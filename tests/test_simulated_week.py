"""A simulated week of dispatch with an injectable clock: the week the clocks go back
(19-26 October 2026), nights with one person of the crisis service, meldingen that
nobody on duty in their gebied is qualified for. Every offer must go to someone on duty
(or the coordinator), and every melding must be accepted before its deadline or
escalated before it passes."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer

from helpers import Tokens, melding_body, own_runtime
from triage.app import create_app
from triage.auth.principal import Principal
from triage.clock import FrozenClock
from triage.config import Settings
from triage.dispatch.answers import DeclineIn, answer, first_contact
from triage.dispatch.deadlines import escalate
from triage.dispatch.worker import Worker
from triage.queue.claim import Claimer
from triage.region import REGIONAL_POOL
from triage.routing.roster import on_duty
from triage.runtime import Runtime
from triage.vocabulary import Level, Source

Client = TestClient[Any, Any]
AMS = ZoneInfo("Europe/Amsterdam")
START = datetime(2026, 10, 19, 0, 0, tzinfo=AMS)  # Monday; Sunday 25th the clocks go back
STEP = timedelta(minutes=15)
PLACES = {"tilburg": "Udenhout", "langstraat": "Drunen", "oost": "Haaren", "west": "Rijen",
          "zuid": "Riel"}  # fmt: skip
# Categories whose needed expertise few or nobody in a gebied has at night or at all.
CASES = [
    ("huiselijk_geweld", ["geweld_nu"]),
    ("verslaving", ["middelengebruik"]),
    ("psychiatrie", ["psychose"]),
    ("dakloosheid", ["dakloos_vorst"]),
    ("overlast", []),
    ("kindermishandeling", ["kinderen_aanwezig"]),
    ("huiselijk_geweld", ["levensgevaar"]),
]  # fmt: skip  (crisis: a one-hour window)


async def _answer_offers(
    runtime: Runtime, now: datetime, rng: random.Random, *, all_accept: bool = False
) -> None:
    """Specialists answer their open offers: most accept, some decline, some let it lie
    (it expires and goes to the next); coordinators always accept."""
    rows = await runtime.pool.fetch(
        "SELECT a.id, a.specialist, a.tier FROM assignments a"
        " JOIN meldingen m ON m.id = a.melding_id"
        " WHERE a.state = 'offered' AND m.external_id LIKE 'WEEK-%'"
    )
    for row in rows:
        draw = 0.0 if all_accept else rng.random()
        if row["tier"] != "coordinator" and draw > 0.8:
            continue  # does not answer
        role = "coordinator" if row["tier"] == "coordinator" else "specialist"
        who = Principal(kind="user", id=uuid.uuid4(), name=row["specialist"], role=role)
        decline = DeclineIn(reason="Zit vol, graag een ander.") if draw > 0.7 else None
        if row["tier"] == "coordinator":
            decline = None
        async with runtime.pool.acquire() as conn:
            await answer(conn, row["id"], who, decline=decline, now=now, endpoint="simulation",
                         request_id="week")  # fmt: skip
        if decline is not None:  # as the API handler does: to the next candidate
            melding = await runtime.pool.fetchrow(
                "SELECT m.id, m.gebied, m.urgency_level, m.respond_before FROM meldingen m"
                " JOIN assignments a ON a.melding_id = m.id WHERE a.id = $1",
                row["id"],
            )
            runtime.enqueuer.submit(melding["gebied"], melding["id"],
                                    Level(melding["urgency_level"]),
                                    melding["respond_before"], now)  # fmt: skip


async def _make_contact(runtime: Runtime, now: datetime, rng: random.Random) -> None:
    """Specialists who accepted reach the household, most within a few hours."""
    rows = await runtime.pool.fetch(
        "SELECT m.id, a.specialist FROM meldingen m"
        " JOIN assignments a ON a.melding_id = m.id AND a.state = 'accepted'"
        " WHERE m.status = 'assigned' AND m.external_id LIKE 'WEEK-%'"
    )
    for row in rows:
        if rng.random() < 0.25:
            who = Principal(kind="user", id=uuid.uuid4(), name=row["specialist"],
                            role="specialist")  # fmt: skip
            async with runtime.pool.acquire() as conn:
                await first_contact(conn, row["id"], who, now=now, endpoint="simulation",
                                    request_id="week")  # fmt: skip


@pytest.fixture
async def week(
    settings: Settings, database_url: str, redis_url: str
) -> AsyncIterator[tuple[Client, Runtime]]:
    """A service of its own on a Redis key prefix of its own (the simulation's worker must
    offer the simulation's meldingen only, not what other tests left queued), on the
    simulation's clock."""
    async with own_runtime(settings, database_url, redis_url, "week", FrozenClock(START)) as rt:
        app = create_app(rt, background=False)
        app.cleanup_ctx.clear()  # the runtime outlives the app: own_runtime closes it
        async with TestClient(TestServer(app)) as test_client:
            yield test_client, rt


async def test_a_week_of_dispatch(week: tuple[Client, Runtime], tokens: Tokens) -> None:
    client, runtime = week
    rng = random.Random(2026)
    clock = runtime.clock
    assert isinstance(clock, FrozenClock)
    worker = Worker(
        runtime.pool,
        Claimer(runtime.redis, runtime.keys, 30),
        runtime.after_commit,
        config=runtime.network,
        clock=clock,
        gebieden=runtime.region.gebied_codes,
        redis=runtime.redis,
    )
    posted = 0
    while clock.now() < START + timedelta(days=7):
        now = clock.now()
        if rng.random() < 0.35:  # about one melding every 45 minutes, day and night
            gebied = rng.choice(list(PLACES))
            category, signals = rng.choice(CASES)
            body = melding_body(
                source="politie", external_id=f"WEEK-{posted:04d}-{uuid.uuid4().hex[:6]}",
                received_at=now.isoformat(), category=category, signals=signals,
                address={"woonplaats": PLACES[gebied]},
            )  # fmt: skip
            resp = await client.post("/api/v1/meldingen", json=body,
                                     headers=tokens.client(Source.politie))  # fmt: skip
            assert resp.status == 201, await resp.text()
            posted += 1
        await runtime.enqueuer.flush()
        await worker.requeue_expired_leases()
        await worker.expire_offers()
        await runtime.enqueuer.flush()
        while await worker.round():
            pass
        await escalate(runtime.pool, runtime.network, now, timedelta(hours=72))
        await _answer_offers(runtime, now, rng)
        await _make_contact(runtime, now, rng)
        clock.advance(STEP)

    # The week is over: whatever is still out is accepted, so that nothing of the
    # simulation stays queued for the tests after it.
    while await runtime.pool.fetchval(
        "SELECT count(*) FROM meldingen WHERE external_id LIKE 'WEEK-%'"
        " AND status IN ('queued', 'offered')"
    ):
        await runtime.enqueuer.flush()
        while await worker.round():
            pass
        await _answer_offers(runtime, clock.now(), rng, all_accept=True)
        clock.advance(STEP)

    offers = await runtime.pool.fetch(
        "SELECT a.specialist, a.gebied, a.tier, a.offered_at FROM assignments a"
        " JOIN meldingen m ON m.id = a.melding_id WHERE m.external_id LIKE 'WEEK-%'"
    )
    assert posted > 150
    assert len(offers) >= posted
    tiers = {o["tier"] for o in offers}
    assert {"network", "backup"} <= tiers  # nights and unqualified gebieden used the backup
    for o in offers:
        if o["tier"] == "coordinator":
            network = runtime.network
            assert o["specialist"] == network.coordinator_of(o["gebied"])
            continue
        duties = on_duty(runtime.network, o["offered_at"])
        assert any(d.specialist == o["specialist"] and d.gebied in (o["gebied"], REGIONAL_POOL)
                   for d in duties), o  # fmt: skip

    outcome = await runtime.pool.fetch(
        "SELECT m.id, m.respond_before,"
        " (SELECT min(a.answered_at) FROM assignments a"
        "   WHERE a.melding_id = m.id AND a.state = 'accepted') AS accepted_at,"
        " (SELECT min(e.at) FROM escalations e WHERE e.melding_id = m.id) AS escalated_at,"
        " m.first_contact_at IS NOT NULL AS contacted"
        " FROM meldingen m WHERE m.external_id LIKE 'WEEK-%' AND m.kind = 'melding'"
        " AND m.respond_before <= $1", clock.now())  # fmt: skip
    assert outcome
    for row in outcome:
        in_time = row["accepted_at"] is not None and row["accepted_at"] <= row["respond_before"]
        warned = row["escalated_at"] is not None and row["escalated_at"] < row["respond_before"]
        assert in_time or warned, dict(row)
    contacted = sum(r["contacted"] for r in outcome)
    escalated = sum(r["escalated_at"] is not None for r in outcome)
    assert contacted > len(outcome) / 2  # most households were reached
    assert 0 < escalated < len(outcome)  # the slow ones, and only those, were escalated
