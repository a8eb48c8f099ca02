"""Deployments and test runs that share a Redis server keep apart by their key prefix,
pub/sub included (pub/sub ignores database numbers)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from uuid import uuid4

import pytest

from helpers import own_runtime
from triage.config import Settings
from triage.effects import Tell
from triage.notify import events
from triage.queue.keys import Keys, forget
from triage.runtime import Runtime
from triage.vocabulary import Level


def test_a_prefix_that_could_reach_other_keys_is_refused() -> None:
    for bad in ("", "a:b", "triage*", "{x}", "x" * 65):
        with pytest.raises(ValueError, match="Redis prefix"):
            Keys(bad)
    assert Keys("triage-test_1.a").queue("zuid") == "triage-test_1.a:queue:{zuid}"


async def test_two_prefixes_on_one_redis_see_neither_queues_nor_events_of_the_other(
    runtime: Runtime, settings: Settings, database_url: str, redis_url: str
) -> None:
    async with own_runtime(settings, database_url, redis_url, "other") as other:
        melding_id = uuid4()
        now = runtime.clock.now()
        other.enqueuer.submit("zuid", melding_id, Level.acuut, now + timedelta(hours=24), now)
        await other.enqueuer.flush()
        assert await other.redis.zscore(other.keys.queue("zuid"), str(melding_id)) is not None
        assert await runtime.redis.zscore(runtime.keys.queue("zuid"), str(melding_id)) is None

        mine = events.stream(runtime.events, "sp-zuid-1")
        theirs = events.stream(other.events, "sp-zuid-1")
        assert await anext(mine) == b": connected\n\n"
        assert await anext(theirs) == b": connected\n\n"
        await other.after_commit.apply([Tell("sp-zuid-1", "offer", {"assignment_id": "a"})])
        assert b"event: offer" in await asyncio.wait_for(anext(theirs), 5)
        with pytest.raises(TimeoutError):  # the same user under another prefix hears nothing
            await asyncio.wait_for(anext(mine), 2.5)
        await mine.aclose()
        await theirs.aclose()

        # Forgetting one deployment's keys leaves the other's alone.
        await runtime.redis.set(runtime.keys.rebuilt, "1")
        assert await forget(other.redis, other.keys) >= 1
        assert await other.redis.zscore(other.keys.queue("zuid"), str(melding_id)) is None
        assert await runtime.redis.exists(runtime.keys.rebuilt)
