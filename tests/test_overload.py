"""Past capacity the intake refuses at once (503, Retry-After) what it cannot store in
time, instead of queueing it without bound; nothing of a refused melding is stored."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, NamedTuple

import asyncpg
import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import REGISTRY
from pydantic import ValidationError
from structlog.testing import capture_logs

from helpers import TEST_CLOCK, count, melding_body, migrated_database, own_runtime
from triage.app import create_app
from triage.auth.accounts import add_client
from triage.auth.principal import Principal
from triage.config import Settings
from triage.intake.models import MeldingIn
from triage.intake.service import Submitted
from triage.problems import Problem
from triage.runtime import Runtime
from triage.vocabulary import Source

PATH = "/api/v1/meldingen"
MAX_WAIT = 0.2


class Answer(NamedTuple):
    body: dict[str, Any]
    status: int
    headers: dict[str, str]
    problem: dict[str, Any] | None


class Intake(NamedTuple):
    client: TestClient[Any, Any]
    runtime: Runtime
    database_url: str
    headers: dict[str, str]

    async def post(self, body: dict[str, Any]) -> Answer:
        async with self.client.post(PATH, json=body, headers=self.headers) as resp:
            problem = None
            if resp.content_type == "application/problem+json":
                problem = await resp.json(content_type=None)
            else:
                await resp.read()
            return Answer(body, resp.status, dict(resp.headers), problem)

    async def stored(self, body: dict[str, Any]) -> int:
        return await count(
            self.runtime.pool,
            "SELECT count(*) FROM meldingen WHERE source = $1 AND external_id = $2",
            body["source"],
            body["external_id"],
        )


@pytest.fixture
async def intake(
    settings: Settings, servers: dict[str, str], redis_url: str
) -> AsyncIterator[Intake]:
    """The API on a database of its own (the test locks a table of it), with a short
    bound on the wait."""
    bounded = settings.model_copy(update={"intake_max_wait_seconds": MAX_WAIT})
    async with (
        migrated_database(servers["admin_url"], "triage_overload") as url,
        own_runtime(bounded, url, redis_url, "overload") as runtime,
    ):
        async with runtime.pool.acquire() as conn:
            issued = await add_client(conn, "overload-politie", Source.politie, TEST_CLOCK.now())
        app = create_app(runtime, background=False)
        app.cleanup_ctx.clear()  # own_runtime closes the runtime
        async with TestClient(TestServer(app)) as client:
            headers = {"Authorization": f"Bearer {issued.token}"}
            yield Intake(client, runtime, url, headers)


#: Sessions of this database (the test's own) waiting for a lock. Asked outside the
#: transaction that holds the lock: a transaction sees one snapshot of pg_stat_activity.
_WAITING_FOR_LOCK = """
    SELECT count(*) FROM pg_stat_activity
    WHERE datname = current_database() AND wait_event_type = 'Lock'
"""


@asynccontextmanager
async def meldingen_locked(intake: Intake) -> AsyncIterator[None]:
    """The database stops writing meldingen (reads go on) until the block ends."""
    blocker = await asyncpg.connect(intake.database_url)
    lock = blocker.transaction()
    await lock.start()
    await blocker.execute("LOCK TABLE meldingen IN EXCLUSIVE MODE")
    try:
        yield
    finally:
        await lock.rollback()
        await blocker.close()


async def principal_of(intake: Intake) -> Principal:
    """Who the test's client is, to submit to the intake itself rather than over HTTP."""
    principal = await intake.runtime.authenticator.authenticate(
        intake.headers["Authorization"].removeprefix("Bearer ")
    )
    assert principal is not None
    return principal


def _shed() -> float:
    return REGISTRY.get_sample_value("triage_intake_shed_total") or 0.0


async def test_past_the_bound_new_meldingen_are_refused_at_once_and_none_is_stored(
    intake: Intake,
) -> None:
    assert (await intake.post(melding_body())).status == 201
    shed_before = _shed()

    with capture_logs() as logs:
        # The database stops writing meldingen: whatever the intake takes in now waits.
        async with meldingen_locked(intake):
            # More than a batch: fewer are never refused.
            first = [asyncio.create_task(intake.post(melding_body())) for _ in range(60)]
            for _ in range(100):  # until the intake's first write waits for the lock
                await asyncio.sleep(0.05)
                if await count(intake.runtime.pool, _WAITING_FOR_LOCK):
                    break
            assert await count(intake.runtime.pool, _WAITING_FOR_LOCK)
            # Until all of them are in, and what the intake holds has waited past the bound.
            await asyncio.sleep(max(0.5, 2 * MAX_WAIT))
            loop = asyncio.get_running_loop()
            started = loop.time()
            second = await asyncio.gather(*(intake.post(melding_body()) for _ in range(20)))
            # Refused at once: not after the database came back.
            assert loop.time() - started < 5
            assert not any(task.done() and task.result().status != 503 for task in first)
            # Refused before anything else costs: whoever sends it, whatever it holds.
            unread = await _post_raw(intake, b"{", {"Authorization": "Bearer not-a-token"})
        answers = [*await asyncio.gather(*first), *second]
        # A second later, the first melding taken in again says how many were refused.
        await asyncio.sleep(1.0)
        assert (await intake.post(melding_body())).status == 201

    assert unread.status == 503
    assert {a.status for a in answers} <= {201, 503}
    assert all(a.status == 503 for a in second)
    assert any(a.status == 201 for a in answers)  # the first one in was never refused
    refused = [a for a in answers if a.status == 503]
    for answer in [*refused, unread]:
        assert answer.headers["Retry-After"] == "5"
        assert answer.headers["X-Request-ID"]
        assert answer.problem is not None
        assert answer.problem["status"] == 503
        assert answer.problem["type"].endswith("/overloaded")
        assert "not stored" in answer.problem["detail"]
    assert _shed() - shed_before == len(refused) + 1
    for answer in answers:  # every 201 stored once; nothing of a 503
        assert await intake.stored(answer.body) == (1 if answer.status == 201 else 0)
    # Refusals at the door are not a log line each: a line a second with their number.
    lines = {e["request_id"] for e in logs if e["event"] == "request"}
    assert not lines & {a.headers["X-Request-ID"] for a in [*second, unread]}
    shed_lines = [e for e in logs if e["event"] == "intake_shed"]
    assert 2 <= len(shed_lines) <= 4
    late = sum(1 for e in logs if e["event"] == "request" and e["status"] == 503)
    assert sum(e["refused"] for e in shed_lines) + late == len(refused) + 1

    # Once the overload has passed, meldingen are taken in again; a refused one sent
    # again is a plain new submission, and a stored one sent again a replay.
    assert intake.runtime.intake.waited() == 0
    again = await asyncio.gather(*(intake.post(a.body) for a in refused[:5]))
    assert [a.status for a in again] == [201] * len(again)
    assert [await intake.stored(a.body) for a in again] == [1] * len(again)
    accepted = next(a for a in answers if a.status == 201)
    assert (await intake.post(accepted.body)).status == 200
    new = await asyncio.gather(*(intake.post(melding_body()) for _ in range(10)))
    assert [a.status for a in new] == [201] * 10


async def _post_raw(intake: Intake, body: bytes, headers: dict[str, str]) -> Answer:
    async with intake.client.post(
        PATH, data=body, headers={**headers, "Content-Type": "application/json"}
    ) as resp:
        problem = await resp.json(content_type=None)
        return Answer({}, resp.status, dict(resp.headers), problem)


async def test_fewer_than_a_batch_are_never_refused_however_long_they_wait(
    intake: Intake,
) -> None:
    async with meldingen_locked(intake):
        first = [asyncio.create_task(intake.post(melding_body())) for _ in range(40)]
        await asyncio.sleep(max(0.5, 2 * MAX_WAIT))  # all in, waiting past the bound
        second = [asyncio.create_task(intake.post(melding_body())) for _ in range(5)]
        await asyncio.sleep(0.2)
        assert not any(task.done() for task in [*first, *second])
    answers = await asyncio.gather(*first, *second)
    assert [a.status for a in answers] == [201] * 45


async def test_what_waited_past_the_bound_for_a_writer_is_refused_when_one_comes(
    intake: Intake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Taken in before the wait grew (admit() let them in) but left waiting for a writer
    past the bound (here: the database stopped writing): refused when a writer comes for
    them, not written and answered late. The batches being written are answered.

    Submitted to the intake itself, not over HTTP, with the intake's clock of waits
    stopped while it takes them in: the test needs all of them in before the bound has
    passed, and a slow machine took in fewer than 250 of the 400 in 200 ms (admit()
    refused the rest, rightly). The clock then moves past the bound."""
    runtime = intake.runtime
    principal = await principal_of(intake)
    shed_before = _shed()
    bodies = [melding_body() for _ in range(400)]
    parsed = [runtime.intake.parse(orjson.dumps(body)) for body in bodies]
    stopped = runtime.intake.timer()
    monkeypatch.setattr(runtime.intake, "timer", lambda: stopped)

    async def submit(melding: MeldingIn) -> Submitted:
        return await runtime.intake.submit(
            melding, principal, request_id="overload-test", endpoint="POST /api/v1/meldingen"
        )

    async with meldingen_locked(intake):
        answers = [asyncio.create_task(submit(melding)) for melding in parsed]
        await asyncio.sleep(0)
        assert runtime.intake.held() == len(bodies)  # all taken in at once
        await asyncio.sleep(MAX_WAIT)  # the writers take their batches and wait for the lock
        assert runtime.intake.held() == len(bodies)
        monkeypatch.setattr(runtime.intake, "timer", lambda: stopped + 2 * MAX_WAIT)
    outcomes = await asyncio.gather(*answers, return_exceptions=True)
    refused = [o for o in outcomes if isinstance(o, Problem)]
    assert refused
    assert all(p.status == 503 and p.type.endswith("/overloaded") for p in refused)
    assert _shed() - shed_before == len(refused)
    # the batches being written when the database came back: answered, not refused
    assert sum(1 for o in outcomes if isinstance(o, Submitted)) >= 48
    for body, outcome in zip(bodies, outcomes, strict=True):  # every 201 stored, no 503
        assert await intake.stored(body) == (1 if isinstance(outcome, Submitted) else 0)


async def test_one_batch_is_written_at_a_time_and_another_only_for_a_full_batch(
    intake: Intake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What arrives while a batch is written waits for the next one, so batches grow with
    the load instead of each melding starting a transaction of its own; a second batch
    is started only while a full one waits besides. Seen from PostgreSQL: the intake's
    transactions waiting for the locked table are its batches being written. The clock
    of waits is stopped so that nothing is refused while the table is locked."""
    runtime = intake.runtime
    principal = await principal_of(intake)
    stopped = runtime.intake.timer()
    monkeypatch.setattr(runtime.intake, "timer", lambda: stopped)

    async def writing(expected: int) -> int:
        """The intake's transactions waiting for the lock, once ``expected`` are (or
        after 2 s), and again a little later: none more come."""
        for _ in range(40):
            if await count(runtime.pool, _WAITING_FOR_LOCK) >= expected:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        return await count(runtime.pool, _WAITING_FOR_LOCK)

    bodies = [melding_body() for _ in range(10 + 48 + 5)]

    def submit(body: dict[str, Any]) -> asyncio.Task[Submitted]:
        melding = runtime.intake.parse(orjson.dumps(body))
        return asyncio.create_task(runtime.intake.submit(
            melding, principal, request_id="writer-test", endpoint="POST /api/v1/meldingen",
        ))  # fmt: skip

    async with meldingen_locked(intake):
        first = [submit(body) for body in bodies[:1]]
        assert await writing(1) == 1  # the first is written at once, alone
        more = [submit(body) for body in bodies[1:10]]
        assert await writing(2) == 1  # 9 wait for the next batch: no writer of their own
        rest = [submit(body) for body in bodies[10:]]
        assert await writing(2) == 2  # 62 wait: a full batch besides gets a second writer
        assert runtime.intake.held() == len(bodies)
    answers = await asyncio.gather(*first, *more, *rest)
    assert all(a.created for a in answers)
    for body in bodies:
        assert await intake.stored(body) == 1


def test_the_bound_is_a_positive_number_of_seconds() -> None:
    assert Settings().intake_max_wait_seconds == 0.05
    assert Settings(intake_max_wait_seconds="0.25").intake_max_wait_seconds == 0.25
    for bad in ("0", "-1", "11", "soon"):
        with pytest.raises(ValidationError, match="intake_max_wait_seconds"):
            Settings(intake_max_wait_seconds=bad)
