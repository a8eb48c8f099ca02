"""A model of the whole dispatch, tested (issue 11, point 4): a stateful property test.

Hypothesis drives the real service (PostgreSQL, Redis, the HTTP API, the worker's
methods, a frozen clock) through random sequences of what happens to meldingen in life:
intake at every level in every gebied (households new and known), worker rounds, accept,
decline, offers left to expire, time passing, roster absences and extra shifts,
reassign, move to another gebied, link, unlink, merge, close a case, close a melding
before first contact, warm handover (proposed, accepted, or declined, withdrawn or ended
by a coordinator), first contact, a slow worker that the other steps overtake (stopped
after its claim, or after its offers before it releases its leases), a worker killed
there (its leases expire), and Redis losing its data followed by the reconciler. After
every step, once what follows its commit has run (the enqueues; the timers that move
meldingen on: expired leases, offers and escalations; the whole timer pass when time
passes), the invariants are read from PostgreSQL and Redis directly:

(a) every dispatchable melding (kind melding, not contacted or closed by hand; closing a
    case needs every melding contacted or closed, so a waiting one must be in an open
    case) is in exactly one
    state, with the evidence of that state: queued, on its gebied's Redis queue or leased
    there, no offer out; offered with one offer out, its answer time not past; assigned
    with one accepted assignment; escalated with no offer and a running deadline. (A
    Redis entry of a melding no longer queued is harmless by design: a worker that
    claims it finds it not queued.)
(b) at most one active assignment (offered or accepted) per melding;
(c) the melding's audit trail explains its state (the status its last dispatch action
    leaves) and its assignments (each made by an audited offer, reassignment or
    handover; each decline and expiry audited).
And no request is ever answered 5xx. A 4xx to what the state does not allow is part of
the model, but where the model knows an action is allowed (answering an offer as the one
it went to, first contact by the one who accepted, reassigning or moving a melding not
yet contacted, linking to another open case, merging two open cases, unlinking from a
case of several, closing a case with nothing waiting, proposing, accepting and ending a
handover), it must succeed.

Isolation: one database (migrated once), one Redis key prefix, one runtime and one app
for the whole test, on an event loop of the test's own; each example starts from empty
tables and keys (10 ms; a database cloned per example took 0.4 s) with a fresh worker,
on a clock that only moves forward (each example starts at the next of a few weekdays
and hours: busy, shift change, night, weekend). The default runs 25 examples of up to 40
steps; ``TRIAGE_HYPOTHESIS_PROFILE=long`` runs until ``TRIAGE_MODEL_STEPS`` (default
2500) steps were taken. With ``-s`` it prints what ran and what was answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
from collections import Counter
from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, TypeVar
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg
import hypothesis
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from helpers import TEST_CLOCK, melding_body, migrated_database, own_runtime, owner_url
from triage.app import create_app
from triage.auth.accounts import add_client, add_user
from triage.clock import FrozenClock
from triage.config import Settings
from triage.dispatch.worker import Worker, worker_for
from triage.queue.claim import Claim, Claimer
from triage.queue.keys import forget
from triage.queue.reconcile import reconcile_once
from triage.region import REGIONAL_POOL, load_region
from triage.routing.network import load_network
from triage.runtime import Runtime
from triage.scoring import load_rules
from triage.vocabulary import Source, UserRole

T = TypeVar("T")
AMS = ZoneInfo("Europe/Amsterdam")
_REGION = load_region()
NETWORK = load_network(None, _REGION, frozenset(load_rules().signals))
GEBIEDEN = [*_REGION.gebied_codes, REGIONAL_POOL]
PEOPLE = sorted(NETWORK.by_id)
#: A place in each gebied (pc4 within its range; the pool: a place outside the region).
PLACES = {"tilburg": ("5011", "Tilburg"), "langstraat": ("5141", "Waalwijk"),
          "oost": ("5061", "Oisterwijk"), "west": ("5101", "Dongen"),
          "zuid": ("5051", "Goirle"), REGIONAL_POOL: (None, "Utrecht")}  # fmt: skip
#: Category and signals that score to each level for a household without history.
LEVELS = {
    "crisis": [("huiselijk_geweld", ["levensgevaar"]),
               ("psychiatrie", ["levensgevaar", "suicidaal"])],
    "acuut": [("huiselijk_geweld", ["geweld_nu"]), ("verslaving", ["psychose"])],
    "hoog": [("huiselijk_geweld", ["dreiging"]),
             ("dakloosheid", ["zelfverwaarlozing", "geen_netwerk"])],
    "regulier": [("overig", ["schulden"]), ("overlast", ["agressie"])],
}  # fmt: skip
#: Where an example starts: (weekday, hour, minute) in Amsterdam; busy, shift end, night,
#: weekend.
STARTS = [(0, 10, 0), (0, 16, 58), (2, 3, 0), (5, 12, 0)]
LETTERS = "ABCDEFGHJKLMNPRTUVWXYZ"  # no S: SA, SD and SS are never issued
REASONS = ["Geen ruimte in mijn caseload.", "Hier is andere expertise nodig."]
WAITING = ("queued", "offered", "assigned", "escalated")
#: Audit actions (by melding) that leave a melding in a dispatch status. A link may move
#: a melding not yet accepted to its new case's gebied (queued there) or leave it as it
#: is; a handover gives an accepted melding's assignment to the new lead, status kept.
LEAVES = {
    "melding.offer": "offered", "melding.reassign": "offered",
    "assignment.accept": "assigned", "melding.escalate": "escalated",
    "melding.first_contact": "contacted", "assignment.decline": "queued",
    "assignment.expire": "queued", "assignment.withdraw": "queued",
    "melding.new_round": "queued", "melding.gebied": "queued", "melding.repair": "queued",
    "melding.close": "closed",
}  # fmt: skip
MAY_REQUEUE = {"case.link"}
KEEPS = {"assignment.handover"}
#: The audit actions that make an assignment.
MAKE_ASSIGNMENT = ("melding.offer", "melding.reassign", "assignment.handover")


def _settings() -> tuple[hypothesis.settings, int]:
    """Hypothesis' settings and how many steps to take at least (0: one run)."""
    common: dict[str, Any] = {
        "deadline": None,
        "suppress_health_check": list(HealthCheck),
        "print_blob": True,
    }
    if os.environ.get("TRIAGE_HYPOTHESIS_PROFILE") == "long":
        steps = int(os.environ.get("TRIAGE_MODEL_STEPS", "2500"))
        examples = max(1, math.ceil(steps / 50))
        return hypothesis.settings(max_examples=examples, stateful_step_count=50, **common), steps
    return hypothesis.settings(max_examples=25, stateful_step_count=40, **common), 0


class PausingClaimer(Claimer):
    """A claimer that stops its worker's round half-way (after the claim, or after the
    offers before the release) until told to go on: a slow worker that the other steps
    overtake, or, when the round is cancelled there, a worker that dies holding leases."""

    def __init__(self, runtime: Runtime, pause_at: str) -> None:
        super().__init__(runtime.redis, runtime.keys, runtime.settings.lease_seconds)
        self.pause_at = pause_at
        self.claimed: list[Claim] = []
        self.paused = asyncio.Event()
        self.go = asyncio.Event()

    async def claim(self, gebieden: Any, now: datetime, count: int = 1) -> list[Claim]:
        claims = await super().claim(gebieden, now, count)
        self.claimed = claims
        if claims and self.pause_at == "claim":
            self.paused.set()
            await self.go.wait()
        return claims

    async def release(self, claims: Any) -> None:
        if self.pause_at == "release":
            self.paused.set()
            await self.go.wait()
        await super().release(claims)


@dataclass
class SlowWorker:
    claimer: PausingClaimer
    task: asyncio.Task[int]


class World:
    """The service under test, opened once for all examples, on a loop of its own."""

    def __init__(self, servers: dict[str, str], settings: Settings) -> None:
        self.loop = asyncio.new_event_loop()
        self.stack = contextlib.AsyncExitStack()
        self.clock = FrozenClock(TEST_CLOCK.now())
        self.headers: dict[str, dict[str, str]] = {}
        self.stats: Counter[str] = Counter()
        self.examples = 0
        self.steps = 0
        self.run(self._open(servers, settings))

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    async def _open(self, servers: dict[str, str], settings: Settings) -> None:
        url = await self.stack.enter_async_context(
            migrated_database(servers["admin_url"], "triage_model")
        )
        self.owner_url = owner_url(url, servers["admin_url"])
        self.runtime = await self.stack.enter_async_context(
            own_runtime(settings, url, servers["redis_url"], "model", self.clock)
        )
        app = create_app(self.runtime, background=False)
        app.cleanup_ctx.clear()  # own_runtime closes the runtime
        self.client = await self.stack.enter_async_context(TestClient(TestServer(app)))
        now = self.clock.now()
        # The model's clock runs ahead example after example: tokens for as long.
        forever = timedelta(days=3650)
        async with self.runtime.pool.acquire() as conn:
            token = (await add_client(conn, "model-cit", Source.cit, now)).token
            self.headers["cit"] = {"Authorization": f"Bearer {token}"}
            token = (await add_user(conn, "model-operator", UserRole.operator, now,
                                    valid_for=forever)).token  # fmt: skip
            self.headers["operator"] = {"Authorization": f"Bearer {token}"}
            for gebied in GEBIEDEN:
                network = NETWORK.network_of(gebied)
                assert network is not None
                for person, role in [
                    *((m, UserRole.specialist) for m in network.members),
                    *((c, UserRole.coordinator) for c in network.coordinators),
                ]:
                    made = await add_user(conn, person, role, now, gebied=gebied,
                                          valid_for=forever)  # fmt: skip
                    self.headers[person] = {"Authorization": f"Bearer {made.token}"}
            for person in NETWORK.last_resort:
                made = await add_user(conn, person, UserRole.coordinator, now,
                                      gebied=REGIONAL_POOL, valid_for=forever)  # fmt: skip
                self.headers[person] = {"Authorization": f"Bearer {made.token}"}
            # What an example writes, emptied before the next: the tables the migrations
            # left empty (a row they seed stays), so not the accounts made above.
            names = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            self.tables = [r["tablename"] for r in names if not await conn.fetchval(
                f'SELECT EXISTS (SELECT FROM "{r["tablename"]}")'
            )]  # fmt: skip
        resp = await self.client.get("/api/v1/vocabulary/signals", headers=self.headers["cit"])
        vocabulary = await resp.json()
        known = {s["code"] for s in vocabulary["signals"]}
        categories = {c["code"] for c in vocabulary["categories"]}
        for category, signals in (c for options in LEVELS.values() for c in options):
            assert category in categories, category
            assert set(signals) <= known, signals

    async def reset(self, start: tuple[int, int, int]) -> Worker:
        """Empty tables and keys, the clock at the next ``start``, a fresh worker."""
        rt = self.runtime
        await rt.enqueuer.flush()
        # The audit log refuses deletes (by privilege and by trigger), and foreign keys
        # would ask for an order: as the owner, in a replica's session, neither applies.
        # This database is the test's own.
        conn = await asyncpg.connect(self.owner_url)
        try:
            await conn.execute("SET session_replication_role = replica")
            await conn.execute("; ".join(f'DELETE FROM "{t}"' for t in self.tables))
        finally:
            await conn.close()
        await forget(rt.redis, rt.keys)
        weekday, hour, minute = start
        local = (self.clock.now() + timedelta(days=1)).astimezone(AMS)
        while local.weekday() != weekday:
            local += timedelta(days=1)
        moment = datetime(local.year, local.month, local.day, hour, minute, tzinfo=AMS)
        self.clock.advance(moment - self.clock.now())
        return worker_for(rt)

    def close(self) -> None:
        self.run(self.stack.aclose())
        self.loop.close()


@dataclass
class Melding:
    id: UUID
    body: dict[str, Any]  # as sent, for a replay


class DispatchModel(RuleBasedStateMachine):
    world: ClassVar[World]

    def __init__(self) -> None:
        super().__init__()
        self.w = type(self).world
        self.rt = self.w.runtime
        self.clock = self.w.clock
        self.worker: Worker | None = None
        self.meldingen: list[Melding] = []
        self.index: dict[UUID, int] = {}
        self.cases: list[UUID] = []
        self.fresh = 0
        self.slow: SlowWorker | None = None
        self.slow_claimed: set[UUID] = set()  # what slow (or dead) workers claimed
        #: As the last check found them (for the rules' preconditions).
        self.found: Counter[str] = Counter()
        self.w.examples += 1

    # -- plumbing ---------------------------------------------------------------------

    def step(self, coro: Awaitable[Any], name: str) -> None:
        """Run one step, then what follows its commit and a timer pass."""

        async def run() -> None:
            await coro
            await self.settle()

        async def in_time() -> None:
            try:
                async with asyncio.timeout(60):
                    await run()
            except TimeoutError:
                raise AssertionError(f"{name} did not end in 60 s") from None

        self.w.steps += 1
        self.w.stats[f"step {name}"] += 1
        self.w.run(in_time())

    async def settle(self) -> None:
        """The enqueues sent, then the timers that move meldingen on, as every worker
        runs them every few seconds (called one by one, so that an error raises; the
        whole timer pass, deadlines and milestones too, runs when time passes)."""
        assert self.worker is not None
        await self.rt.enqueuer.flush()
        await self.worker.requeue_expired_leases()
        await self.worker.expire_offers()
        await self.worker.lapse_escalations()
        await self.rt.enqueuer.flush()

    async def call(
        self, rule: str, method: str, path: str, who: str, body: Any = None
    ) -> tuple[int, Any]:
        try:
            async with asyncio.timeout(10):  # an answer that never comes fails too
                resp = await self.w.client.request(
                    method, path, json=body, headers=self.w.headers[who]
                )
                text = await resp.text()
        except TimeoutError:
            raise AssertionError(f"{method} {path} as {who}: no answer in 10 s") from None
        self.w.stats[f"{rule} {resp.status}"] += 1
        assert resp.status < 500, f"{method} {path} as {who}: {resp.status} {text}"
        found = await resp.json() if resp.content_type == "application/json" else text
        return resp.status, found

    def pick(self, items: list[T], pick: int) -> T | None:
        return items[pick % len(items)] if items else None

    def order(self, melding_id: UUID) -> int:
        return self.index.get(melding_id, len(self.index))

    async def offers(self) -> list[Any]:
        rows = await self.rt.pool.fetch(
            "SELECT id, melding_id, specialist, answer_before FROM assignments"
            " WHERE state = 'offered'"
        )
        return sorted(rows, key=lambda r: self.order(r["melding_id"]))

    async def melding_row(self, melding_id: UUID) -> Any:
        return await self.rt.pool.fetchrow(
            "SELECT m.status, m.gebied, m.kind, a.specialist FROM meldingen m"
            " LEFT JOIN assignments a ON a.melding_id = m.id AND a.state IN ('offered', 'accepted')"
            " WHERE m.id = $1",
            melding_id,
        )

    # -- rules ------------------------------------------------------------------------

    @initialize(start=st.sampled_from(STARTS))
    def begin(self, start: tuple[int, int, int]) -> None:
        self.worker = self.w.run(self.w.reset(start))

    @rule(
        gebied=st.sampled_from(GEBIEDEN),
        level=st.sampled_from(list(LEVELS)),
        variant=st.integers(0, 1),
    )
    def intake(self, gebied: str, level: str, variant: int) -> None:
        """A melding about a household not seen before."""
        self.step(self._intake(gebied, level, variant, None), "intake")

    @rule(
        gebied=st.sampled_from(GEBIEDEN),
        level=st.sampled_from(list(LEVELS)),
        variant=st.integers(0, 1),
        household=st.integers(0, 1),
    )
    def intake_again(self, gebied: str, level: str, variant: int, household: int) -> None:
        """A melding about one of two households per gebied (a herhaalmelding, once one
        is known)."""
        self.step(self._intake(gebied, level, variant, household), "intake")

    async def _intake(self, gebied: str, level: str, variant: int, household: int | None) -> None:
        self.clock.advance(timedelta(seconds=1))  # distinct deadlines: a stable queue order
        category, signals = LEVELS[level][variant]
        pc4, place = PLACES[gebied]
        if household is None:
            n, self.fresh = self.fresh, self.fresh + 1
            letters, number, name = LETTERS[n % 22] + LETTERS[n // 22 % 22], 100 + n, f"Vers{n}"
        else:
            letters, number, name = LETTERS[household] * 2, household + 1, f"Huis{household}"
        address: dict[str, Any] = {"woonplaats": place}
        if pc4 is not None:  # the pool's: a place outside the region, no address
            address.update(postcode=f"{pc4} {letters}", huisnummer=number)
        body = melding_body(
            source="cit", received_at=self.clock.now().isoformat(), category=category,
            signals=signals, address=address,
            persons=[{"role": "slachtoffer", "voornaam": name, "achternaam": f"Model{gebied}"}],
        )  # fmt: skip
        status, found = await self.call("intake", "POST", "/api/v1/meldingen", "operator", body)
        assert status == 201, found
        assert found["gebied"] == gebied, found
        if household is None:  # no history: the level the rules give
            assert found["urgency"]["level"] == level, found
        melding_id, case_id = UUID(found["melding_id"]), UUID(found["case_id"])
        self.index[melding_id] = len(self.meldingen)
        self.meldingen.append(Melding(melding_id, body))
        if case_id not in self.cases:
            self.cases.append(case_id)

    @precondition(lambda self: self.meldingen)
    @rule(pick=st.integers(0, 100))
    def replay(self, pick: int) -> None:
        """The desk sends a melding again: the first answer, nothing changed."""
        self.step(self._replay(pick), "replay")

    async def _replay(self, pick: int) -> None:
        melding = self.pick(self.meldingen, pick)
        if melding is None:
            return
        status, found = await self.call("replay", "POST", "/api/v1/meldingen", "operator",
                                        melding.body)  # fmt: skip
        assert status == 200, found
        assert UUID(found["melding_id"]) == melding.id

    @precondition(lambda self: self.meldingen)
    @rule(pick=st.integers(0, 100))
    def read(self, pick: int) -> None:
        self.step(self._read(pick), "read")

    async def _read(self, pick: int) -> None:
        melding = self.pick(self.meldingen, pick)
        if melding is not None:
            status, found = await self.call(
                "read", "GET", f"/api/v1/meldingen/{melding.id}", "operator"
            )
            assert status == 200, found

    # Hypothesis favours the first of the rules without arguments (sorted by name): the
    # worker's, which move meldingen on, rather than a Redis flush on every other step.

    @precondition(lambda self: self.meldingen)
    @rule()
    def dispatch_round(self) -> None:
        """One round of the worker: claim, offer, release."""
        assert self.worker is not None
        self.step(self.worker.round(), "dispatch_round")

    @precondition(lambda self: self.meldingen)
    @rule()
    def dispatch_drain(self) -> None:
        """Rounds until the queues are empty (as a worker does while more waits)."""
        self.step(self._drain(), "dispatch_drain")

    async def _drain(self) -> None:
        assert self.worker is not None
        for _ in range(20):
            await self.worker.round()
            await self.rt.enqueuer.flush()
            if not any([await self.rt.redis.zcard(self.rt.keys.queue(g)) for g in GEBIEDEN]):
                break
        # Nothing else ran meanwhile: each melding claimed was offered or escalated, and
        # its lease released; only a slow or dead worker's leases are left.
        for gebied in GEBIEDEN:
            left = await self.rt.redis.zrange(self.rt.keys.leases(gebied)[0], 0, -1)
            assert {UUID(m.decode()) for m in left} <= self.slow_claimed, (
                f"a drain left meldingen of {gebied} claimed: {left}"
            )

    @precondition(lambda self: self.found["offered"])
    @rule(pick=st.integers(0, 100))
    def accept(self, pick: int) -> None:
        self.step(self._answer(pick, None), "accept")

    @precondition(lambda self: self.found["offered"])
    @rule(pick=st.integers(0, 100), reason=st.sampled_from(REASONS))
    def decline(self, pick: int, reason: str) -> None:
        self.step(self._answer(pick, reason), "decline")

    async def _answer(self, pick: int, reason: str | None) -> None:
        offer = self.pick(await self.offers(), pick)
        if offer is None:
            return
        verb = "accept" if reason is None else "decline"
        status, found = await self.call(
            verb, "POST", f"/api/v1/assignments/{offer['id']}/{verb}", offer["specialist"],
            None if reason is None else {"reason": reason},
        )  # fmt: skip
        assert status == 200, f"an open offer answered by the one it went to: {found}"

    @precondition(lambda self: self.found["offered"])
    @rule(pick=st.integers(0, 100), every=st.booleans())
    def expire(self, pick: int, every: bool) -> None:
        """Nobody answers an offer (every: any offer out): the clock passes its answer
        time, and the timers expire it."""
        self.step(self._expire(pick, every), "expire")

    async def _expire(self, pick: int, every: bool) -> None:
        offers = await self.offers()
        offer = self.pick(offers, pick)
        if offer is None:
            return
        until = max(o["answer_before"] for o in offers) if every else offer["answer_before"]
        self.clock.advance(max(until + timedelta(seconds=1) - self.clock.now(), timedelta(0)))
        await self.settle()
        state = await self.rt.pool.fetchval(
            "SELECT state FROM assignments WHERE id = $1", offer["id"]
        )
        assert state == "expired", f"an offer past its answer time is {state}"

    @precondition(lambda self: self.found["queued"] or self.found["offered"])
    @rule(pick=st.integers(0, 100))
    def nobody_answers(self, pick: int) -> None:
        """A melding goes round everyone it may be offered to and nobody answers, until it
        is escalated (worker rounds and expiries, checked after each)."""
        self.step(self._nobody_answers(pick), "nobody_answers")

    async def _nobody_answers(self, pick: int) -> None:
        rows = await self.rt.pool.fetch(
            "SELECT id FROM meldingen WHERE status IN ('queued', 'offered')"
        )
        melding = self.pick(sorted((r["id"] for r in rows), key=self.order), pick)
        for _ in range(20):
            await self._drain()
            await self.settle()
            offer = await self.rt.pool.fetchrow(
                "SELECT answer_before FROM assignments WHERE melding_id = $1 AND state = 'offered'",
                melding,
            )
            if offer is None:  # escalated (or left leased by a slow or dead worker)
                return
            self.clock.advance(max(offer["answer_before"] - self.clock.now(), timedelta(0))
                               + timedelta(seconds=1))  # fmt: skip
            await self.settle()

    @precondition(lambda self: self.meldingen)
    @rule(minutes=st.sampled_from([1, 10, 31, 120, 600]))
    def time_passes(self, minutes: int) -> None:
        self.clock.advance(timedelta(minutes=minutes))
        assert self.worker is not None
        self.step(self.worker.timers(), "time_passes")

    @precondition(lambda self: self.meldingen)
    @rule(
        kind=st.sampled_from(["absent", "extra"]),
        gebied=st.sampled_from(GEBIEDEN),
        pick=st.integers(0, 100),
        hours=st.sampled_from([1, 8, 48]),
    )
    def roster_change(self, kind: str, gebied: str, pick: int, hours: int) -> None:
        """The gebied's coordinator marks someone of its network absent, or adds an extra
        shift in the gebied for someone of its network or the regional backup, from now."""
        self.step(self._roster_change(kind, gebied, pick, hours), "roster_change")

    async def _roster_change(self, kind: str, gebied: str, pick: int, hours: int) -> None:
        network = NETWORK.network_of(gebied)
        assert network is not None
        people = [*network.members, *network.coordinators]
        if kind == "extra":  # or of the regional backup, which serves every gebied
            people += [*NETWORK.backup.members, *NETWORK.backup.coordinators]
        person = people[pick % len(people)]
        now = self.clock.now()
        body = {"kind": kind, "specialist": person, "start": now.isoformat(),
                "end": (now + timedelta(hours=hours)).isoformat(),
                "reason": "Ziek gemeld." if kind == "absent" else "Extra dienst.",
                **({"gebied": gebied} if kind == "extra" else {})}  # fmt: skip
        status, found = await self.call(
            "roster_change", "POST", f"/api/v1/gebieden/{gebied}/roster-changes",
            network.coordinators[0], body,
        )  # fmt: skip
        assert status == 201, found

    @precondition(lambda self: self.meldingen)
    @rule(pick=st.integers(0, 100), to=st.sampled_from(PEOPLE), by_coordinator=st.booleans())
    def reassign(self, pick: int, to: str, by_coordinator: bool) -> None:
        self.step(self._reassign(pick, to, by_coordinator), "reassign")

    async def _reassign(self, pick: int, to: str, by_coordinator: bool) -> None:
        melding = self.pick(self.meldingen, pick)
        if melding is None:
            return
        before = await self.melding_row(melding.id)
        who = NETWORK.coordinators_of(before["gebied"])[0] if by_coordinator else "operator"
        status, found = await self.call(
            "reassign", "POST", f"/api/v1/meldingen/{melding.id}/reassign", who,
            {"to": to, "reason": "Zij kent het gezin al."},
        )  # fmt: skip
        if before["status"] in WAITING and before["specialist"] != to:
            if to in NETWORK.may_take(before["gebied"]):
                assert status == 200, f"a {before['status']} melding reassigned by {who}: {found}"
            else:  # someone of another gebied would read all of a case not theirs
                assert status == 422, f"{to} given a melding of {before['gebied']}: {found}"

    @precondition(lambda self: self.meldingen)
    @rule(pick=st.integers(0, 100), gebied=st.sampled_from(GEBIEDEN))
    def move_gebied(self, pick: int, gebied: str) -> None:
        self.step(self._move(pick, gebied), "move_gebied")

    async def _move(self, pick: int, gebied: str) -> None:
        melding = self.pick(self.meldingen, pick)
        if melding is None:
            return
        before = await self.melding_row(melding.id)
        status, found = await self.call(
            "move_gebied", "POST", f"/api/v1/meldingen/{melding.id}/gebied", "operator",
            {"gebied": gebied, "reason": "Woont eigenlijk daar."},
        )  # fmt: skip
        if before["status"] in ("queued", "offered", "escalated") and before["gebied"] != gebied:
            assert status == 200, f"a {before['status']} melding moved by the desk: {found}"

    @precondition(lambda self: self.meldingen)
    @rule(pick=st.integers(0, 100), outcome=st.sampled_from(["dubbel", "geen_vervolg"]))
    def close_melding(self, pick: int, outcome: str) -> None:
        """The desk closes a melding before first contact (a second report, ...)."""
        self.step(self._close_melding(pick, outcome), "close_melding")

    async def _close_melding(self, pick: int, outcome: str) -> None:
        melding = self.pick(self.meldingen, pick)
        if melding is None:
            return
        before = await self.melding_row(melding.id)
        status, found = await self.call(
            "close_melding", "POST", f"/api/v1/meldingen/{melding.id}/close", "operator",
            {"outcome": outcome, "reason": "Zelfde voorval als een eerdere melding."},
        )  # fmt: skip
        if before["status"] in WAITING:
            assert status == 200, f"a {before['status']} melding closed by the desk: {found}"
        else:
            assert status == 409, f"a {before['status']} melding closed: {found}"

    @precondition(lambda self: self.meldingen)
    @rule(pick=st.integers(0, 100), case=st.integers(0, 100))
    def link(self, pick: int, case: int) -> None:
        self.step(self._link(pick, case), "link")

    async def _link(self, pick: int, case: int) -> None:
        melding, case_id = self.pick(self.meldingen, pick), self.pick(self.cases, case)
        if melding is None or case_id is None:
            return
        before = await self.rt.pool.fetchrow(
            "SELECT m.case_id, c.status FROM meldingen m, cases c WHERE m.id = $1 AND c.id = $2",
            melding.id, case_id,
        )  # fmt: skip
        status, found = await self.call(
            "link", "POST", f"/api/v1/meldingen/{melding.id}/link", "operator",
            {"case_id": str(case_id), "reason": "Zelfde huishouden."},
        )  # fmt: skip
        if before["case_id"] != case_id and before["status"] == "open":
            assert status == 200, f"a melding linked to another open case: {found}"

    @precondition(lambda self: self.meldingen)
    @rule(pick=st.integers(0, 100))
    def unlink(self, pick: int) -> None:
        self.step(self._unlink(pick), "unlink")

    async def _unlink(self, pick: int) -> None:
        melding = self.pick(self.meldingen, pick)
        if melding is None:
            return
        together = await self.rt.pool.fetchval(
            "SELECT count(*) FROM meldingen WHERE case_id ="
            " (SELECT case_id FROM meldingen WHERE id = $1)", melding.id,
        )  # fmt: skip
        status, found = await self.call(
            "unlink", "POST", f"/api/v1/meldingen/{melding.id}/unlink", "operator",
            {"reason": "Ander huishouden."},
        )  # fmt: skip
        if together > 1:
            assert status == 200, f"a melding taken out of a case of {together}: {found}"
        if status == 200 and UUID(found["case_id"]) not in self.cases:
            self.cases.append(UUID(found["case_id"]))

    @precondition(lambda self: self.meldingen)
    @rule(case=st.integers(0, 100), into=st.integers(0, 100))
    def merge(self, case: int, into: int) -> None:
        self.step(self._merge(case, into), "merge")

    async def _merge(self, case: int, into: int) -> None:
        case_id, into_id = self.pick(self.cases, case), self.pick(self.cases, into)
        if case_id is None or into_id is None:
            return
        open_ = await self.rt.pool.fetchval(
            "SELECT count(*) FROM cases WHERE id = ANY ($1::uuid[]) AND status = 'open'",
            [case_id, into_id],
        )  # fmt: skip
        status, found = await self.call(
            "merge", "POST", f"/api/v1/cases/{case_id}/merge", "operator",
            {"into_case_id": str(into_id), "reason": "Zelfde huishouden."},
        )  # fmt: skip
        if case_id != into_id and open_ == 2:
            assert status == 200, f"an open case merged into another: {found}"

    @precondition(lambda self: self.meldingen)
    @rule(case=st.integers(0, 100), done=st.booleans())
    def close_case(self, case: int, done: bool) -> None:
        """Close a case; done: one whose meldingen have all had first contact, if any."""
        self.step(self._close(case, done), "close_case")

    async def _close(self, case: int, done: bool) -> None:
        closable = [r["id"] for r in await self.rt.pool.fetch(
            "SELECT c.id FROM cases c WHERE c.status = 'open' AND NOT EXISTS (SELECT 1"
            " FROM meldingen m WHERE m.case_id = c.id AND m.status = ANY ($1::text[]))",
            list(WAITING),
        )]  # fmt: skip
        closable.sort(key=self.cases.index)
        case_id = self.pick(closable if done and closable else self.cases, case)
        if case_id is None:
            return
        status, found = await self.call(
            "close_case", "POST", f"/api/v1/cases/{case_id}/close", "operator",
            {"reason": "Hulp loopt, casus af."},
        )  # fmt: skip
        if case_id in closable:
            assert status == 200, f"an open case with nothing waiting closed: {found}"

    @precondition(lambda self: self.meldingen)
    @rule(case=st.integers(0, 100), to=st.sampled_from(PEOPLE), by_lead=st.booleans())
    def handover(self, case: int, to: str, by_lead: bool) -> None:
        """The case's lead (or its gebied's coordinator) proposes a colleague."""
        self.step(self._handover(case, to, by_lead), "handover")

    async def _handover(self, case: int, to: str, by_lead: bool) -> None:
        case_id = self.pick(self.cases, case)
        if case_id is None:
            return
        row = await self.rt.pool.fetchrow(
            "SELECT gebied, lead, status, EXISTS (SELECT 1 FROM case_handovers h"
            " WHERE h.case_id = c.id AND h.state = 'open') AS proposed FROM cases c"
            " WHERE id = $1", case_id,
        )  # fmt: skip
        who = row["lead"] if by_lead and row["lead"] else NETWORK.coordinators_of(row["gebied"])[0]
        status, found = await self.call(
            "handover", "POST", f"/api/v1/cases/{case_id}/handover", who,
            {"to": to, "reason": "Past beter bij haar expertise."},
        )  # fmt: skip
        if row["status"] == "open" and to != who:
            if to not in NETWORK.may_take(row["gebied"]):  # would read a case not theirs
                assert status == 422, f"a handover to someone of another gebied: {found}"
            elif not row["proposed"]:
                assert status == 200, f"a handover proposed by {who}: {found}"

    @precondition(lambda self: self.found["handover"])
    @rule(case=st.integers(0, 100))
    def handover_accept(self, case: int) -> None:
        self.step(self._handover_accept(case), "handover_accept")

    async def _handover_accept(self, case: int) -> None:
        rows = await self.rt.pool.fetch(
            "SELECT case_id, to_lead FROM case_handovers WHERE state = 'open'"
        )
        proposed = sorted(rows, key=lambda r: self.cases.index(r["case_id"]))
        row = self.pick(proposed, case)
        if row is not None:
            status, found = await self.call(
                "handover_accept", "POST", f"/api/v1/cases/{row['case_id']}/handover/accept",
                row["to_lead"],
            )  # fmt: skip
            assert status == 200, f"an open handover accepted by the one proposed: {found}"

    @precondition(lambda self: self.found["handover"])
    @rule(case=st.integers(0, 100), who=st.sampled_from(["to", "from", "coordinator"]))
    def handover_withdraw(self, case: int, who: str) -> None:
        """An open proposal ends without a takeover: declined by the colleague, withdrawn
        by the lead or ended by a coordinator of the gebied. The lead stays, and the case
        can be proposed again."""
        self.step(self._handover_withdraw(case, who), "handover_withdraw")

    async def _handover_withdraw(self, case: int, who: str) -> None:
        rows = await self.rt.pool.fetch(
            "SELECT h.case_id, h.to_lead, h.from_lead, c.lead, c.gebied FROM case_handovers h"
            " JOIN cases c ON c.id = h.case_id WHERE h.state = 'open'"
        )
        proposed = sorted(rows, key=lambda r: self.cases.index(r["case_id"]))
        row = self.pick(proposed, case)
        if row is None:
            return
        actor = {"to": row["to_lead"], "from": row["from_lead"]}.get(who)
        actor = actor or NETWORK.coordinators_of(row["gebied"])[0]
        status, found = await self.call(
            "handover_withdraw", "POST", f"/api/v1/cases/{row['case_id']}/handover/withdraw",
            actor, {"reason": "Toch niet, ik houd de casus."},
        )  # fmt: skip
        assert status == 200, f"an open handover ended by {who} ({actor}): {found}"
        lead = await self.rt.pool.fetchval("SELECT lead FROM cases WHERE id = $1", row["case_id"])
        assert lead == row["lead"], f"a handover withdrawn changed the lead: {found}"

    @precondition(lambda self: self.found["assigned"])
    @rule(pick=st.integers(0, 100))
    def first_contact(self, pick: int) -> None:
        self.step(self._first_contact(pick), "first_contact")

    async def _first_contact(self, pick: int) -> None:
        rows = await self.rt.pool.fetch(
            "SELECT m.id, a.specialist FROM meldingen m JOIN assignments a"
            " ON a.melding_id = m.id AND a.state = 'accepted' WHERE m.status = 'assigned'"
        )
        row = self.pick(sorted(rows, key=lambda r: self.order(r["id"])), pick)
        if row is not None:
            status, found = await self.call(
                "first_contact", "POST", f"/api/v1/meldingen/{row['id']}/first-contact",
                row["specialist"],
            )  # fmt: skip
            assert status == 200, f"first contact by the one who accepted: {found}"

    @precondition(lambda self: self.slow is None and self.found["queued"])
    @rule(pause_at=st.sampled_from(["claim", "release"]))
    def slow_worker_starts(self, pause_at: str) -> None:
        """A second worker's round stops after its claim, or after its offers before it
        releases the leases; the steps that follow overtake it."""
        self.step(self._slow_start(pause_at), "slow_worker_starts")

    async def _slow_start(self, pause_at: str) -> None:
        worker = worker_for(self.rt)
        claimer = PausingClaimer(self.rt, pause_at)
        worker._claimer = claimer  # the round as the worker runs it, with a pause in it
        task = asyncio.ensure_future(worker.round())
        paused = asyncio.ensure_future(claimer.paused.wait())
        await asyncio.wait([task, paused], return_when=asyncio.FIRST_COMPLETED)
        paused.cancel()
        self.slow_claimed.update(c.melding_id for c in claimer.claimed)
        if not task.done():
            self.slow = SlowWorker(claimer, task)

    @precondition(lambda self: self.slow is not None)
    @rule(dies=st.booleans())
    def slow_worker_ends(self, dies: bool) -> None:
        """The slow worker's round goes on where it stopped, or the worker is killed
        there: its leases are never released, they expire."""
        self.step(self._slow_ends(dies), "slow_worker_ends")

    async def _slow_ends(self, dies: bool) -> None:
        assert self.slow is not None
        slow, self.slow = self.slow, None
        if dies:
            slow.task.cancel()
            await asyncio.gather(slow.task, return_exceptions=True)
        else:
            slow.claimer.go.set()
            await slow.task

    @precondition(lambda self: self.meldingen)
    @rule()
    def redis_flushed(self) -> None:
        """Redis loses the deployment's keys; the reconciler rebuilds the queues."""
        self.step(self._redis_flushed(), "redis_flushed")

    async def _redis_flushed(self) -> None:
        await forget(self.rt.redis, self.rt.keys)
        await reconcile_once(self.rt.pool, self.rt.redis, self.rt.keys, None)

    def teardown(self) -> None:
        if self.slow is not None:
            self.w.run(self._slow_ends(dies=True))

    # -- invariants -------------------------------------------------------------------

    @invariant()
    def dispatch_is_consistent(self) -> None:
        if self.worker is not None:
            self.w.run(self._check())

    async def _check(self) -> None:
        """(a), (b) and (c) of the module docstring, read from PostgreSQL and Redis."""
        rt = self.rt
        meldingen = await rt.pool.fetch(
            "SELECT m.id, m.kind, m.status, m.gebied, m.escalated_until, c.status AS case_status,"
            "       ARRAY(SELECT a.state FROM assignments a WHERE a.melding_id = m.id"
            "              AND a.state IN ('offered', 'accepted')) AS active,"
            "       (SELECT min(a.answer_before) FROM assignments a WHERE a.melding_id = m.id"
            "         AND a.state = 'offered') AS answer_before,"
            "       (SELECT count(*) FROM assignments a WHERE a.melding_id = m.id) AS made,"
            "       (SELECT count(*) FROM assignments a WHERE a.melding_id = m.id"
            "         AND a.state = 'declined') AS declined,"
            "       (SELECT count(*) FROM assignments a WHERE a.melding_id = m.id"
            "         AND a.state = 'expired') AS expired"
            "  FROM meldingen m JOIN cases c ON c.id = m.case_id"
        )
        pipe = rt.redis.pipeline(transaction=False)
        places = [
            (f"{place} {gebied}", key)
            for gebied in GEBIEDEN
            for place, key in (
                ("queue", rt.keys.queue(gebied)),
                ("lease", rt.keys.leases(gebied)[0]),
            )
        ]
        for _, key in places:
            pipe.zrange(key, 0, -1)
        redis = {
            place: {m.decode() for m in members}
            for (place, _), members in zip(places, await pipe.execute(), strict=True)
        }
        trails: dict[UUID, list[tuple[int, str]]] = {}
        for row in await rt.pool.fetch(
            "SELECT id, melding_id, action FROM audit_log WHERE action = ANY ($1::text[])"
            " ORDER BY id", [*LEAVES, *MAY_REQUEUE, *KEEPS],
        ):  # fmt: skip
            trails.setdefault(row["melding_id"], []).append((row["id"], row["action"]))
        self.found = Counter(m["status"] for m in meldingen)
        self.found["handover"] = await rt.pool.fetchval(
            "SELECT count(*) FROM case_handovers WHERE state = 'open'"
        )
        self.w.stats.update(f"checked with one {s}" for s, n in self.found.items() if n)
        for m in meldingen:
            trail = [action for _, action in sorted(trails.get(m["id"], []))]
            where = sorted(k for k, ids in redis.items() if str(m["id"]) in ids)
            what = (
                f"melding #{self.order(m['id'])} {m['status']} in {m['gebied']}: active "
                f"{m['active']}, in Redis {where}, escalated_until {m['escalated_until']}, "
                f"case {m['case_status']}, now {self.clock.now()}, audit {trail}"
            )
            # (b) one active assignment at most
            assert len(m["active"]) <= 1, f"(b) more than one active assignment: {what}"
            if m["kind"] == "melding":
                self._check_state(m, redis, what)
                self._check_trail(m, trail, what)

    def _check_state(self, m: Any, redis: dict[str, set[str]], what: str) -> None:
        """(a) in exactly one state, with the evidence of that state."""
        status, active, key = m["status"], m["active"], str(m["id"])
        if status in WAITING:
            assert m["case_status"] == "open", f"(a) waiting in a closed case: {what}"
        if status == "queued":
            here = redis[f"queue {m['gebied']}"] | redis[f"lease {m['gebied']}"]
            assert key in here, f"(a) queued on no queue of its gebied, not leased: {what}"
            assert active == [], f"(a) queued with an assignment out: {what}"
        elif status == "offered":
            assert active == ["offered"], f"(a) offered without one offer out: {what}"
            assert m["answer_before"] > self.clock.now(), f"(a) an offer past its time: {what}"
        elif status == "assigned":
            assert active == ["accepted"], f"(a) assigned without an assignment: {what}"
        elif status == "escalated":
            assert active == [], f"(a) escalated with an assignment out: {what}"
            assert m["escalated_until"] > self.clock.now(), f"(a) an escalation not lapsed: {what}"
        elif status == "closed":  # by hand, before first contact: waits for nothing
            assert active == [], f"(a) closed with an assignment out: {what}"
            where = redis[f"queue {m['gebied']}"]
            assert key not in where, f"(a) closed and still on its queue: {what}"
        else:
            assert status == "contacted", f"(a) a melding in an unknown state: {what}"
            assert "offered" not in active, f"(a) contacted with an offer out: {what}"

    def _check_trail(self, m: Any, trail: list[str], what: str) -> None:
        """(c) the audit trail explains the state and every assignment."""
        leaves = {"queued"}  # as the intake leaves it
        for action in trail:
            if action in MAY_REQUEUE:
                leaves = leaves | {"queued"}
            elif action in LEAVES:
                leaves = {LEAVES[action]}
        assert m["status"] in leaves, f"(c) the audit trail leaves it {leaves}: {what}"
        made = sum(trail.count(action) for action in MAKE_ASSIGNMENT)
        assert m["made"] == made, f"(c) {m['made']} assignments, {made} audited: {what}"
        assert m["declined"] == trail.count("assignment.decline"), f"(c) declines: {what}"
        assert m["expired"] == trail.count("assignment.expire"), f"(c) expiries: {what}"


def test_the_dispatch_model_holds(servers: dict[str, str], settings: Settings) -> None:
    chosen, at_least = _settings()
    world = World(servers, settings)
    started = time.monotonic()
    try:
        DispatchModel.world = world
        run_state_machine_as_test(DispatchModel, settings=chosen)
        while world.steps < at_least:
            run_state_machine_as_test(DispatchModel, settings=chosen)
    finally:
        elapsed = time.monotonic() - started
        print(f"\ndispatch model: {world.examples} examples, {world.steps} steps, "
              f"{elapsed:.1f} s")  # fmt: skip
        for name, n in sorted(world.stats.items()):
            print(f"  {name}: {n}")
        world.close()
