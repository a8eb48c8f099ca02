"""Stopping background tasks when a cancellation is lost on the way.

No service is involved: the task below loses its first cancellation on purpose, as
``asyncio.wait_for`` of Python 3.11 does when its inner call completes at the moment the
cancellation lands (the drivers' timeouts use it), which is rare and timing-bound in the
real processes: a stop of ``triage serve`` hung on it once in about 25 tries."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from typing import Any

from structlog.testing import capture_logs

from triage.tasks import cancel_and_wait, stop_if_asked, until_stopped


async def _loses_one_cancel(started: asyncio.Event) -> None:
    started.set()
    with contextlib.suppress(asyncio.CancelledError):  # lost, as described above
        await asyncio.sleep(30)
    await asyncio.sleep(30)


_STUBBORN = {"on": True}


async def _never_stops(started: asyncio.Event) -> None:
    """Loses every cancellation until the test lets it go."""
    started.set()
    while _STUBBORN["on"]:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(30)


async def _started(
    coroutine_of: Callable[[asyncio.Event], Coroutine[Any, Any, None]], name: str
) -> tuple[asyncio.Task[None], float]:
    started = asyncio.Event()
    task = asyncio.create_task(coroutine_of(started), name=name)
    await started.wait()
    return task, time.monotonic()


async def test_a_task_that_loses_a_cancellation_is_cancelled_again_and_stops() -> None:
    task, began = await _started(_loses_one_cancel, "reconciler")
    with capture_logs() as logs:
        await cancel_and_wait([task], within=5.0)
    took = time.monotonic() - began
    assert task.cancelled()
    assert took < 2.0, took  # the grace of half a second, then at once; not the 30 s sleep
    assert [e["event"] for e in logs] == ["tasks_cancelled_again"]
    assert logs[0]["tasks"] == ["reconciler"]


async def test_tasks_that_stop_at_the_first_cancel_take_no_grace() -> None:
    tasks = [asyncio.create_task(asyncio.sleep(30), name=f"t{i}") for i in range(3)]
    await asyncio.sleep(0)
    began = time.monotonic()
    with capture_logs() as logs:
        await cancel_and_wait(tasks, within=5.0)
    assert all(t.cancelled() for t in tasks)
    assert time.monotonic() - began < 0.4
    assert logs == []


async def test_a_task_that_will_not_stop_is_named_and_left_after_the_time_given() -> None:
    task, began = await _started(_never_stops, "stubborn")
    with capture_logs() as logs:
        await cancel_and_wait([task], within=1.0)
    took = time.monotonic() - began
    try:
        assert not task.done()
        assert 1.0 <= took < 2.0, took
        warned = [e for e in logs if e["event"] == "tasks_not_stopped"]
        assert [(e["tasks"], e["log_level"]) for e in warned] == [(["stubborn"], "warning")]
    finally:
        _STUBBORN["on"] = False
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_loop_whose_step_fails_because_it_was_cancelled_stops_at_once() -> None:
    """redis-py, cancelled in a read, drops the connection and raises ConnectionError: the
    loop must stop there, not log the failure as an outage and go on."""
    retried = []

    async def step() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            raise ConnectionError("connection dropped") from None

    async def loop(started: asyncio.Event) -> None:
        started.set()
        while True:
            try:
                await step()
            except Exception as exc:
                stop_if_asked(exc)
                retried.append(exc)
                await asyncio.sleep(30)

    task, began = await _started(loop, "worker")
    with capture_logs() as logs:
        await cancel_and_wait([task], within=5.0)
    assert task.cancelled()
    assert retried == []
    assert logs == []
    assert time.monotonic() - began < 0.4  # no grace waited out, no second cancel


async def test_outside_a_stop_a_failed_step_is_left_to_the_loop() -> None:
    stopped = False
    try:
        stop_if_asked(ConnectionError("Redis is down"))  # nothing asked this task to stop
    except asyncio.CancelledError:
        stopped = True
    assert not stopped


async def test_a_process_whose_task_ends_by_itself_says_so_and_a_stop_does_not() -> None:
    """A worker whose loop died must not go on looking alive: ``until_stopped`` returns
    when the task ends by itself (the process then exits non-zero and is restarted) as
    it does when asked to stop."""

    async def fails() -> None:
        await asyncio.sleep(0.01)
        raise RuntimeError("a bug in a loop")

    stop = asyncio.Event()
    task = asyncio.create_task(fails(), name="worker")
    with capture_logs() as logs:
        assert await asyncio.wait_for(until_stopped(task, stop), 5) is True
    assert [(e["event"], e["task"], e["error"]) for e in logs] == [
        ("task_ended", "worker", "RuntimeError")
    ]
    assert logs[0]["at"].startswith("test_tasks.py:")  # where, not what it said
    assert "a bug in a loop" not in str(logs)

    running = asyncio.create_task(asyncio.sleep(30), name="worker")
    asyncio.get_running_loop().call_later(0.01, stop.set)
    assert await asyncio.wait_for(until_stopped(running, stop), 5) is False
    await cancel_and_wait([running], within=1)
