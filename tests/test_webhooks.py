"""Webhooks per organisation against the real PostgreSQL and a real HTTP receiver: the
delivery is written with the offer, signed, retried with backoff, dead-lettered, listed
and replayed by ops; several deliverers send each delivery once."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from helpers import Tokens, melding_body
from triage.clock import FrozenClock
from triage.dispatch.worker import Worker
from triage.notify import webhooks
from triage.notify.deliver import Deliverer, Policy
from triage.notify.webhooks import Notice, WebhookError
from triage.observability import metrics
from triage.queue.claim import Claimer
from triage.runtime import Runtime

Client = TestClient[Any, Any]
GEBIED = "langstraat"
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Europe/Amsterdam"))
CRISIS_SERVICE = "Crisisdienst GGZ Breburg"


@dataclass
class Receiver:
    """An organisation's endpoint: answers with the scripted statuses (then 200)."""

    url: str = ""
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    delay: float = 0.0
    seen: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.delay:
            await asyncio.sleep(self.delay)
        self.seen.append((dict(request.headers), body))
        status, headers = self.script.pop(0) if self.script else (200, {})
        return web.Response(status=status, headers=headers)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    app = web.Application()
    app.router.add_post("/hook", found.handle)
    async with TestServer(app, host="127.0.0.1") as server:
        found.url = str(server.make_url("/hook"))
        yield found


@pytest.fixture
async def hooks(runtime: Runtime, receiver: Receiver) -> AsyncIterator[dict[str, tuple[int, str]]]:
    """A webhook for every organisation of the networks, to the receiver; disabled after
    the test so that other tests' offers write no deliveries."""
    organisations = {s.organisatie for s in runtime.network.specialists}
    made: dict[str, tuple[int, str]] = {}
    async with runtime.pool.acquire() as conn:
        for org in sorted(organisations):
            hook = await webhooks.add(conn, org, receiver.url, events=None,
                                      organisations=organisations, now=MONDAY_10)  # fmt: skip
            made[org] = (hook.id, hook.secret)
    yield made
    async with runtime.pool.acquire() as conn:
        for hook_id, _ in made.values():
            with contextlib.suppress(WebhookError):  # the test disabled it already
                await webhooks.disable(conn, hook_id, MONDAY_10)


def _closed_port(receiver: Receiver) -> str:
    """The receiver's address on the discard port, where nothing listens."""
    return receiver.url.replace("/hook", "").rsplit(":", 1)[0] + ":9/hook"


async def _deliver_once(runtime: Runtime, clock: FrozenClock, **policy: Any) -> int:
    async with Deliverer(runtime.pool, clock, Policy(**policy)) as deliverer:
        return await deliverer.round()


async def _deliveries(runtime: Runtime, **payload: str) -> list[Any]:
    return list(await runtime.pool.fetch(
        "SELECT d.*, w.organisation FROM webhook_deliveries d JOIN webhooks w"
        " ON w.id = d.webhook_id WHERE d.payload @> $1::jsonb ORDER BY d.created_at",
        payload,  # the pool's codec makes it JSON
    ))  # fmt: skip


def _verified(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """What a receiver does (docs/design.md): recompute the HMAC over "<t>.<body>"."""
    parts = dict(p.split("=", 1) for p in headers["Triage-Signature"].split(","))
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256)
    fresh = abs(time.time() - int(parts["t"])) < 300
    return fresh and hmac.compare_digest(expected.hexdigest(), parts["v1"])


async def test_an_offer_reaches_the_specialists_organisation_signed_without_personal_data(
    client: Client, tokens: Tokens, runtime: Runtime, receiver: Receiver,
    hooks: dict[str, tuple[int, str]],
) -> None:  # fmt: skip
    clock = FrozenClock(MONDAY_10)
    anouk = {"role": "slachtoffer", "voornaam": "Anouk", "achternaam": "Zwanenburg",
             "geboortedatum": "1988-03-14"}  # fmt: skip
    body = melding_body(source="cit", address={"woonplaats": "Waalwijk"}, persons=[anouk],
                        summary="Buren horen geschreeuw bij familie Zwanenburg.")  # fmt: skip
    resp = await client.post("/api/v1/meldingen", json=body, headers=tokens.user("operator"))
    melding = await resp.json()
    assert melding["gebied"] == GEBIED
    worker = Worker(
        runtime.pool,
        Claimer(runtime.redis, runtime.keys, 30),
        runtime.after_commit,
        config=runtime.network,
        clock=clock,
        gebieden=[GEBIED],
        redis=runtime.redis,
    )
    await runtime.enqueuer.flush()
    while await worker.round():
        pass
    specialist = await runtime.pool.fetchval(
        "SELECT specialist FROM assignments WHERE melding_id = $1", UUID(melding["melding_id"])
    )
    organisation = runtime.network.by_id[specialist].organisatie
    replay = await client.post("/api/v1/meldingen", json=body, headers=tokens.user("operator"))
    assert replay.status == 200  # the source's retry after dispatch: the melding as it is now
    assert (await replay.json())["status"] == "offered"
    [delivery] = await _deliveries(runtime, melding_id=melding["melding_id"])
    assert (delivery["event"], delivery["organisation"]) == ("offer", organisation)
    assert delivery["state"] == "pending"

    assert await _deliver_once(runtime, clock) >= 1
    [(headers, raw)] = [(h, b) for h, b in receiver.seen
                        if h["Triage-Delivery"] == str(delivery["id"])]  # fmt: skip
    assert _verified(hooks[organisation][1], headers, raw)
    assert not _verified(hooks[organisation][1], headers, raw.replace(b"offer", b"offen"))
    assert headers["Triage-Event"] == "offer"
    sent = json.loads(raw)
    assert sent["id"] == str(delivery["id"])
    assert sent["organisation"] == organisation
    assert sent["data"]["melding_id"] == melding["melding_id"]
    assert sent["data"]["specialist"] == specialist
    assert sent["data"]["link"] == f"/api/v1/meldingen/{melding['melding_id']}"
    for personal in ("Zwanenburg", "Anouk", "1988", "geschreeuw", "Waalwijk"):
        assert personal.encode() not in raw
    [after] = await _deliveries(runtime, melding_id=melding["melding_id"])
    assert (after["state"], after["attempts"], after["last_status"]) == ("delivered", 1, 200)


async def test_nothing_is_sent_for_a_change_that_rolled_back(
    runtime: Runtime, hooks: dict[str, tuple[int, str]]
) -> None:
    marker = str(UUID(int=time.time_ns()))

    async def fails_after_recording() -> None:
        async with runtime.pool.acquire() as conn, conn.transaction():
            await webhooks.record(conn, [Notice(CRISIS_SERVICE, "offer", {"m": marker})],
                                  MONDAY_10)  # fmt: skip
            raise RuntimeError("the offer failed after its delivery was written")

    with pytest.raises(RuntimeError):
        await fails_after_recording()
    assert await _deliveries(runtime, m=marker) == []
    async with runtime.pool.acquire() as conn:  # an organisation without a webhook
        await webhooks.record(conn, [Notice("Gemeente Elders", "offer", {"m": marker})],
                              MONDAY_10)  # fmt: skip
    assert await _deliveries(runtime, m=marker) == []


async def _fail_three_times(
    runtime: Runtime, clock: FrozenClock, deliverer: Deliverer, marker: str
) -> None:
    """The receiver fails three times (500, 503 with Retry-After, 500): waits grow, then
    the delivery is a dead letter."""
    assert await deliverer.round() == 1  # attempt 1: 500
    [row] = await _deliveries(runtime, m=marker)
    wait = (row["next_attempt_at"] - clock.now()).total_seconds()
    assert (row["state"], row["attempts"], row["last_error"]) == ("pending", 1, "HTTP 500")
    assert 8 <= wait <= 12  # 10 s, with jitter
    assert await deliverer.round() == 0  # not due yet
    clock.advance(timedelta(seconds=12))
    assert await deliverer.round() == 1  # attempt 2: 503, Retry-After 120 s
    [row] = await _deliveries(runtime, m=marker)
    assert 120 <= (row["next_attempt_at"] - clock.now()).total_seconds() <= 121
    clock.advance(timedelta(seconds=121))
    assert await deliverer.round() == 1  # attempt 3: the last
    [row] = await _deliveries(runtime, m=marker)
    assert (row["state"], row["attempts"], row["last_status"]) == ("dead", 3, 500)
    clock.advance(timedelta(hours=1))
    assert await deliverer.round() == 0  # dead letters wait for ops


async def test_failures_back_off_then_a_dead_letter_that_ops_replay(
    client: Client, tokens: Tokens, runtime: Runtime, receiver: Receiver,
    hooks: dict[str, tuple[int, str]],
) -> None:  # fmt: skip
    clock = FrozenClock(MONDAY_10)
    marker = str(UUID(int=time.time_ns()))
    async with runtime.pool.acquire() as conn:
        await webhooks.record(conn, [Notice(CRISIS_SERVICE, "escalation", {"m": marker})],
                              clock.now())  # fmt: skip
    receiver.script = [(500, {}), (503, {"Retry-After": "120"}), (500, {})]
    policy = Policy(max_attempts=3, backoff_seconds=10, backoff_cap_seconds=1000)
    async with Deliverer(runtime.pool, clock, policy) as deliverer:
        await _fail_three_times(runtime, clock, deliverer, marker)
    [row] = await _deliveries(runtime, m=marker)
    dead_url = f"/api/v1/webhooks/dead-letters?webhook_id={row['webhook_id']}"
    assert (await client.get(dead_url, headers=tokens.user("operator"))).status == 403
    listed = await (await client.get(dead_url, headers=tokens.user("ops"))).json()
    [letter] = [d for d in listed["dead_letters"] if d["id"] == str(row["id"])]
    assert (letter["attempts"], letter["last_error"]) == (3, "HTTP 500")
    assert letter["organisation"] == CRISIS_SERVICE
    assert letter["payload"] == {"m": marker}

    replay = "/api/v1/webhooks/dead-letters/replay"
    refused = await client.post(replay, json={}, headers=tokens.user("ops"))
    assert refused.status == 422
    again = await client.post(replay, json={"ids": [str(row["id"])]}, headers=tokens.user("ops"))
    assert (await again.json())["replayed"] == [str(row["id"])]
    twice = await client.post(replay, json={"ids": [str(row["id"])]}, headers=tokens.user("ops"))
    assert (await twice.json())["replayed"] == []  # no longer dead
    assert await runtime.pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'webhook.replay'"
        " AND endpoint = 'POST /api/v1/webhooks/dead-letters/replay'"
    ) >= 1  # fmt: skip

    tomorrow = FrozenClock(runtime.clock.now() + timedelta(days=1))
    assert await _deliver_once(runtime, tomorrow) >= 1
    [row] = await _deliveries(runtime, m=marker)
    assert (row["state"], row["attempts"], row["replays"]) == ("delivered", 1, 1)
    ids = [h["Triage-Delivery"] for h, _ in receiver.seen]
    assert ids.count(str(row["id"])) == 4  # the same delivery id on every attempt


async def test_two_deliverers_send_each_delivery_once(
    runtime: Runtime, receiver: Receiver, hooks: dict[str, tuple[int, str]]
) -> None:
    clock = FrozenClock(MONDAY_10)
    marker = str(UUID(int=time.time_ns()))
    async with runtime.pool.acquire() as conn:
        await webhooks.record(conn, [Notice(CRISIS_SERVICE, "offer", {"m": marker, "n": str(i)})
                                     for i in range(60)], clock.now())  # fmt: skip
    receiver.delay = 0.01  # answers overlap: both deliverers are busy at once
    async with (
        Deliverer(runtime.pool, clock, Policy(), batch=8) as first,
        Deliverer(runtime.pool, clock, Policy(), batch=8) as second,
    ):
        while sum(await asyncio.gather(first.round(), second.round())):
            pass
    mine = {str(r["id"]) for r in await _deliveries(runtime, m=marker)}
    sent = [h["Triage-Delivery"] for h, _ in receiver.seen if h["Triage-Delivery"] in mine]
    assert len(mine) == 60
    assert sorted(sent) == sorted(mine)  # each once
    assert {r["state"] for r in await _deliveries(runtime, m=marker)} == {"delivered"}


async def test_a_silent_or_absent_receiver_is_a_failure_that_says_which(
    runtime: Runtime, receiver: Receiver, hooks: dict[str, tuple[int, str]]
) -> None:
    clock = FrozenClock(MONDAY_10)
    marker = str(UUID(int=time.time_ns()))
    async with runtime.pool.acquire() as conn:
        await webhooks.record(conn, [Notice(CRISIS_SERVICE, "offer", {"m": marker})], clock.now())
    receiver.delay = 1.0
    assert await _deliver_once(runtime, clock, timeout_seconds=0.2) >= 1
    [row] = await _deliveries(runtime, m=marker)
    assert (row["state"], row["last_error"]) == ("pending", "no answer within 0.2 s")

    # A redirect is not followed (a 302 would drop the body and a 200 for the GET would
    # count as delivered): it is a failed attempt that says why.
    receiver.delay = 0.0
    receiver.script = [(302, {"Location": "/elders"})]
    clock.advance(timedelta(hours=2))
    assert await _deliver_once(runtime, clock) >= 1
    [row] = await _deliveries(runtime, m=marker)
    assert row["state"] == "pending"
    assert row["last_error"].startswith("HTTP 302: redirected")

    marker = str(UUID(int=time.time_ns()))
    async with runtime.pool.acquire() as conn:
        closed = _closed_port(receiver)
        hook = await webhooks.add(conn, "MEE", closed, events=["offer"], organisations={"MEE"},
                                  now=clock.now())  # fmt: skip
        await webhooks.record(conn, [Notice("MEE", "offer", {"m": marker})], clock.now())
        await _deliver_once(runtime, clock)
        rows = [r for r in await _deliveries(runtime, m=marker) if r["webhook_id"] == hook.id]
        assert rows[0]["last_error"].startswith("connection failed: ")
        await webhooks.disable(conn, hook.id, clock.now())


async def test_a_receiver_that_moved_gets_what_waits_and_its_dead_letters_there(
    client: Client, tokens: Tokens, runtime: Runtime, receiver: Receiver
) -> None:
    """Changing the URL in place keeps the webhook's deliveries its own: disabling it
    would make dead letters of what waits, and those could not be replayed."""
    clock = FrozenClock(MONDAY_10)
    old = _closed_port(receiver)
    waiting, dead = str(UUID(int=time.time_ns())), str(UUID(int=time.time_ns() + 1))
    async with runtime.pool.acquire() as conn:
        hook = await webhooks.add(conn, "MEE", old, events=["offer"], organisations={"MEE"},
                                  now=clock.now())  # fmt: skip
        await webhooks.record(conn, [Notice("MEE", "offer", {"m": dead})], clock.now())
        await _deliver_once(runtime, clock, max_attempts=1)  # its only attempt fails: dead
        await webhooks.record(conn, [Notice("MEE", "offer", {"m": waiting})], clock.now())
        with pytest.raises(WebhookError, match="use https"):
            await webhooks.move(conn, hook.id, "http://ontvanger.example.nl/hook", clock.now())
        # A user part before the host may be the receiver's key: the audit keeps the host.
        keyed = receiver.url.replace("http://", "http://svc:geheim@", 1)
        await webhooks.move(conn, hook.id, keyed, clock.now())
        try:
            replay = await client.post(
                "/api/v1/webhooks/dead-letters/replay", json={"webhook_id": hook.id},
                headers=tokens.user("ops"),
            )  # fmt: skip
            assert len((await replay.json())["replayed"]) == 1
            # Replayed at the service's time: due by then.
            await _deliver_once(runtime, FrozenClock(max(runtime.clock.now(), clock.now())))
            mine = [r for r in await _deliveries(runtime, m=waiting)
                    + await _deliveries(runtime, m=dead) if r["webhook_id"] == hook.id]  # fmt: skip
            assert sorted(r["state"] for r in mine) == ["delivered", "delivered"]
            moved = await conn.fetchval(
                "SELECT detail FROM audit_log WHERE action = 'webhook.move' AND at = $1"
                " AND (detail->>'webhook_id')::bigint = $2", clock.now(), hook.id,
            )  # fmt: skip
            assert moved == {"webhook_id": hook.id, "from": "127.0.0.1", "to": "127.0.0.1"}
            assert "geheim" not in json.dumps(moved)
        finally:
            await webhooks.disable(conn, hook.id, clock.now())
        with pytest.raises(WebhookError, match="no active webhook"):
            await webhooks.move(conn, hook.id, receiver.url, clock.now())


async def test_registration_is_checked_and_disabling_stops_what_waits(
    client: Client, tokens: Tokens, runtime: Runtime, hooks: dict[str, tuple[int, str]]
) -> None:
    organisations = {CRISIS_SERVICE}
    async with runtime.pool.acquire() as conn:
        for url, org, events, said in (
            ("http://ontvanger.example.nl/hook", CRISIS_SERVICE, None, "use https"),
            ("ftp://ontvanger.example.nl/hook", CRISIS_SERVICE, None, r"not an http\(s\) URL"),
            ("https://ontvanger.example.nl/hook", "Onbekend", None, "unknown organisation"),
            ("https://ontvanger.example.nl/hook", CRISIS_SERVICE, ["alles"], "unknown event"),
        ):
            with pytest.raises(WebhookError, match=said):
                await webhooks.add(conn, org, url, events=events, organisations=organisations,
                                   now=MONDAY_10)  # fmt: skip
        hook_id, _ = hooks[CRISIS_SERVICE]
        marker = str(UUID(int=time.time_ns()))
        await webhooks.record(conn, [Notice(CRISIS_SERVICE, "offer", {"m": marker})], MONDAY_10)
        await webhooks.disable(conn, hook_id, MONDAY_10)
        with pytest.raises(WebhookError, match="no active webhook"):
            await webhooks.disable(conn, hook_id, MONDAY_10)
    [row] = await _deliveries(runtime, m=marker)
    assert (row["state"], row["last_error"]) == ("dead", "webhook disabled")
    replay = await client.post(
        "/api/v1/webhooks/dead-letters/replay", json={"webhook_id": hook_id},
        headers=tokens.user("ops"),
    )  # fmt: skip
    assert (await replay.json())["replayed"] == []  # nobody would deliver it


async def test_a_delivery_no_deliverer_takes_shows_how_long_it_has_waited(
    runtime: Runtime, hooks: dict[str, tuple[int, str]]
) -> None:
    """The deliverers cannot report that none of them runs: the workers read from
    PostgreSQL how long the oldest due delivery has waited for one."""
    before = MONDAY_10 - timedelta(days=3650)  # nothing is due yet then
    await webhooks.refresh_overdue(runtime.pool, before)
    assert metrics.WEBHOOK_OVERDUE._value.get() == 0
    async with runtime.pool.acquire() as conn:
        await webhooks.record(conn, [Notice(CRISIS_SERVICE, "offer", {"m": "x"})], MONDAY_10)
    await webhooks.refresh_overdue(runtime.pool, MONDAY_10 + timedelta(minutes=10))
    assert metrics.WEBHOOK_OVERDUE._value.get() >= 600
    async with Deliverer(runtime.pool, FrozenClock(MONDAY_10), Policy()) as deliverer:
        while await deliverer.round():  # a deliverer takes what waits, others' too
            pass
    await webhooks.refresh_overdue(runtime.pool, MONDAY_10 + timedelta(seconds=1))
    assert metrics.WEBHOOK_OVERDUE._value.get() == 0
    # One written while its webhook was being disabled (a race the disable cannot close)
    # is nobody's to send: it does not count as waiting for a deliverer.
    hook_id, _ = hooks[CRISIS_SERVICE]
    async with runtime.pool.acquire() as conn:
        await webhooks.record(conn, [Notice(CRISIS_SERVICE, "offer", {"m": "y"})], MONDAY_10)
        await conn.execute("UPDATE webhooks SET disabled_at = $2 WHERE id = $1",
                           hook_id, MONDAY_10)  # fmt: skip
    await webhooks.refresh_overdue(runtime.pool, MONDAY_10 + timedelta(minutes=10))
    assert metrics.WEBHOOK_OVERDUE._value.get() == 0
