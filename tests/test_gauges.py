"""The gauges the timers set for Prometheus: queues, deadlines and roster coverage, from
the real PostgreSQL and the demo roster."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp.test_utils import TestClient
from prometheus_client import REGISTRY

from helpers import Tokens, melding_body
from triage.dispatch import gauges
from triage.routing.network import Change
from triage.routing.roster import on_duty
from triage.runtime import Runtime

AMS = ZoneInfo("Europe/Amsterdam")


def _value(name: str, **labels: str) -> float:
    value = REGISTRY.get_sample_value(name, labels)
    assert value is not None, f"{name}{labels} was not set"
    return value


async def test_queue_depth_age_and_deadlines_by_gebied_and_level(
    client: TestClient[Any, Any], tokens: Tokens, runtime: Runtime
) -> None:
    body = melding_body(source="cit", address={"woonplaats": "Dongen"}, signals=[],
                        category="overlast")  # fmt: skip
    resp = await client.post("/api/v1/meldingen", json=body, headers=tokens.user("operator"))
    melding = await resp.json()
    gebied, level = melding["gebied"], melding["urgency"]["level"]
    assert gebied == "west"
    window = timedelta(hours=72)
    now = runtime.clock.now() + timedelta(minutes=10)
    await gauges.refresh_queues(runtime.pool, runtime.network, now, window)
    assert _value("triage_queue_depth", gebied=gebied, level=level) >= 1
    assert _value("triage_queue_oldest_age_seconds", gebied=gebied, level=level) >= 600
    assert _value("triage_queue_depth", gebied="regio", level="crisis") >= 0  # zeros are set

    respond_before = datetime.fromisoformat(melding["urgency"]["respond_before"])
    await gauges.refresh_queues(runtime.pool, runtime.network,
                                respond_before - timedelta(minutes=1), window)  # fmt: skip
    assert _value("triage_meldingen_at_risk", gebied=gebied, level=level) >= 1
    await gauges.refresh_queues(runtime.pool, runtime.network,
                                respond_before + timedelta(minutes=1), window)  # fmt: skip
    assert _value("triage_meldingen_breached", gebied=gebied, level=level) >= 1


def test_coverage_now_and_over_the_next_hour(runtime: Runtime) -> None:
    """At night only the crisis service covers the gebieden; its night person absent
    from 02:00 shows as a gap in the next hour at 01:30, and as none at 03:00."""
    config = runtime.network
    absent = Change(kind="absent", specialist="cd-4",
                    start=datetime(2026, 11, 23, 2, 0, tzinfo=AMS),
                    end=datetime(2026, 11, 23, 4, 0, tzinfo=AMS))  # fmt: skip

    def refresh(at: datetime) -> None:
        gauges.refresh_rosters(config, at, on_duty(config, at, [absent]), [absent])

    refresh(datetime(2026, 11, 23, 1, 30, tzinfo=AMS))  # Sunday night into Monday
    assert _value("triage_gebied_coverage", gebied="tilburg", window="now") == 1
    assert _value("triage_gebied_coverage", gebied="tilburg", window="next_hour") == 0
    assert _value("triage_specialists_on_duty", gebied="regio", expertise="psychiatrie") == 1
    assert _value("triage_specialists_on_duty", gebied="tilburg", expertise="jeugd") == 0
    refresh(datetime(2026, 11, 23, 3, 0, tzinfo=AMS))
    assert _value("triage_gebied_coverage", gebied="oost", window="now") == 0
    refresh(datetime(2026, 11, 23, 10, 0, tzinfo=AMS))  # Monday morning: the networks work
    assert _value("triage_gebied_coverage", gebied="tilburg", window="now") > 5
    assert _value("triage_specialists_on_duty", gebied="tilburg", expertise="jeugd") >= 1
