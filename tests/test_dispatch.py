"""Dispatch against the real PostgreSQL and Redis: claim with a lease, offer to someone on
duty, accept or decline, expire, first contact; a worker dying mid-claim and a Redis
flush lose nothing and offer nothing twice."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient
from prometheus_client import REGISTRY

from helpers import TEST_CLOCK, Tokens, melding_body, next_event
from triage.auth.accounts import add_user
from triage.cases.milestones import count_overdue, escalate_overdue, overdue_in_scope
from triage.clock import FrozenClock
from triage.dispatch import offer as offer_module
from triage.dispatch.deadlines import escalate
from triage.dispatch.offer import offer
from triage.dispatch.worker import Worker
from triage.effects import AfterCommit
from triage.notify.events import Publisher
from triage.observability import metrics
from triage.queue.claim import Claimer
from triage.queue.keys import forget
from triage.queue.reconcile import reconcile_queues
from triage.routing.roster import on_duty
from triage.runtime import Runtime
from triage.vocabulary import Source, UserRole

Client = TestClient[Any, Any]
GEBIED = "oost"  # other test modules queue little here
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Europe/Amsterdam"))


@pytest.fixture(scope="module")
async def staff(runtime: Runtime) -> dict[str, str]:
    """Tokens of the people in the gebied's network and the backup, by specialist id."""
    tokens = {}
    network = runtime.network.networks[GEBIED]
    backup = runtime.network.backup
    async with runtime.pool.acquire() as conn:
        for sid, role, gebied in (
            [(m, UserRole.specialist, GEBIED) for m in network.members]
            + [(c, UserRole.coordinator, GEBIED) for c in network.coordinators]
            + [(m, UserRole.specialist, "regio") for m in backup.members]
        ):
            issued = await add_user(conn, sid, role, TEST_CLOCK.now(), gebied=gebied)
            tokens[sid] = issued.token
    return tokens


def _worker(runtime: Runtime, clock: FrozenClock, lease_seconds: float = 30) -> Worker:
    return Worker(
        runtime.pool,
        Claimer(runtime.redis, runtime.keys, lease_seconds),
        runtime.after_commit,
        config=runtime.network,
        clock=clock,
        gebieden=[GEBIED],
        redis=runtime.redis,
    )


async def _drain(runtime: Runtime, worker: Worker) -> None:
    """Offer everything queued in the gebied (after the intake's enqueues went out)."""
    await runtime.enqueuer.flush()
    while await worker.round():
        pass


async def _post(client: Client, tokens: Tokens, **overrides: Any) -> dict[str, Any]:
    body = melding_body(source="cit", address={"woonplaats": "Moergestel"}, **overrides)
    resp = await client.post("/api/v1/meldingen", json=body, headers=tokens.user("operator"))
    assert resp.status == 201, await resp.text()
    data: dict[str, Any] = await resp.json()
    assert data["gebied"] == GEBIED
    return data


async def _assignments(runtime: Runtime, melding_id: str) -> list[Any]:
    return list(await runtime.pool.fetch(
        "SELECT id, specialist, state, tier, reasons FROM assignments WHERE melding_id = $1"
        " ORDER BY offered_at, id", UUID(melding_id)))  # fmt: skip


async def _status(runtime: Runtime, melding_id: str) -> str:
    status: str = await runtime.pool.fetchval(
        "SELECT status FROM meldingen WHERE id = $1", UUID(melding_id)
    )
    return status


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_offered_to_someone_on_duty_accepted_then_first_contact(
    client: Client, tokens: Tokens, runtime: Runtime, staff: dict[str, str]
) -> None:
    clock = FrozenClock(MONDAY_10)
    melding = await _post(client, tokens, signals=["geweld_nu", "kinderen_aanwezig"])
    await _drain(runtime, _worker(runtime, clock))
    [offered] = await _assignments(runtime, melding["melding_id"])
    on_duty_here = {d.specialist for d in on_duty(runtime.network, MONDAY_10)
                    if d.gebied == GEBIED}  # fmt: skip
    assert offered["specialist"] in on_duty_here
    assert "huiselijk_geweld" in runtime.network.by_id[offered["specialist"]].expertise
    assert (offered["state"], offered["tier"]) == ("offered", "network")
    assert "heeft dienst" in offered["reasons"][0]
    assert await _status(runtime, melding["melding_id"]) == "offered"
    assert await runtime.redis.zscore(runtime.keys.queue(GEBIED), melding["melding_id"]) is None
    # The decision and its reasons are visible to the desk.
    read = await client.get(f"/api/v1/meldingen/{melding['melding_id']}",
                            headers=tokens.user("operator"))  # fmt: skip
    assert read.status == 200, await read.text()
    seen = await read.json()
    assert seen["status"] == "offered"
    [decision] = seen["offers"]
    assert (decision["specialist"], decision["tier"]) == (offered["specialist"], "network")
    assert decision["reasons"] == offered["reasons"]

    me = _auth(staff[offered["specialist"]])
    mine = await (await client.get("/api/v1/me/assignments", headers=me)).json()
    assert str(offered["id"]) in [a["assignment_id"] for a in mine["assignments"]]
    someone_else = next(s for s in staff if s != offered["specialist"])
    url = f"/api/v1/assignments/{offered['id']}"
    assert (await client.post(f"{url}/accept", headers=_auth(staff[someone_else]))).status == 404
    assert (await client.post(f"{url}/accept", headers=tokens.user("operator"))).status == 403
    waits = ("triage_time_to_offer_seconds_count", "triage_time_to_accept_seconds_count")
    level = {"level": melding["urgency"]["level"]}
    offers_timed = REGISTRY.get_sample_value(waits[0], level)
    assert offers_timed is not None
    assert offers_timed >= 1
    accepts_before = REGISTRY.get_sample_value(waits[1], level) or 0
    accepted = await client.post(f"{url}/accept", headers=me)
    assert accepted.status == 200, await accepted.text()
    assert REGISTRY.get_sample_value(waits[1], level) == accepts_before + 1
    assert (await client.post(f"{url}/accept", headers=me)).status == 409
    assert await _status(runtime, melding["melding_id"]) == "assigned"
    lead = await runtime.pool.fetchval(
        "SELECT lead FROM cases WHERE id = $1", UUID(melding["case_id"])
    )
    assert lead == offered["specialist"]  # casusregie

    contact = f"/api/v1/meldingen/{melding['melding_id']}/first-contact"
    not_theirs = await client.post(contact, headers=_auth(staff[someone_else]))
    assert not_theirs.status == 409
    assert (await not_theirs.json())["detail"] == (
        "first contact is recorded by the specialist who accepted the melding"
    )
    received = await runtime.pool.fetchval(
        "SELECT received_at FROM meldingen WHERE id = $1", UUID(melding["melding_id"])
    )
    for bad, status in (({"at": 1764000000}, 422), ({"channel": "duif"}, 422),
                        ({"at": (TEST_CLOCK.now() + timedelta(hours=1)).isoformat()}, 422),
                        ({"at": (received - timedelta(minutes=1)).isoformat()}, 422)):  # fmt: skip
        refused = await client.post(contact, json=bad, headers=me)
        assert refused.status == status, (bad, await refused.text())
    at = received + timedelta(minutes=3)
    done = await client.post(contact, headers=me, json={
        "at": at.isoformat(), "channel": "huisbezoek", "note": "Moeder en kinderen thuis.",
    })  # fmt: skip
    assert done.status == 200, await done.text()
    assert (await done.json())["channel"] == "huisbezoek"
    twice = await client.post(contact, headers=me)
    assert twice.status == 409
    assert (await twice.json())[
        "detail"
    ] == "first contact was recorded already; it is recorded once"
    assert await _status(runtime, melding["melding_id"]) == "contacted"
    stored = await runtime.pool.fetchrow(
        "SELECT first_contact_at, first_contact_channel, first_contact_note FROM meldingen "
        "WHERE id = $1", UUID(melding["melding_id"]),
    )  # fmt: skip
    assert tuple(stored) == (at, "huisbezoek", "Moeder en kinderen thuis.")
    plan = await runtime.pool.fetchval(
        "SELECT due_at FROM case_milestones WHERE case_id = $1 AND kind = 'plan'",
        UUID(melding["case_id"]),
    )
    assert plan == at + timedelta(days=7)  # the trajectory runs from the contact itself
    audited = await runtime.pool.fetchval(
        "SELECT array_agg(action ORDER BY id) FROM audit_log WHERE melding_id = $1"
        " AND action <> 'melding.read'",
        UUID(melding["melding_id"]),
    )
    assert audited[-3:] == ["melding.offer", "assignment.accept", "melding.first_contact"]


async def test_a_decline_and_an_unanswered_offer_go_to_the_next(
    client: Client, tokens: Tokens, runtime: Runtime, staff: dict[str, str]
) -> None:
    clock = FrozenClock(MONDAY_10)
    worker = _worker(runtime, clock)
    melding = await _post(client, tokens, category="verward_gedrag", signals=["psychose"])
    await _drain(runtime, worker)
    [first] = await _assignments(runtime, melding["melding_id"])
    url = f"/api/v1/assignments/{first['id']}/decline"
    me = _auth(staff[first["specialist"]])
    assert (await client.post(url, json={"reason": "nee"}, headers=me)).status == 422
    declined = await client.post(url, json={"reason": "Ik zit vol deze week."}, headers=me)
    assert declined.status == 200, await declined.text()
    assert await _status(runtime, melding["melding_id"]) == "queued"

    await _drain(runtime, worker)
    second = (await _assignments(runtime, melding["melding_id"]))[-1]
    assert second["specialist"] != first["specialist"]
    assert second["state"] == "offered"
    # Nobody answers: after the level's answer time it goes to the next again, and the
    # one it was offered to is told (an open "Mijn werk" no longer offers it to accept).
    assert await worker.expire_offers() == 0
    stream = await client.get("/api/v1/me/events", headers=_auth(staff[second["specialist"]]))
    assert (await stream.content.readline()).startswith(b": connected")
    clock.advance(timedelta(hours=5))
    assert await worker.expire_offers() >= 1
    event, data = await next_event(stream)
    while event != "offer_withdrawn":
        event, data = await next_event(stream)
    assert str(second["id"]) in data["assignment_ids"]
    assert data["expired"] is True
    assert data["why"] == "expired"
    stream.close()
    await _drain(runtime, worker)
    history = await _assignments(runtime, melding["melding_id"])
    assert [a["state"] for a in history] == ["declined", "expired", "offered"]
    assert len({a["specialist"] for a in history}) == 3


async def test_a_worker_dying_mid_claim_loses_nothing_and_offers_nothing_twice(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    clock = FrozenClock(MONDAY_10)
    melding = await _post(client, tokens, signals=["levensgevaar"])  # crisis: first in line
    await runtime.enqueuer.flush()
    dying = Claimer(runtime.redis, runtime.keys, lease_seconds=30)
    [claim] = await dying.claim([GEBIED], clock.now())
    assert str(claim.melding_id) == melding["melding_id"]
    # ... and the worker dies here: no offer, no release.
    worker = _worker(runtime, clock)
    await _drain(runtime, worker)
    assert await _assignments(runtime, melding["melding_id"]) == []  # still leased
    assert await worker.requeue_expired_leases() == 0  # not yet
    clock.advance(timedelta(seconds=31))
    assert await worker.requeue_expired_leases() == 1  # the lease expired: back on the queue
    await _drain(runtime, worker)
    [only] = await _assignments(runtime, melding["melding_id"])
    assert only["state"] == "offered"
    leases, leased = runtime.keys.leases(GEBIED)
    assert await runtime.redis.zscore(leases, melding["melding_id"]) is None
    assert not await runtime.redis.hexists(leased, melding["melding_id"])


async def test_a_melding_closed_while_a_worker_holds_its_lease_does_not_come_back(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    """Closed (or moved, or offered by hand) while a worker that then died held its lease:
    the lease ends with the withdrawal, so it does not expire into the queue again, where
    a closed melding would wait for nobody (found by the dispatch model)."""
    clock = FrozenClock(MONDAY_10)
    melding = await _post(client, tokens, signals=["levensgevaar"])
    await runtime.enqueuer.flush()
    dying = Claimer(runtime.redis, runtime.keys, lease_seconds=30)
    [claim] = await dying.claim([GEBIED], clock.now())
    assert str(claim.melding_id) == melding["melding_id"]
    closed = await client.post(f"/api/v1/meldingen/{melding['melding_id']}/close",
                               json={"outcome": "dubbel", "reason": "Dezelfde melding twee keer."},
                               headers=tokens.user("operator"))  # fmt: skip
    assert closed.status == 200, await closed.text()
    clock.advance(timedelta(seconds=31))
    assert await _worker(runtime, clock).requeue_expired_leases() == 0
    assert await runtime.redis.zscore(runtime.keys.queue(GEBIED), melding["melding_id"]) is None
    # Nor does its urgency change afterwards (the desk saw "done" for a closed melding).
    raised = await client.post(f"/api/v1/meldingen/{melding['melding_id']}/urgency",
                               json={"level": "regulier", "reason": "Toch minder ernstig."},
                               headers=tokens.user("operator"))  # fmt: skip
    assert raised.status == 409, await raised.text()


async def test_two_offers_of_one_melding_at_once_make_one_assignment(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    melding = await _post(client, tokens)
    duties = on_duty(runtime.network, MONDAY_10)
    ids = [(GEBIED, UUID(melding["melding_id"]))]
    results = await asyncio.gather(*(offer(runtime.pool, runtime.network, ids, MONDAY_10,
                                           duties) for _ in range(2)))  # fmt: skip
    assert sum(len(done.offered) for done in results) == 1
    assert len(await _assignments(runtime, melding["melding_id"])) == 1


async def test_a_round_is_offered_in_one_statement_and_one_broken_offer_holds_up_no_other(
    client: Client, tokens: Tokens, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The offers made one statement each (the way round a failed round statement) are
    # counted by wrapping the real function.
    single: list[UUID] = []
    make_one = offer_module._make

    async def counted(*args: Any) -> Any:
        single.append(args[2]["id"])
        return await make_one(*args)

    monkeypatch.setattr(offer_module, "_make", counted)
    duties = on_duty(runtime.network, MONDAY_10)
    posted = [await _post(client, tokens) for _ in range(4)]
    await runtime.enqueuer.flush()
    for melding in posted:  # offered here by hand, not from the queue
        await runtime.redis.zrem(runtime.keys.queue(GEBIED), melding["melding_id"])
    gone = posted[3]["melding_id"]  # taken up by hand meanwhile: not offered again
    await runtime.pool.execute("UPDATE meldingen SET status = 'contacted' WHERE id = $1",
                               UUID(gone))  # fmt: skip
    claims = [(GEBIED, UUID(m["melding_id"])) for m in posted[:2]] + [(GEBIED, UUID(gone))]
    done = await offer(runtime.pool, runtime.network, claims, MONDAY_10, duties)
    assert {m.melding_id for m in done.offered} == {c[1] for c in claims[:2]}
    assert not done.failed
    assert single == []  # one statement did it
    for melding in posted[:2]:
        [one] = await _assignments(runtime, melding["melding_id"])
        assert one["state"] == "offered"
        assert await _status(runtime, melding["melding_id"]) == "offered"
        assert await runtime.pool.fetchval(
            "SELECT count(*) FROM audit_log WHERE melding_id = $1 AND action = 'melding.offer'",
            UUID(melding["melding_id"]),
        ) == 1  # fmt: skip
    assert await _assignments(runtime, gone) == []

    # A queued melding that already has an active offer (state that should not exist)
    # fails the round's statement: each is then offered on its own, the rest still made.
    broken = UUID(posted[2]["melding_id"])
    await runtime.pool.execute(
        "INSERT INTO assignments (id, melding_id, case_id, specialist, gebied, tier, reasons,"
        " network_version, state, offered_at, answer_before)"
        " SELECT gen_random_uuid(), id, case_id, 'x', gebied, 'operator', '[]', 'v', 'offered',"
        " $2, $2::timestamptz + interval '1 day' FROM meldingen WHERE id = $1", broken, MONDAY_10,
    )  # fmt: skip
    again = [await _post(client, tokens) for _ in range(2)]
    await runtime.enqueuer.flush()
    for melding in again:
        await runtime.redis.zrem(runtime.keys.queue(GEBIED), melding["melding_id"])
    try:
        done = await offer(
            runtime.pool, runtime.network,
            [(GEBIED, broken)] + [(GEBIED, UUID(m["melding_id"])) for m in again],
            MONDAY_10, duties,
        )  # fmt: skip
        assert len(single) == 3  # each on its own after the round's statement failed
        assert {m.melding_id for m in done.offered} == {UUID(m["melding_id"]) for m in again}
        assert await _status(runtime, str(broken)) == "queued"
    finally:  # leave the shared database consistent for the other tests
        await runtime.pool.execute("UPDATE meldingen SET status = 'offered' WHERE id = $1",
                                   broken)  # fmt: skip


async def test_after_a_redis_flush_every_queued_melding_is_offered_once(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    clock = FrozenClock(MONDAY_10)
    posted = [await _post(client, tokens) for _ in range(6)]
    await runtime.enqueuer.flush()
    await forget(runtime.redis, runtime.keys)  # Redis lost everything this service kept
    await runtime.redis.script_flush()
    await reconcile_queues(runtime.pool, runtime.redis, runtime.keys)
    worker = _worker(runtime, clock)
    await _drain(runtime, worker)
    await reconcile_queues(
        runtime.pool, runtime.redis, runtime.keys
    )  # a second pass changes nothing
    await _drain(runtime, worker)
    for melding in posted:
        active = [a for a in await _assignments(runtime, melding["melding_id"])
                  if a["state"] in ("offered", "accepted")]  # fmt: skip
        assert len(active) == 1


async def test_at_risk_then_breached_each_escalated_once(
    client: Client, tokens: Tokens, runtime: Runtime, staff: dict[str, str]
) -> None:
    melding = await _post(client, tokens)  # acuut: a 24-hour window
    received = datetime.fromisoformat(
        (await runtime.pool.fetchval(
            "SELECT received_at FROM meldingen WHERE id = $1", UUID(melding["melding_id"])
        )).isoformat()
    )  # fmt: skip
    contacted = await _post(client, tokens)
    # Taken up by hand here (the dispatch path is tested above): off the queue, contacted.
    await runtime.enqueuer.flush()
    await runtime.redis.zrem(runtime.keys.queue(GEBIED), contacted["melding_id"])
    await runtime.pool.execute(
        "UPDATE meldingen SET status = 'contacted' WHERE id = $1", UUID(contacted["melding_id"])
    )

    async def kinds(melding_id: str) -> list[str]:
        rows = await runtime.pool.fetch(
            "SELECT kind FROM escalations WHERE melding_id = $1 ORDER BY id", UUID(melding_id)
        )
        return [r["kind"] for r in rows]

    def escalate_at(hours: float) -> Any:
        return escalate(runtime.pool, runtime.network, received + timedelta(hours=hours),
                        timedelta(hours=72))  # fmt: skip

    await escalate_at(17)  # 71% of the window: not yet
    assert await kinds(melding["melding_id"]) == []
    await asyncio.gather(escalate_at(18.5), escalate_at(18.5))  # two instances at once
    assert await kinds(melding["melding_id"]) == ["at_risk"]
    await escalate_at(25)
    await escalate_at(26)
    assert await kinds(melding["melding_id"]) == ["at_risk", "breached"]
    assert await kinds(contacted["melding_id"]) == []  # first contact made: nothing to say

    seen = await (await client.get("/api/v1/escalations?limit=500",
                                   headers=_auth(staff["co-oost"]))).json()  # fmt: skip
    mine = [e for e in seen["escalations"] if e["melding_id"] == melding["melding_id"]]
    assert {e["kind"] for e in mine} == {"at_risk", "breached"}
    assert {e["coordinator"] for e in mine} == {"co-oost"}
    elsewhere = await (
        await client.get(
            "/api/v1/escalations?limit=500", headers=tokens.user("coordinator-tilburg")
        )
    ).json()
    assert melding["melding_id"] not in {e["melding_id"] for e in elsewhere["escalations"]}


async def test_on_duty_and_queue_views_are_scoped(
    client: Client, tokens: Tokens, runtime: Runtime, staff: dict[str, str]
) -> None:
    duty = await client.get(f"/api/v1/gebieden/{GEBIED}/on-duty", headers=tokens.user("operator"))
    assert duty.status == 200
    body = await duty.json()
    assert [c["id"] for c in body["coordinators"]] == ["co-oost"]
    now = datetime.fromisoformat(body["at"])
    expected = {d.specialist for d in on_duty(runtime.network, now) if d.gebied == GEBIED}
    assert {p["id"] for p in body["on_duty"]} == expected
    assert (
        await client.get(
            f"/api/v1/gebieden/{GEBIED}/on-duty", headers=tokens.user("specialist-zuid")
        )
    ).status == 403
    assert (
        await client.get("/api/v1/gebieden/nergens/on-duty", headers=tokens.user("operator"))
    ).status == 404
    assert (
        await client.get(f"/api/v1/gebieden/{GEBIED}/queue", headers=tokens.client(Source.politie))
    ).status == 403

    waiting = await _post(client, tokens, signals=["levensgevaar"])
    await runtime.enqueuer.flush()
    queue = await (await client.get(f"/api/v1/gebieden/{GEBIED}/queue",
                                    headers=_auth(staff["co-oost"]))).json()  # fmt: skip
    ours = next(m for m in queue["meldingen"] if m["melding_id"] == waiting["melding_id"])
    assert (ours["status"], ours["level"], ours["offered_to"]) == ("queued", "crisis", None)
    ranks = ["crisis", "acuut", "hoog", "regulier"]
    levels = [ranks.index(m["level"]) for m in queue["meldingen"]]
    assert levels == sorted(levels)  # dispatch order: crisis first


async def test_first_contact_starts_the_case_milestones(
    client: Client, tokens: Tokens, runtime: Runtime, staff: dict[str, str]
) -> None:
    clock = FrozenClock(MONDAY_10)
    melding = await _post(client, tokens)
    await _drain(runtime, _worker(runtime, clock))
    [offered] = await _assignments(runtime, melding["melding_id"])
    lead = _auth(staff[offered["specialist"]])
    assert (await client.post(f"/api/v1/assignments/{offered['id']}/accept",
                              headers=lead)).status == 200  # fmt: skip
    in_time = {"gebied": GEBIED, "level": melding["urgency"]["level"], "in_time": "true"}
    contacts_before = REGISTRY.get_sample_value("triage_first_contacts_total", in_time) or 0
    contact = await client.post(f"/api/v1/meldingen/{melding['melding_id']}/first-contact",
                                headers=lead)  # fmt: skip
    contacted_at = datetime.fromisoformat((await contact.json())["first_contact_at"])
    assert REGISTRY.get_sample_value("triage_first_contacts_total", in_time) == (
        contacts_before + 1
    )
    case = await (await client.get(f"/api/v1/cases/{melding['case_id']}",
                                   headers=tokens.user("operator"))).json()  # fmt: skip
    due = {m["kind"]: datetime.fromisoformat(m["due_at"]) - contacted_at
           for m in case["milestones"]}  # fmt: skip
    assert due == {
        "plan": timedelta(days=7),
        "outreach": timedelta(days=30),
        "handover": timedelta(days=100),
        "evaluation": timedelta(days=180),
    }
    assert not any(m["overdue"] or m["done_at"] for m in case["milestones"])

    url = f"/api/v1/cases/{melding['case_id']}/milestones/plan/done"
    other = next(s for s in staff if s.startswith("sp-") and s != offered["specialist"])
    assert (await client.post(url, json={}, headers=_auth(staff[other]))).status == 409
    assert (await client.post(url, json={}, headers=tokens.user("operator"))).status == 403
    plans = {"kind": "plan", "in_time": "true"}
    plans_before = REGISTRY.get_sample_value("triage_case_milestones_done_total", plans) or 0
    done = await client.post(url, json={"note": "Plan met het gezin gemaakt."}, headers=lead)
    assert done.status == 200, await done.text()
    assert REGISTRY.get_sample_value("triage_case_milestones_done_total", plans) == (
        plans_before + 1
    )
    answer = await done.json()
    assert answer["done_at"] is not None
    # The answer shows who did it and the note, as stored and as a read shows them.
    assert answer["done_by"] == offered["specialist"]
    assert answer["note"] == "Plan met het gezin gemaakt."
    assert (await client.post(url, json={}, headers=lead)).status == 409  # once
    assert (await client.post(f"/api/v1/cases/{melding['case_id']}/milestones/feest/done",
                              json={}, headers=lead)).status == 404  # fmt: skip
    # Thirty-one days on, outreach is overdue for this case (and counted in Prometheus).
    counts = await count_overdue(runtime.pool, contacted_at + timedelta(days=31))
    assert counts["outreach"] >= 1
    overdue = await runtime.pool.fetchval(
        "SELECT count(*) FROM case_milestones WHERE case_id = $1 AND done_at IS NULL"
        " AND due_at < $2",
        UUID(melding["case_id"]),
        contacted_at + timedelta(days=31),
    )
    assert overdue == 1  # outreach; the plan was done

    # Escalated once, by two timer loops at once: the coordinator sees it.
    later = contacted_at + timedelta(days=31)
    await asyncio.gather(*(escalate_overdue(runtime.pool, runtime.network, later)
                           for _ in range(2)))  # fmt: skip
    escalated = await runtime.pool.fetch(
        "SELECT kind, escalated_at FROM case_milestones WHERE case_id = $1"
        " AND escalated_at IS NOT NULL", UUID(melding["case_id"]),
    )  # fmt: skip
    assert [(r["kind"], r["escalated_at"]) for r in escalated] == [("outreach", later)]
    assert (await escalate_overdue(runtime.pool, runtime.network, later)).answer == 0
    async with runtime.pool.acquire() as conn:  # what the coordinators' views list then
        seen = await overdue_in_scope(conn, False, GEBIED, later, 500)
        elsewhere = await overdue_in_scope(conn, False, "zuid", later, 500)
    mine = [m for m in seen if str(m.case_id) == melding["case_id"]]
    assert [(m.kind, m.lead) for m in mine] == [("outreach", offered["specialist"])]
    assert all(m.gebied == "zuid" for m in elsewhere)


async def test_the_lead_hears_when_a_coordinator_proposes_to_hand_their_case_over(
    client: Client, tokens: Tokens, runtime: Runtime, staff: dict[str, str]
) -> None:
    """A coordinator proposes a lead's case to a colleague: both hear of it at once, the
    lead as the one whose case is to go (until the colleague takes it, it stays theirs)."""
    melding = await _post(client, tokens)
    await _drain(runtime, _worker(runtime, FrozenClock(MONDAY_10)))
    lead_id, colleague = [s for s in staff if s.startswith("sp-")][:2]
    given = await client.post(f"/api/v1/meldingen/{melding['melding_id']}/reassign",
                              json={"to": lead_id, "reason": "Kent het gezin al."},
                              headers=tokens.user("operator"))  # fmt: skip
    assert given.status == 200, await given.text()
    offered = next(a for a in await _assignments(runtime, melding["melding_id"])
                   if a["specialist"] == lead_id and a["state"] == "offered")  # fmt: skip
    assert (await client.post(f"/api/v1/assignments/{offered['id']}/accept",
                              headers=_auth(staff[lead_id]))).status == 200  # fmt: skip
    streams = {}
    for who in (lead_id, colleague):
        streams[who] = await client.get("/api/v1/me/events", headers=_auth(staff[who]))
        assert (await streams[who].content.readline()).startswith(b": connected")
    proposed = await client.post(f"/api/v1/cases/{melding['case_id']}/handover",
                                 json={"to": colleague, "reason": "Regie loopt vast; verlof."},
                                 headers=_auth(staff[f"co-{GEBIED}"]))  # fmt: skip
    assert proposed.status == 200, await proposed.text()
    for who, role in ((lead_id, "lead"), (colleague, "to")):
        event, data = await next_event(streams[who])
        while event != "handover_proposed":
            event, data = await next_event(streams[who])
        assert (data["case_id"], data["as"]) == (melding["case_id"], role)
    streams[colleague].close()

    # The colleague will not take it: the proposal ends, the lead stays and hears it, and
    # the case can be proposed to someone else. Nobody else ends it.
    case_url = f"/api/v1/cases/{melding['case_id']}/handover"
    bystander = next(s for s in staff if s.startswith("sp-") and s not in (lead_id, colleague))
    decline = {"reason": "Mijn caseload is vol deze maand."}
    assert (await client.post(f"{case_url}/withdraw", json=decline,
                              headers=_auth(staff[bystander]))).status == 409  # fmt: skip
    ended = await client.post(f"{case_url}/withdraw", json=decline,
                              headers=_auth(staff[colleague]))  # fmt: skip
    assert ended.status == 200, await ended.text()
    event, data = await next_event(streams[lead_id])
    while event != "handover_withdrawn":
        event, data = await next_event(streams[lead_id])
    assert (data["case_id"], data["by"]) == (melding["case_id"], colleague)
    streams[lead_id].close()
    case = await (await client.get(f"/api/v1/cases/{melding['case_id']}",
                                   headers=tokens.user("operator"))).json()  # fmt: skip
    assert case["lead"] == lead_id
    assert (await client.post(f"{case_url}/accept", headers=_auth(staff[colleague]))).status == 409
    again = await client.post(case_url, json={"to": bystander, "reason": "Dan zij, graag."},
                              headers=_auth(staff[lead_id]))  # fmt: skip
    assert again.status == 200, await again.text()


async def test_a_case_is_not_proposed_to_someone_of_another_gebied(
    client: Client, tokens: Tokens, runtime: Runtime, staff: dict[str, str]
) -> None:
    """The colleague proposed reads all of the case (to decide whether to take it), so only
    someone who may be given a melding of its gebied by hand is proposed: not a specialist
    of another gebied's network, who could then read it without any glass broken."""
    melding = await _post(client, tokens)
    await _drain(runtime, _worker(runtime, FrozenClock(MONDAY_10)))
    [offered] = await _assignments(runtime, melding["melding_id"])
    lead = _auth(staff[offered["specialist"]])
    assert (await client.post(f"/api/v1/assignments/{offered['id']}/accept",
                              headers=lead)).status == 200  # fmt: skip
    elsewhere = next(g for g in runtime.network.networks if g != GEBIED)
    stranger = runtime.network.networks[elsewhere].members[0]
    assert stranger not in runtime.network.may_take(GEBIED)
    async with runtime.pool.acquire() as conn:
        theirs = _auth((await add_user(conn, stranger, UserRole.specialist, TEST_CLOCK.now(),
                                       gebied=elsewhere)).token)  # fmt: skip
    case_url = f"/api/v1/cases/{melding['case_id']}"
    proposal = {"to": stranger, "reason": "Zij kent het gezin goed."}
    refused = await client.post(f"{case_url}/handover", headers=lead, json=proposal)
    assert refused.status == 422, await refused.text()
    assert [e["pointer"] for e in (await refused.json())["errors"]] == ["/to"]
    assert (await client.get(case_url, headers=theirs)).status == 404
    assert (
        await runtime.pool.fetchval(
            "SELECT count(*) FROM case_handovers WHERE case_id = $1", UUID(melding["case_id"])
        )
        == 0
    )


async def test_a_case_stays_with_its_lead_until_a_colleague_accepts(
    client: Client, tokens: Tokens, runtime: Runtime, staff: dict[str, str]
) -> None:
    melding = await _post(client, tokens)
    await _drain(runtime, _worker(runtime, FrozenClock(MONDAY_10)))
    [offered] = await _assignments(runtime, melding["melding_id"])
    lead_id = offered["specialist"]
    lead = _auth(staff[lead_id])
    assert (await client.post(f"/api/v1/assignments/{offered['id']}/accept",
                              headers=lead)).status == 200  # fmt: skip
    colleague, bystander = [s for s in staff if s.startswith("sp-") and s != lead_id][:2]
    url = f"/api/v1/cases/{melding['case_id']}/handover"

    async def case_lead() -> str:
        case = await (await client.get(f"/api/v1/cases/{melding['case_id']}",
                                       headers=tokens.user("operator"))).json()  # fmt: skip
        lead_now: str = case["lead"]
        return lead_now

    assert await case_lead() == lead_id
    reason = "Ik ga met verlof; zij kent het gezin."
    assert (await client.post(url, json={"to": colleague, "reason": reason},
                              headers=_auth(staff[bystander]))).status == 409  # fmt: skip
    unknown = await client.post(url, json={"to": "niemand", "reason": reason}, headers=lead)
    assert unknown.status == 422
    told = await client.get("/api/v1/me/events", headers=_auth(staff[colleague]))
    assert (await told.content.readline()).startswith(b": connected")
    proposed = await client.post(url, json={"to": colleague, "reason": reason}, headers=lead)
    assert proposed.status == 200, await proposed.text()
    # The colleague hears of it at once (an open "Mijn werk" shows it to take).
    event, data = await next_event(told)
    while event != "handover_proposed":
        event, data = await next_event(told)
    assert data["case_id"] == melding["case_id"]
    told.close()
    assert (await proposed.json())["accepted"] is False
    assert await case_lead() == lead_id  # not dropped before the colleague takes it
    again = await client.post(url, json={"to": bystander, "reason": reason}, headers=lead)
    assert again.status == 409
    assert (await client.post(f"{url}/accept", headers=_auth(staff[bystander]))).status == 409
    stream = await client.get("/api/v1/me/events", headers=_auth(staff[colleague]))
    assert (await stream.content.readline()).startswith(b": connected")
    desk = await client.get("/api/v1/me/events", headers=tokens.user("operator"))
    assert (await desk.content.readline()).startswith(b": connected")
    taken = await client.post(f"{url}/accept", headers=_auth(staff[colleague]))
    assert taken.status == 200
    assert await case_lead() == colleague
    audited = await runtime.pool.fetchval(
        "SELECT array_agg(action ORDER BY id) FROM audit_log WHERE case_id = $1"
        " AND action LIKE 'case.handover%'", UUID(melding["case_id"]))  # fmt: skip
    assert audited == ["case.handover_proposed", "case.handover_accepted"]
    assert await runtime.pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'assignment.handover'"
        " AND melding_id = $1", UUID(melding["melding_id"]))  == 1  # fmt: skip
    # The work moves with the lead: the accepted melding is the colleague's now, who is
    # told, and who records the first contact (the former lead no longer can).
    history = {a["specialist"]: (a["state"], a["tier"])
               for a in await _assignments(runtime, melding["melding_id"])}  # fmt: skip
    assert history == {lead_id: ("reassigned", "network"), colleague: ("accepted", "handover")}
    line = await stream.content.readline()
    while line == b"\n":  # the end of the ": connected" comment
        line = await stream.content.readline()
    assert line == b"event: handover\n"
    stream.close()
    # The werkvoorraad shows who has it: its open pages are told.
    event, data = await next_event(desk)
    while event != "werkvoorraad" or melding["melding_id"] not in data["melding_ids"]:
        event, data = await next_event(desk)
    desk.close()
    contact = f"/api/v1/meldingen/{melding['melding_id']}/first-contact"
    assert (await client.post(contact, json={}, headers=lead)).status == 409
    assert (await client.post(contact, json={}, headers=_auth(staff[colleague]))).status == 200


async def test_an_operator_reassigns_and_hands_a_melding_to_another_gebied(
    client: Client, tokens: Tokens, runtime: Runtime, staff: dict[str, str]
) -> None:
    melding = await _post(client, tokens)
    await _drain(runtime, _worker(runtime, FrozenClock(MONDAY_10)))
    [offered] = await _assignments(runtime, melding["melding_id"])
    target = next(s for s in staff if s.startswith("sp-") and s != offered["specialist"])
    url = f"/api/v1/meldingen/{melding['melding_id']}/reassign"
    body = {"to": target, "reason": "Kent het gezin al van eerder."}
    assert (await client.post(url, json=body, headers=_auth(staff[target]))).status == 403
    assert (
        await client.post(url, json=body, headers=tokens.user("coordinator-tilburg"))
    ).status == 404
    done = await client.post(url, json=body, headers=tokens.user("operator"))
    assert done.status == 200, await done.text()
    assert (await done.json())["previous"] == offered["specialist"]
    history = await _assignments(runtime, melding["melding_id"])
    states = {a["specialist"]: (a["state"], a["tier"]) for a in history}
    assert states == {offered["specialist"]: ("reassigned", "network"),
                      target: ("offered", "operator")}  # fmt: skip
    assert (await client.post(url, json=body, headers=tokens.user("operator"))).status == 409
    stale = await client.post(
        f"/api/v1/assignments/{offered['id']}/accept", headers=_auth(staff[offered["specialist"]])
    )
    assert stale.status == 409  # the old offer cannot be accepted any more

    queued = await _post(client, tokens)
    await runtime.enqueuer.flush()
    move = f"/api/v1/meldingen/{queued['melding_id']}/gebied"
    bad = await client.post(move, json={"gebied": "nergens", "reason": "Woont in Rijen."},
                            headers=tokens.user("operator"))  # fmt: skip
    assert bad.status == 422
    moved = await client.post(move, json={"gebied": "west", "reason": "Woont in Rijen."},
                              headers=tokens.user("cit"))  # fmt: skip
    assert moved.status == 200, await moved.text()
    await runtime.enqueuer.flush()
    assert await runtime.redis.zscore(runtime.keys.queue(GEBIED), queued["melding_id"]) is None
    assert await runtime.redis.zscore(runtime.keys.queue("west"), queued["melding_id"]) is not None
    again = await client.post(move, json={"gebied": "west", "reason": "Nog een keer."},
                              headers=tokens.user("operator"))  # fmt: skip
    assert again.status == 409  # there already
    closed = await client.post(f"/api/v1/meldingen/{queued['melding_id']}/close",
                               json={"outcome": "dubbel", "reason": "Kwam twee keer binnen."},
                               headers=tokens.user("operator"))  # fmt: skip
    assert closed.status == 200, await closed.text()
    after = await client.post(move, json={"gebied": "oost", "reason": "Toch in Oisterwijk."},
                              headers=tokens.user("operator"))  # fmt: skip
    assert after.status == 409
    said = (await after.json())["detail"]
    assert said == "a melding that is closed does not move to another gebied"  # nothing to do

    # Offered (here to the reassigned person): the offer is withdrawn, it moves on.
    offered_one = await client.post(
        f"/api/v1/meldingen/{melding['melding_id']}/gebied",
        json={"gebied": "west", "reason": "Woont in Rijen."}, headers=tokens.user("operator"),
    )  # fmt: skip
    assert offered_one.status == 200, await offered_one.text()
    history = await _assignments(runtime, melding["melding_id"])
    [withdrawn] = [a for a in history if a["specialist"] == target]
    assert withdrawn["state"] == "withdrawn"
    assert await _status(runtime, melding["melding_id"]) == "queued"
    await runtime.enqueuer.flush()
    assert await runtime.redis.zscore(runtime.keys.queue("west"), melding["melding_id"])
    assert await runtime.redis.zscore(runtime.keys.queue(GEBIED), melding["melding_id"]) is None
    late = await client.post(f"/api/v1/assignments/{withdrawn['id']}/accept",
                             headers=_auth(staff[target]))  # fmt: skip
    read = await client.get(f"/api/v1/meldingen/{melding['melding_id']}",
                            headers=tokens.user("operator"))  # fmt: skip
    assert read.status == 200, await read.text()  # a withdrawn offer reads as such
    assert "withdrawn" in [o["state"] for o in (await read.json())["offers"]]
    trail = await runtime.pool.fetchval(
        "SELECT array_agg(action ORDER BY id) FROM audit_log WHERE melding_id = $1"
        " AND action IN ('melding.gebied', 'assignment.withdraw')",
        UUID(melding["melding_id"]),
    )
    assert trail == ["melding.gebied", "assignment.withdraw"]
    assert late.status == 409  # withdrawn: it cannot be accepted any more


async def test_a_coordinator_changes_the_roster_and_dispatch_follows(
    client: Client, tokens: Tokens, runtime: Runtime, staff: dict[str, str]
) -> None:
    with TEST_CLOCK.at(MONDAY_10):  # the API's clock: the changes are current then
        await _roster_changes_followed(client, tokens, runtime, staff)


async def _roster_changes_followed(
    client: Client, tokens: Tokens, runtime: Runtime, staff: dict[str, str]
) -> None:
    coordinator = _auth(staff["co-oost"])
    url = f"/api/v1/gebieden/{GEBIED}/roster-changes"
    monday = {d.specialist for d in on_duty(runtime.network, MONDAY_10) if d.gebied == GEBIED}
    absent = sorted(s for s in monday if s.startswith("sp-"))[0]
    body = {"kind": "absent", "specialist": absent, "start": "2026-11-23T00:00",
            "end": "2026-11-24T00:00", "reason": "Ziek gemeld."}  # fmt: skip
    assert (await client.post(url, json=body, headers=tokens.user("operator"))).status == 403
    assert (
        await client.post(url, json=body, headers=tokens.user("coordinator-tilburg"))
    ).status == 403
    stranger = {**body, "specialist": "sp-tilburg-1"}
    assert (await client.post(url, json=stranger, headers=coordinator)).status == 422
    # An extra shift: for someone of the gebied's network or the regional backup, not a
    # colleague of another gebied (whose own coordinator changes their roster).
    extra = {**body, "kind": "extra", "gebied": GEBIED, "specialist": "sp-tilburg-1"}
    refused = await client.post(url, json=extra, headers=coordinator)
    assert refused.status == 422
    assert "another gebied" in (await refused.json())["errors"][0]["detail"]
    backup = runtime.network.backup.members[0]
    lent = await client.post(url, json={**extra, "specialist": backup}, headers=coordinator)
    assert lent.status == 201, await lent.text()
    backwards = {**body, "end": "2026-11-22T00:00"}
    assert (await client.post(url, json=backwards, headers=coordinator)).status == 422
    made = await client.post(url, json=body, headers=coordinator)
    assert made.status == 201, await made.text()
    change_id = (await made.json())["id"]
    listed = await (await client.get(url, headers=tokens.user("operator"))).json()
    assert change_id in [c["id"] for c in listed["changes"]]
    # Why someone is absent (it may be their health) is for their coordinator alone.
    assert {c["reason"] for c in listed["changes"]} == {None}
    own = await (await client.get(url, headers=coordinator)).json()
    assert "Ziek gemeld." in {c["reason"] for c in own["changes"]}

    worker = _worker(runtime, FrozenClock(MONDAY_10))
    assert absent not in {d.specialist for d in await worker.duties(MONDAY_10)
                          if d.gebied == GEBIED}  # fmt: skip
    withdrawn = await client.post(f"{url}/{change_id}/withdraw", headers=coordinator)
    assert withdrawn.status == 200
    assert (await client.post(f"{url}/{change_id}/withdraw", headers=coordinator)).status == 409
    fresh = _worker(runtime, FrozenClock(MONDAY_10))
    assert absent in {d.specialist for d in await fresh.duties(MONDAY_10) if d.gebied == GEBIED}
    audited = await runtime.pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action IN ('roster.change', 'roster.withdraw')"
        " AND endpoint LIKE '%roster-changes%'"
    )
    assert audited >= 2


async def test_offers_and_escalations_reach_the_person_as_server_sent_events(
    client: Client, tokens: Tokens, runtime: Runtime, staff: dict[str, str]
) -> None:
    assert (await client.get("/api/v1/me/events", headers=tokens.client(Source.cit))).status == 403
    melding = await _post(client, tokens)
    target = "sp-oost-3"
    stream = await client.get("/api/v1/me/events", headers=_auth(staff[target]))
    assert stream.status == 200
    assert stream.headers["Content-Type"].startswith("text/event-stream")

    assert (await stream.content.readline()).startswith(b": connected")
    resp = await client.post(f"/api/v1/meldingen/{melding['melding_id']}/reassign",
                             json={"to": target, "reason": "Kent het gezin al."},
                             headers=tokens.user("operator"))  # fmt: skip
    assert resp.status == 200
    event, data = await next_event(stream)
    assert event == "offer"
    assert data["melding_id"] == melding["melding_id"]
    assert set(data) == {"event", "assignment_id", "melding_id", "tier", "link"}  # ids only
    stream.close()

    # The coordinator hears of an escalation.
    stream = await client.get("/api/v1/me/events", headers=_auth(staff["co-oost"]))
    assert (await stream.content.readline()).startswith(b": connected")
    late = await _post(client, tokens)
    received = await runtime.pool.fetchval(
        "SELECT received_at FROM meldingen WHERE id = $1", UUID(late["melding_id"])
    )
    done = await escalate(runtime.pool, runtime.network, received + timedelta(hours=19),
                          timedelta(hours=72))  # fmt: skip
    await runtime.after_commit.apply(done.effects)
    for _ in range(100):  # other meldingen of the gebied may be escalated in the same round
        event, data = await next_event(stream)
        if event != "werkvoorraad" and data["melding_id"] == late["melding_id"]:
            break  # (a coordinator's stream also carries the werkvoorraad's changes)
    assert (event, data["kind"]) == ("escalation", "at_risk")
    stream.close()


async def test_a_coordinator_hears_of_their_own_gebieds_meldingen_only(
    client: Client, tokens: Tokens, staff: dict[str, str]
) -> None:
    """The werkvoorraad's changes reach the desk for every gebied and a coordinator for
    their own: the ids of another gebied's meldingen are not theirs to see."""
    desk = await client.get("/api/v1/me/events", headers=tokens.user("operator"))
    coordinator = await client.get("/api/v1/me/events", headers=_auth(staff["co-oost"]))
    for stream in (desk, coordinator):
        assert (await stream.content.readline()).startswith(b": connected")

    async def seen_by(stream: Any, melding_id: str) -> list[str]:
        """The werkvoorraad ids the stream carried up to and with ``melding_id``."""
        ids: list[str] = []
        while melding_id not in ids:
            event, data = await next_event(stream)
            ids += data["melding_ids"] if event == "werkvoorraad" else []
        return ids

    elsewhere = await client.post("/api/v1/meldingen", json=melding_body(),
                                  headers=tokens.user("operator"))  # fmt: skip
    elsewhere_id = (await elsewhere.json())["melding_id"]
    assert (await elsewhere.json())["gebied"] != GEBIED
    await seen_by(desk, elsewhere_id)  # published, before the next one
    here = await _post(client, tokens)
    assert here["melding_id"] in await seen_by(desk, here["melding_id"])
    assert elsewhere_id not in await seen_by(coordinator, here["melding_id"])
    desk.close()
    coordinator.close()


async def test_an_assignment_follows_its_melding_and_ends_with_the_case(
    client: Client, tokens: Tokens, runtime: Runtime, staff: dict[str, str]
) -> None:
    """A link by hand takes the dispatch history along; closing the case ends the
    accepted assignment, which then no longer counts in the specialist's caseload."""
    clock = FrozenClock(MONDAY_10)
    offered_one = await _post(client, tokens)
    await _drain(runtime, _worker(runtime, clock))
    other = await _post(client, tokens)  # another household's case, still queued
    url = f"/api/v1/meldingen/{offered_one['melding_id']}/link"
    linked = await client.post(url, headers=tokens.user("operator"), json={
        "case_id": other["case_id"], "reason": "Zelfde gezin, bleek uit het gesprek."})  # fmt: skip
    assert linked.status == 200, await linked.text()
    [assignment] = await _assignments(runtime, offered_one["melding_id"])
    assert await runtime.pool.fetchval(
        "SELECT case_id FROM assignments WHERE id = $1", assignment["id"]
    ) == UUID(other["case_id"])  # fmt: skip

    await _drain(runtime, _worker(runtime, clock))  # the other melding is offered too
    for melding in (offered_one, other):
        [offer_] = [a for a in await _assignments(runtime, melding["melding_id"])
                    if a["state"] == "offered"]  # fmt: skip
        me = _auth(staff[offer_["specialist"]])
        assert (await client.post(f"/api/v1/assignments/{offer_['id']}/accept",
                                  headers=me)).status == 200  # fmt: skip
        assert (await client.post(f"/api/v1/meldingen/{melding['melding_id']}/first-contact",
                                  headers=me)).status == 200  # fmt: skip
    specialist = assignment["specialist"]
    load = ("SELECT count(*) FROM assignments WHERE specialist = $1"
            " AND state IN ('offered', 'accepted')")  # fmt: skip
    before = await runtime.pool.fetchval(load, specialist)
    closed = await client.post(f"/api/v1/cases/{other['case_id']}/close",
                               headers=tokens.user("operator"),
                               json={"reason": "Hulp loopt via het wijkteam."})  # fmt: skip
    assert closed.status == 200, await closed.text()
    states = await runtime.pool.fetch(
        "SELECT state FROM assignments WHERE case_id = $1 AND state <> 'expired'",
        UUID(other["case_id"]),
    )
    assert {r["state"] for r in states} == {"closed"}
    after_close = await runtime.pool.fetchval(load, specialist)
    assert after_close < before

    # Taken out of the closed case into an open one, it is that specialist's work again.
    third = await _post(client, tokens)
    reason = "Toch een ander huishouden, bleek later."
    moved = await client.post(url, headers=tokens.user("operator"),
                              json={"case_id": third["case_id"], "reason": reason})  # fmt: skip
    assert moved.status == 200, await moved.text()
    assert await runtime.pool.fetchval(
        "SELECT state FROM assignments WHERE id = $1", assignment["id"]
    ) == "accepted"  # fmt: skip
    assert await runtime.pool.fetchval(load, specialist) == after_close + 1


async def test_the_timers_go_on_without_redis(runtime: Runtime) -> None:
    """With Redis unreachable, the timer steps that need only PostgreSQL still run, and
    the dependency gauge says which one is down."""
    gone = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    worker = Worker(
        runtime.pool,
        Claimer(gone, runtime.keys, 30),
        AfterCommit(runtime.enqueuer, Publisher(gone, runtime.keys), runtime.clock),
        config=runtime.network,
        clock=FrozenClock(MONDAY_10),
        gebieden=[GEBIED],
        redis=gone,
    )
    depth = {"gebied": GEBIED, "level": "crisis"}
    metrics.QUEUE_DEPTH.labels(**depth).set(-1)  # so that a refresh shows
    try:
        await worker.timers()  # raises nothing
    finally:
        await gone.aclose()
    assert REGISTRY.get_sample_value("triage_dependency_up", {"dependency": "redis"}) == 0
    assert REGISTRY.get_sample_value("triage_dependency_up", {"dependency": "postgres"}) == 1
    assert REGISTRY.get_sample_value("triage_queue_depth", depth) >= 0  # the gauges ran


async def test_an_offer_is_held_to_the_answer_time_of_a_level_raised_meanwhile(
    client: Client, tokens: Tokens, runtime: Runtime, staff: dict[str, str]
) -> None:
    melding = await _post(client, tokens, category="overlast", signals=[])
    assert melding["urgency"]["level"] == "regulier"
    await runtime.enqueuer.flush()
    await runtime.redis.zrem(runtime.keys.queue(GEBIED), melding["melding_id"])  # offered here
    now = runtime.clock.now()  # the API's clock
    done = await offer(runtime.pool, runtime.network, [(GEBIED, UUID(melding["melding_id"]))],
                       now, on_duty(runtime.network, now))  # fmt: skip
    [made] = done.offered

    async def answer_before() -> datetime:
        due: datetime = await runtime.pool.fetchval(
            "SELECT answer_before FROM assignments WHERE id = $1", made.assignment_id
        )
        return due

    assert await answer_before() == now + timedelta(minutes=240)
    me = _auth(staff[made.choice.specialist])
    stream = await client.get("/api/v1/me/events", headers=me)
    assert (await stream.content.readline()).startswith(b": connected")
    desk = await client.get("/api/v1/me/events", headers=tokens.user("operator"))
    assert (await desk.content.readline()).startswith(b": connected")
    url = f"/api/v1/meldingen/{melding['melding_id']}/urgency"
    before = runtime.clock.now()
    raised = await client.post(url, json={"level": "crisis", "reason": "Belde terug: wapen."},
                               headers=tokens.user("operator"))  # fmt: skip
    assert raised.status == 200, await raised.text()
    after = runtime.clock.now()
    crisis = timedelta(minutes=runtime.network.answer_within_minutes["crisis"])
    shortened = await answer_before()
    assert before + crisis <= shortened <= after + crisis
    told = (await raised.json())["offer"]
    assert told["assignment_id"] == str(made.assignment_id)
    assert datetime.fromisoformat(told["answer_before"]) == shortened
    # The specialist hears of it at once.
    lines: list[str] = []
    while not lines or not lines[-1].startswith("data: "):
        line = (await asyncio.wait_for(stream.content.readline(), timeout=5)).decode()
        lines += [line] if line.strip() else []
    stream.close()
    # The werkvoorraad pages of its gebied are told too: it shows the level.
    event, data = await next_event(desk)
    while event != "werkvoorraad" or melding["melding_id"] not in data["melding_ids"]:
        event, data = await next_event(desk)
    desk.close()
    assert lines[-2] == "event: offer_changed\n"
    event = json.loads(lines[-1].removeprefix("data: "))
    assert (event["assignment_id"], datetime.fromisoformat(event["answer_before"])) == (
        str(made.assignment_id), shortened,
    )  # fmt: skip
    lowered = await client.post(url, json={"level": "hoog", "reason": "Toch geen wapen."},
                                headers=tokens.user("operator"))  # fmt: skip
    assert lowered.status == 200
    assert (await lowered.json())["offer"] is None
    assert await answer_before() == shortened  # a lower level never gives more time
    # Answered, so that no offer of this test waits on other tests' clocks.
    accepted = await client.post(f"/api/v1/assignments/{made.assignment_id}/accept",
                                 headers=me)  # fmt: skip
    assert accepted.status == 200, await accepted.text()


async def test_steering_by_hand_and_an_answer_at_the_same_moment_never_deadlock(
    client: Client, tokens: Tokens, runtime: Runtime, staff: dict[str, str]
) -> None:
    """A reassignment or a move locks the open offer before the melding, as an answer
    does: at the same moment one waits for the other (each 200 or 409), never a deadlock
    (which PostgreSQL would end by failing one of them: a 500)."""
    worker = _worker(runtime, FrozenClock(MONDAY_10))
    answered: list[int] = []
    for round_ in range(12):
        melding = await _post(client, tokens)
        await _drain(runtime, worker)
        [offer] = [a for a in await _assignments(runtime, melding["melding_id"])
                   if a["state"] == "offered"]  # fmt: skip
        other = next(s for s in staff if s.startswith("sp-") and s != offer["specialist"])
        url = f"/api/v1/meldingen/{melding['melding_id']}"
        steer = (
            client.post(f"{url}/reassign", json={"to": other, "reason": "Kent het gezin."},
                        headers=tokens.user("operator"))
            if round_ % 2 == 0 else
            client.post(f"{url}/gebied", json={"gebied": "west", "reason": "Woont in Rijen."},
                        headers=tokens.user("operator"))
        )  # fmt: skip
        answer = client.post(f"/api/v1/assignments/{offer['id']}/accept",
                             headers=_auth(staff[offer["specialist"]]))  # fmt: skip
        for resp in await asyncio.gather(steer, answer):
            assert resp.status in (200, 409), await resp.text()
            answered.append(resp.status)
        active = [a for a in await _assignments(runtime, melding["melding_id"])
                  if a["state"] in ("offered", "accepted")]  # fmt: skip
        assert len(active) <= 1
    assert 200 in answered
