"""Stopping background tasks so that they do stop.

A cancellation can be lost: when it lands while a library handles a timeout of its own
(``asyncio.timeout`` in the Redis and PostgreSQL drivers), the library may take it for its
own and carry on, and the task goes on as if it had never been asked (redis-py issues 2028
and 2551 describe the family). Then one round of the queue reconciler, say, sleeps its
interval out, and a stop that should take a second waits for it and is killed. So a task
still running after a cancel is cancelled again, until it ends or time runs out.
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Collection

import structlog

log = structlog.get_logger("triage.tasks")

#: How long a cancelled task has to clean up (end a transaction, close a subscription)
#: before it counts as going on, and how often it is cancelled again after that.
_GRACE_SECONDS = 0.5
_AGAIN_SECONDS = 0.1


async def cancel_and_wait(tasks: Collection[asyncio.Task[object]], *, within: float) -> None:
    """Cancel ``tasks`` and wait until each has ended, cancelling again those that go on;
    what still runs after ``within`` seconds is named in a warning and left."""
    pending = {task for task in tasks if not task.done()}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    wait = _GRACE_SECONDS
    while pending:
        for task in pending:
            task.cancel()
        left = deadline - loop.time()
        if left <= 0:
            log.warning("tasks_not_stopped", tasks=sorted(t.get_name() for t in pending),
                        after_seconds=within)  # fmt: skip
            return
        _, pending = await asyncio.wait(pending, timeout=min(wait, left))
        if pending and wait == _GRACE_SECONDS:
            log.info("tasks_cancelled_again", tasks=sorted(t.get_name() for t in pending))
        wait = _AGAIN_SECONDS
    # Collect their outcomes, so that none is reported as never retrieved.
    await asyncio.gather(*tasks, return_exceptions=True)


async def until_stopped(task: asyncio.Task[object], stop: asyncio.Event) -> bool:
    """Wait until ``stop`` is set or ``task`` ends by itself; whether it ended by itself.
    A process whose only task has ended must not go on looking alive (its health check
    answering, its unit running) while it does nothing: it exits and is restarted."""
    stopping = asyncio.create_task(stop.wait(), name="stop")
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if stop.is_set() or not task.done():  # asked to stop, even as the task ended
        return False
    log.error("task_ended", task=task.get_name(), **_how_it_ended(task))
    return True


def _how_it_ended(task: asyncio.Task[object]) -> dict[str, str | None]:
    """The error's type and where it was raised (file and line), never its message,
    which may hold what a melding said. A loop group's error is its first loop's."""
    if task.cancelled():
        return {"error": "cancelled", "at": None}
    error = task.exception()
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    if error is None:
        return {"error": None, "at": None}
    frames = traceback.extract_tb(error.__traceback__)
    at = f"{frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else None
    return {"error": type(error).__name__, "at": at}


def stop_if_asked(exc: Exception) -> None:
    """In a loop's handler of a failed step: when the task is being stopped, stop
    (raise CancelledError) instead of logging the failure and trying again. A library
    that swallows a cancellation often fails the call it was in instead (redis-py: a
    ConnectionError for the connection it dropped); the request to stop still shows in
    ``Task.cancelling()``."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from exc
