"""No melding waits silently: once nobody is left to offer it to, it is escalated by name
with a deadline, and a new round starts when nobody acts; never queued on no queue."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import REGISTRY

from helpers import melding_body, migrated_database, own_runtime
from triage.app import create_app
from triage.auth.accounts import add_client, add_user
from triage.clock import FrozenClock
from triage.config import Settings
from triage.dispatch import views
from triage.dispatch.watchdog import Watchdog
from triage.dispatch.worker import Worker, worker_for
from triage.notify import events
from triage.observability import metrics
from triage.runtime import Runtime
from triage.vocabulary import Source, UserRole

AMS = ZoneInfo("Europe/Amsterdam")
GEBIED = "oost"
Client = TestClient[Any, Any]


def _next_night(after: datetime) -> datetime:
    """A Wednesday 03:00 in Amsterdam after ``after``: nobody of the gebieden is on duty,
    the regional backup has one person on call."""
    day = after.astimezone(AMS).date() + timedelta(days=1)
    while day.weekday() != 2:
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, 3, 0, tzinfo=AMS)


async def _next_event(stream: AsyncIterator[bytes], name: bytes) -> bytes:
    async for frame in stream:
        if frame.startswith(b"event: " + name + b"\n"):
            return frame
    raise AssertionError("the stream ended")


class Service:
    def __init__(self, client: Client, runtime: Runtime, clock: FrozenClock) -> None:
        self.client, self.runtime, self.clock = client, runtime, clock
        self.worker: Worker = worker_for(runtime)
        self.headers: dict[str, dict[str, str]] = {}

    async def drain(self) -> None:
        await self.runtime.enqueuer.flush()
        while await self.worker.round():
            pass

    async def assignments(self, melding_id: str) -> list[Any]:
        return list(await self.runtime.pool.fetch(
            "SELECT specialist, state, tier FROM assignments WHERE melding_id = $1"
            " ORDER BY offered_at, id", UUID(melding_id)))  # fmt: skip

    async def escalate_by_expiry(self, melding_id: str) -> timedelta:
        """Everyone it is offered to lets it expire (at night: the person on call, then
        the chain) until it is escalated for want of candidates; its level's answer time."""
        level = await self.runtime.pool.fetchval(
            "SELECT urgency_level FROM meldingen WHERE id = $1", UUID(melding_id)
        )
        answer_within = timedelta(minutes=self.runtime.network.answer_within_minutes[level])
        for _ in range(1 + len(self.runtime.network.chain(GEBIED))):
            await self.drain()
            self.clock.advance(answer_within + timedelta(seconds=1))
            await self.worker.expire_offers()
        await self.drain()
        assert await self.status(melding_id) == "escalated"
        return answer_within

    async def status(self, melding_id: str) -> str:
        found: str = await self.runtime.pool.fetchval(
            "SELECT status FROM meldingen WHERE id = $1", UUID(melding_id)
        )
        return found


@pytest.fixture
async def service(
    servers: dict[str, str], settings: Settings, redis_url: str
) -> AsyncIterator[Service]:
    """A database, a Redis prefix and a clock of its own: its worker's timers expire and
    lapse what they find, which must be this test's meldingen only."""
    from helpers import TEST_CLOCK

    clock = FrozenClock(_next_night(TEST_CLOCK.now()))
    async with (
        migrated_database(servers["admin_url"], "triage_silent") as database_url,
        own_runtime(settings, database_url, redis_url, "silent", clock) as runtime,
    ):
        app = create_app(runtime, background=False)
        app.cleanup_ctx.clear()  # own_runtime closes the runtime
        async with TestClient(TestServer(app)) as client:
            found = Service(client, runtime, clock)
            async with runtime.pool.acquire() as conn:
                token = (await add_client(conn, "silent-cit", Source.cit, clock.now())).token
                found.headers["cit"] = {"Authorization": f"Bearer {token}"}
                for name, role in (("co-oost", UserRole.coordinator), ("op", UserRole.operator)):
                    made = await add_user(conn, name, role, clock.now(), gebied=GEBIED
                                          if role is UserRole.coordinator else None)  # fmt: skip
                    found.headers[name] = {"Authorization": f"Bearer {made.token}"}
            yield found


async def test_when_everyone_passed_it_is_escalated_by_name_and_offered_again_later(
    service: Service,
) -> None:
    rt, clock = service.runtime, service.clock
    body = melding_body(source="cit", address={"woonplaats": "Moergestel"},
                        received_at=clock.now().isoformat())  # fmt: skip
    resp = await service.client.post("/api/v1/meldingen", json=body, headers=service.headers["op"])
    assert resp.status == 201, await resp.text()
    melding = await resp.json()
    assert melding["gebied"] == GEBIED
    level = melding["urgency"]["level"]
    answer_within = timedelta(minutes=rt.network.answer_within_minutes[level])
    chain = rt.network.chain(GEBIED)
    assert chain == ["co-oost", "co-regio", "mvd-regio"]
    streams = {person: events.stream(rt.events, person) for person in chain}
    for stream in streams.values():
        assert await anext(stream) == b": connected\n\n"

    # Each candidate lets the offer expire: the backup's person on call, then the chain.
    passed = []
    for _ in range(1 + len(chain)):
        await service.drain()
        [offered] = [a for a in await service.assignments(melding["melding_id"])
                     if a["state"] == "offered"]  # fmt: skip
        passed.append((offered["specialist"], offered["tier"]))
        async with rt.pool.acquire() as conn:  # what the gebied page lists as with the chain
            lying = await views.chain_offers(conn, rt.network, GEBIED, 10)
        assert [(str(o.melding_id), o.specialist, o.state) for o in lying] == (
            [(melding["melding_id"], offered["specialist"], "offered")]
            if offered["tier"] == "coordinator" else []
        )  # fmt: skip
        clock.advance(answer_within + timedelta(seconds=1))
        assert await service.worker.expire_offers() == 1
    assert [tier for _, tier in passed] == ["backup", "coordinator", "coordinator", "coordinator"]
    assert [who for who, _ in passed[1:]] == chain

    # Nobody left: escalated at once, by name, with a deadline; on no queue, not dropped.
    await service.drain()
    assert await service.status(melding["melding_id"]) == "escalated"
    assert await rt.redis.zscore(rt.keys.queue(GEBIED), melding["melding_id"]) is None
    replay = await service.client.post("/api/v1/meldingen", json=body,
                                       headers=service.headers["op"])  # fmt: skip
    assert replay.status == 200, await replay.text()  # the source sees it as it is now
    assert (await replay.json())["status"] == "escalated"
    for stream in streams.values():  # each heard of their own offer first, then this
        told = await asyncio.wait_for(_next_event(stream, b"escalation"), 5)
        assert b'"kind":"no_candidate"' in told
        await stream.aclose()
    listed = await (await service.client.get(
        "/api/v1/escalations", headers=service.headers["co-oost"])).json()  # fmt: skip
    [escalation] = [e for e in listed["escalations"] if e["kind"] == "no_candidate"]
    assert escalation["told"] == chain
    until = datetime.fromisoformat(escalation["until"])
    assert until == clock.now() + answer_within
    assert await rt.pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE melding_id = $1 AND action = 'melding.escalate'",
        UUID(melding["melding_id"]),
    ) == 1  # fmt: skip
    # Organisations hear it by webhook only where they have one: none here, so none queued.
    await service.drain()  # nothing happens before the deadline
    assert await service.status(melding["melding_id"]) == "escalated"
    assert await service.worker.lapse_escalations() == 0

    # Nobody acted before the deadline: a new round, in which the earlier passes are
    # forgotten; offered to the person on call again.
    clock.advance(answer_within)
    assert await service.worker.lapse_escalations() == 1
    await service.drain()
    offers = await service.assignments(melding["melding_id"])
    assert (offers[-1]["specialist"], offers[-1]["state"]) == (passed[0][0], "offered")
    assert await rt.pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE melding_id = $1 AND action = 'melding.new_round'",
        UUID(melding["melding_id"]),
    ) == 1  # fmt: skip


async def test_a_coordinator_gives_an_escalated_melding_to_someone(service: Service) -> None:
    rt, clock = service.runtime, service.clock
    melding_id = await _post(service)
    answer_within = await service.escalate_by_expiry(melding_id)
    given = await service.client.post(
        f"/api/v1/meldingen/{melding_id}/reassign",
        json={"to": "sp-oost-1", "reason": "Morgenochtend eerste werk."},
        headers=service.headers["co-oost"],
    )
    assert given.status == 200, await given.text()
    assert await service.status(melding_id) == "offered"
    assert await rt.pool.fetchval(
        "SELECT escalated_until FROM meldingen WHERE id = $1", UUID(melding_id)
    ) is None  # fmt: skip
    clock.advance(answer_within)  # the escalation's deadline is no longer running
    assert await service.worker.lapse_escalations() == 0


async def _post(service: Service) -> str:
    body = melding_body(source="cit", address={"woonplaats": "Moergestel"},
                        received_at=service.clock.now().isoformat())  # fmt: skip
    resp = await service.client.post("/api/v1/meldingen", json=body, headers=service.headers["op"])
    assert resp.status == 201, await resp.text()
    melding_id: str = (await resp.json())["melding_id"]
    await service.runtime.enqueuer.flush()
    return melding_id


def _repairs(kind: str) -> float:
    value: float = metrics.INVARIANT_REPAIRS.labels(kind)._value.get()
    return value


async def test_the_watchdog_puts_back_in_line_what_waits_silently(service: Service) -> None:
    rt, clock = service.runtime, service.clock
    watchdog = Watchdog(rt.pool, rt.redis, rt.keys, rt.after_commit, clock, interval=0)
    fine, lost, offered, assigned, escalated = [await _post(service) for _ in range(5)]
    # All in order: two passes repair nothing.
    assert await watchdog.check() == Counter()
    assert await watchdog.check() == Counter()

    # Broken by hand, each the way a fault would leave it.
    await rt.redis.zrem(rt.keys.queue(GEBIED), lost)  # an enqueue lost
    for melding_id, status in ((offered, "offered"), (assigned, "assigned")):
        await rt.redis.zrem(rt.keys.queue(GEBIED), melding_id)
        await rt.pool.execute("UPDATE meldingen SET status = $2 WHERE id = $1",
                              UUID(melding_id), status)  # fmt: skip
    await rt.redis.zrem(rt.keys.queue(GEBIED), escalated)
    await rt.pool.execute(
        "UPDATE meldingen SET status = 'escalated', escalated_until = $2 WHERE id = $1",
        UUID(escalated), clock.now() - timedelta(minutes=5),
    )  # fmt: skip
    kinds = ("not_queued", "offered_without_offer", "assigned_without_assignment",
             "escalation_lapsed")  # fmt: skip
    before = {k: _repairs(k) for k in kinds}
    first = await watchdog.check()
    assert first == Counter(offered_without_offer=1, assigned_without_assignment=1,
                            escalation_lapsed=1)  # fmt: skip
    # The lost enqueue is confirmed on the second pass (one on its way is no fault).
    assert await watchdog.check() == Counter(not_queued=1)
    assert await watchdog.check() == Counter()
    for kind, value in before.items():
        assert _repairs(kind) == value + 1, kind
    await rt.enqueuer.flush()  # the repairs' enqueues, handed to the after-commit stage
    for melding_id in (fine, lost, offered, assigned, escalated):
        assert await service.status(melding_id) == "queued"
        assert await rt.redis.zscore(rt.keys.queue(GEBIED), melding_id) is not None
    repairs = await rt.pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'melding.repair' AND actor_role = 'watchdog'"
    )
    assert repairs == 4  # each repair is audited, the lost enqueue's too

    # An offer that no timer expired: expired by the watchdog after the grace.
    await service.drain()
    [offer] = [a for a in await service.assignments(fine) if a["state"] == "offered"]
    level_minutes = max(rt.network.answer_within_minutes.values())
    clock.advance(timedelta(minutes=level_minutes) + watchdog.grace + timedelta(seconds=1))
    repaired = await watchdog.check()
    assert repaired is not None
    assert repaired["offer_overdue"] >= 1
    assert await service.status(fine) == "queued"
    assert offer["specialist"] in {a["specialist"] for a in await service.assignments(fine)
                                   if a["state"] == "expired"}  # fmt: skip
    audited = await rt.pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'melding.repair' AND melding_id = $1",
        UUID(fine),
    )  # fmt: skip
    assert audited == 1  # the repair of the overdue offer, as every other repair


async def test_every_kind_of_repair_is_counted_from_zero_and_each_pass_is_stamped(
    service: Service,
) -> None:
    """The alert on repairs takes the increase of the count: a kind's series that first
    appears at 1 is no increase, and the first repair of that kind would page nobody.
    The alerts on a watchdog or a timer that stopped read when each last passed."""
    rt, clock = service.runtime, service.clock
    metrics.INVARIANT_REPAIRS.clear()  # as in a process that has not made one yet
    watchdog = Watchdog(rt.pool, rt.redis, rt.keys, rt.after_commit, clock, interval=0)
    for kind in ("not_queued", "offered_without_offer", "assigned_without_assignment",
                 "escalation_lapsed", "offer_overdue"):  # fmt: skip
        assert REGISTRY.get_sample_value("triage_invariant_repairs_total", {"kind": kind}) == 0

    metrics.WATCHDOG_LAST_PASS.set(0)
    started = time.time()
    assert await watchdog.check() is not None
    assert metrics.WATCHDOG_LAST_PASS._value.get() >= started

    metrics.TIMER_LAST_PASS.clear()
    await service.worker.timers()
    for step in ("leases", "offers", "escalations", "deadlines", "milestones", "gauges"):
        passed = REGISTRY.get_sample_value("triage_timer_last_pass_timestamp_seconds",
                                           {"step": step})  # fmt: skip
        assert passed is not None, step
        assert passed >= started, step


async def test_one_watchdog_takes_each_pass_and_the_next_one_remembers(
    service: Service,
) -> None:
    """Each worker runs a watchdog; one of them takes each pass. What one pass finds on no
    queue is confirmed (and repaired) by the next, whichever process takes it; so is a
    lease long expired that nothing put back."""
    rt, clock = service.runtime, service.clock
    one, two = (Watchdog(rt.pool, rt.redis, rt.keys, rt.after_commit, clock) for _ in "12")
    passes = await asyncio.gather(one.check(), two.check())
    assert sorted(p is None for p in passes) == [False, True]  # one took it
    assert await one.check() is None  # not again within the interval
    lost, leased = await _post(service), await _post(service)
    await rt.redis.zrem(rt.keys.queue(GEBIED), lost, leased)
    # Leased by a worker that died: its lease expired long ago, nothing put it back.
    expired = (clock.now() - timedelta(minutes=5)).timestamp() * 1000
    await rt.redis.zadd(rt.keys.leases(GEBIED)[0], {leased: expired})
    clock.advance(timedelta(seconds=one.interval))
    assert await one.check() == Counter()  # on no queue: seen, not yet repaired
    clock.advance(timedelta(seconds=one.interval))
    assert await two.check() == Counter(not_queued=2)  # the other process confirms
    await rt.enqueuer.flush()
    for melding_id in (lost, leased):
        assert await rt.redis.zscore(rt.keys.queue(GEBIED), melding_id) is not None


async def _wait_for(condition: Any, seconds: float = 5.0) -> None:
    for _ in range(int(seconds * 20)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("not in time")


async def test_an_absence_withdraws_the_open_offers_and_stops_new_ones_at_once(
    service: Service,
) -> None:
    rt, clock = service.runtime, service.clock
    clock.advance(timedelta(hours=7))  # Wednesday 10:00: the gebied's network works
    follower = asyncio.create_task(service.worker.follow_rosters(rt.keys))
    try:
        first = await _post(service)
        await service.drain()
        [offer] = [a for a in await service.assignments(first) if a["state"] == "offered"]
        absent = offer["specialist"]
        assert offer["tier"] == "network"
        stream = events.stream(rt.events, absent)
        assert await anext(stream) == b": connected\n\n"
        await asyncio.sleep(0.2)  # the worker's listener has subscribed
        made = await service.client.post(
            f"/api/v1/gebieden/{GEBIED}/roster-changes",
            json={"kind": "absent", "specialist": absent,
                  "start": clock.now().isoformat(),
                  "end": (clock.now() + timedelta(hours=8)).isoformat(),
                  "reason": "Ziek naar huis."},
            headers=service.headers["co-oost"],
        )  # fmt: skip
        assert made.status == 201, await made.text()
        # At once, in the change's own transaction: the offer is withdrawn, the melding
        # queued for the next candidate, and the person told.
        assert [a["state"] for a in await service.assignments(first)] == ["withdrawn"]
        assert await service.status(first) == "queued"
        told = await asyncio.wait_for(_next_event(stream, b"offer_withdrawn"), 5)
        assert b"/api/v1/me/assignments" in told
        await stream.aclose()
        # The worker computes who is on duty again at once, not a minute later: the
        # melding and new ones go to others, in the same minute.
        await _wait_for(lambda: service.worker._duties is None)
        second = await _post(service)
        await service.drain()
        for melding_id in (first, second):
            offered = [a for a in await service.assignments(melding_id)
                       if a["state"] == "offered"]  # fmt: skip
            assert [a["specialist"] for a in offered] != [absent]
            assert len(offered) == 1
        assert await rt.pool.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'assignment.withdraw'"
            " AND melding_id = $1", UUID(first),
        ) == 1  # fmt: skip
    finally:
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower


async def test_an_offer_planned_before_an_absence_is_not_made_and_goes_to_another(
    service: Service,
) -> None:
    """A round reads who is on duty, then makes its offers: an absence recorded in
    between (its announcement to the workers lost) stops the offer in the database; the
    melding goes back on its queue and to someone else."""
    rt, clock = service.runtime, service.clock
    clock.advance(timedelta(hours=7))  # Wednesday 10:00
    probe = await _post(service)
    await service.drain()
    [first] = [a["specialist"] for a in await service.assignments(probe)]
    # Out of the way again (its load back to none): routing would choose them again.
    await rt.pool.execute("UPDATE assignments SET state = 'expired', answered_at = $2"
                          " WHERE melding_id = $1", UUID(probe), clock.now())  # fmt: skip
    await rt.pool.execute("UPDATE meldingen SET status = 'contacted' WHERE id = $1", UUID(probe))
    await service.worker.duties(clock.now())  # who is on duty, as the next round reads it
    await rt.pool.execute(
        "INSERT INTO roster_changes (kind, specialist, starts_at, ends_at, network, reason,"
        " created_by, created_at) VALUES ('absent', $1, $2, $3, $4, 'Ziek.', 'co-oost', $2)",
        first, clock.now() - timedelta(minutes=1), clock.now() + timedelta(hours=8), GEBIED,
    )  # fmt: skip
    melding = await _post(service)
    await service.drain()  # planned to them, not made: back on the queue
    assert await service.status(melding) == "queued"
    await service.drain()  # the next round reads who is on duty again
    offered = [a for a in await service.assignments(melding) if a["state"] == "offered"]
    assert len(offered) == 1
    assert offered[0]["specialist"] != first


async def test_an_escalated_melding_raised_to_crisis_gets_its_new_round_sooner(
    service: Service,
) -> None:
    rt, clock = service.runtime, service.clock
    melding_id = await _post(service)
    await service.escalate_by_expiry(melding_id)
    minutes = rt.network.answer_within_minutes
    raised = await service.client.post(
        f"/api/v1/meldingen/{melding_id}/urgency",
        json={"level": "crisis", "reason": "Belde terug: wapen in huis."},
        headers=service.headers["op"],
    )
    assert raised.status == 200, await raised.text()
    until = await rt.pool.fetchval("SELECT escalated_until FROM meldingen WHERE id = $1",
                                   UUID(melding_id))  # fmt: skip
    assert until == clock.now() + timedelta(minutes=minutes["crisis"])
    clock.advance(timedelta(minutes=minutes["crisis"]))
    assert await service.worker.lapse_escalations() == 1


async def test_a_melding_queued_again_between_two_passes_is_not_taken_for_lost(
    service: Service,
) -> None:
    """Two passes that each catch a melding between its queueing in PostgreSQL and on
    Redis (a busy moment, twice) are two spells, not one melding waiting: no repair."""
    rt, clock = service.runtime, service.clock
    watchdog = Watchdog(rt.pool, rt.redis, rt.keys, rt.after_commit, clock, interval=0)
    melding_id = await _post(service)
    await rt.redis.zrem(rt.keys.queue(GEBIED), melding_id)
    assert await watchdog.check() == Counter()  # seen on no queue
    # Offered, declined and queued again meanwhile: a new spell (a new row version).
    await rt.pool.execute("UPDATE meldingen SET status = 'queued' WHERE id = $1",
                          UUID(melding_id))  # fmt: skip
    assert await watchdog.check() == Counter()  # not the same spell: seen again, no repair
    assert await watchdog.check() == Counter(not_queued=1)  # this spell, twice: repaired


async def test_an_escalation_names_those_of_the_chain_who_are_not_absent(
    service: Service,
) -> None:
    rt, clock = service.runtime, service.clock
    await rt.pool.execute(
        "INSERT INTO roster_changes (kind, specialist, starts_at, ends_at, network, reason,"
        " created_by, created_at) VALUES ('absent', 'co-oost', $1, $2, $3, 'Verlof.',"
        " 'co-oost', $1)", clock.now() - timedelta(hours=1), clock.now() + timedelta(days=2),
        GEBIED,
    )  # fmt: skip
    melding_id = await _post(service)
    await service.escalate_by_expiry(melding_id)
    told = await rt.pool.fetchval(
        "SELECT told FROM escalations WHERE melding_id = $1 AND kind = 'no_candidate'",
        UUID(melding_id),
    )
    assert told == ["co-regio", "mvd-regio"]  # the gebied's coordinator is absent
    offered_to = {a["specialist"] for a in await service.assignments(melding_id)}
    assert "co-oost" not in offered_to


async def test_a_melding_closed_by_hand_waits_nowhere_and_its_holder_is_told(
    service: Service,
) -> None:
    """Closed before first contact (queued, offered or escalated): off the queue, its
    offer ended, its holder told, no deadline or escalation running, out of the
    werkvoorraad; the watchdog finds nothing to repair; closed once."""
    rt, clock = service.runtime, service.clock
    watchdog = Watchdog(rt.pool, rt.redis, rt.keys, rt.after_commit, clock, interval=0)
    queued, offered = await _post(service), await _post(service)
    await service.drain()  # both offered: one taken back to the queue below
    [holder] = [a["specialist"] for a in await service.assignments(offered)]
    close = {"outcome": "dubbel", "reason": "Zelfde voorval als de melding van 14:02."}

    stream = events.stream(rt.events, holder)
    assert await anext(stream) == b": connected\n\n"
    await asyncio.sleep(0.2)  # subscribed
    closed = await service.client.post(f"/api/v1/meldingen/{offered}/close", json=close,
                                       headers=service.headers["op"])  # fmt: skip
    assert closed.status == 200, await closed.text()
    answer = await closed.json()
    assert (answer["status"], answer["outcome"], answer["ended_for"]) == (
        "closed",
        "dubbel",
        holder,
    )
    told = await asyncio.wait_for(_next_event(stream, b"offer_withdrawn"), 5)
    assert offered.encode() in told
    await stream.aclose()
    assert [a["state"] for a in await service.assignments(offered)] == ["withdrawn"]

    # One waiting on the queue again, then closed there.
    await rt.pool.execute("UPDATE assignments SET state = 'expired', answered_at = $2"
                          " WHERE melding_id = $1", UUID(queued), clock.now())  # fmt: skip
    await rt.pool.execute("UPDATE meldingen SET status = 'queued' WHERE id = $1", UUID(queued))
    await rt.redis.zadd(rt.keys.queue(GEBIED), {queued: 1.0})
    closed = await service.client.post(f"/api/v1/meldingen/{queued}/close",
                                       json={**close, "outcome": "geen_vervolg"},
                                       headers=service.headers["co-oost"])  # fmt: skip
    assert closed.status == 200, await closed.text()
    await rt.enqueuer.flush()
    assert await rt.redis.zscore(rt.keys.queue(GEBIED), queued) is None

    again = await service.client.post(f"/api/v1/meldingen/{queued}/close", json=close,
                                      headers=service.headers["op"])  # fmt: skip
    assert again.status == 409
    for melding_id in (queued, offered):
        assert await service.status(melding_id) == "closed"
    assert await watchdog.check() == Counter()
    await service.drain()
    assert [a["state"] for a in await service.assignments(offered)] == ["withdrawn"]
    clock.advance(timedelta(days=4))  # every deadline past: nothing waits to breach
    assert await watchdog.check() == Counter()
    listed = await service.client.get("/api/v1/meldingen", headers=service.headers["op"])
    ids = {r["melding_id"] for r in (await listed.json())["meldingen"]}
    assert not ids & {queued, offered}
    read = await service.client.get(f"/api/v1/meldingen/{queued}", headers=service.headers["op"])
    body = await read.json()
    assert (body["status"], body["close_outcome"], body["closed_by"]) == (
        "closed",
        "geen_vervolg",
        "co-oost",
    )
    trail = await rt.pool.fetch(
        "SELECT action FROM audit_log WHERE melding_id = $1 ORDER BY id", UUID(offered)
    )
    assert [r["action"] for r in trail][-2:] == ["melding.close", "assignment.close"]
