"""The process indicators over a period nobody else uses (March 2026), by the API and the
command line. The meldingen come in through the API; the states the indicators read
(first contact, milestones done, escalations) are set in SQL here, because what is under
test is the counting: the flows that set them are tested in test_dispatch.py."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient

from helpers import TEST_CLOCK, Tokens, melding_body
from triage import cli
from triage.runtime import Runtime
from triage.vocabulary import Source

AMS = ZoneInfo("Europe/Amsterdam")
MARCH = "from=2026-03-01&until=2026-04-01"


async def _melding(
    client: TestClient[Any, Any], tokens: Tokens, day: int, **kw: Any
) -> dict[str, Any]:
    received = datetime(2026, 3, day, 10, 0, tzinfo=AMS)
    body = melding_body(
        source="cit",
        address={"woonplaats": "Riel"},
        received_at=received.isoformat(),
        persons=[{"role": "slachtoffer", "voornaam": "Test", "achternaam": "Persoon"}],
    )
    with TEST_CLOCK.at(received + timedelta(minutes=1)):  # posted as it came in
        resp = await client.post("/api/v1/meldingen", json=body, headers=tokens.user("operator"))
    assert resp.status == 201, await resp.text()
    data: dict[str, Any] = await resp.json()
    assert data["gebied"] == "zuid"
    return data


@pytest.fixture(scope="module")
async def march(client: TestClient[Any, Any], tokens: Tokens, runtime: Runtime) -> None:
    """Four meldingen in zuid: contact in time (two), contact late, none (deadline past);
    plans done in time and late, a handover not done; one escalated at risk."""
    made = [await _melding(client, tokens, day) for day in (2, 3, 4, 5)]
    ids = [UUID(m["melding_id"]) for m in made]
    await runtime.enqueuer.flush()
    for melding_id in ids[:3]:  # contacted below: off the queue, as dispatch would have it
        await runtime.enqueuer.withdraw("zuid", melding_id)
    async with runtime.pool.acquire() as conn:
        for melding_id, early in zip(ids[:3], (True, True, False), strict=True):
            await conn.execute(
                "UPDATE meldingen SET status = 'contacted', first_contact_at ="
                " CASE WHEN $2 THEN respond_before - interval '1 hour'"
                " ELSE respond_before + interval '1 hour' END WHERE id = $1", melding_id, early,
            )  # fmt: skip
        case_ids = [UUID(m["case_id"]) for m in made]
        due = datetime(2026, 3, 10, 12, 0, tzinfo=AMS)
        for case_id, kind, done in ((case_ids[0], "plan", due - timedelta(days=1)),
                                    (case_ids[1], "plan", due + timedelta(days=2)),
                                    (case_ids[2], "handover", None)):  # fmt: skip
            await conn.execute(
                "INSERT INTO case_milestones (case_id, kind, due_at, done_at, done_by)"
                " VALUES ($1, $2, $3, $4, $5)", case_id, kind, due, done,
                None if done is None else "sp-zuid-1",
            )  # fmt: skip
        await conn.execute(
            "INSERT INTO escalations (melding_id, kind, at, gebied, coordinator, status)"
            " VALUES ($1, 'at_risk', $2, 'zuid', 'co-zuid', 'queued')", ids[3], due,
        )  # fmt: skip


async def test_the_indicators_of_a_period_per_gebied(
    client: TestClient[Any, Any], tokens: Tokens, march: None
) -> None:
    resp = await client.get(f"/api/v1/kpi?{MARCH}", headers=tokens.user("operator"))
    assert resp.status == 200, await resp.text()
    found = await resp.json()
    [zuid] = [g for g in found["gebieden"] if g["gebied"] == "zuid"]
    assert zuid["meldingen"] == 4
    assert zuid["first_contact_within_norm"] == {"done": 2, "of": 4, "share": 0.5}
    assert zuid["plan_within_7_days"] == {"done": 1, "of": 2, "share": 0.5}
    assert zuid["handover_within_100_days"] == {"done": 0, "of": 1, "share": 0.0}
    assert zuid["evaluation_by_180_days"] == {"done": 0, "of": 0, "share": None}
    assert zuid["escalated_at_risk"] == {"done": 1, "of": 4, "share": 0.25}
    assert zuid["herhaalmeldingen"]["of"] == 4
    assert found["total"]["meldingen"] >= 4
    text = json.dumps(found)
    assert "Riel" not in text  # counts only
    assert "Persoon" not in text

    only = await client.get(f"/api/v1/kpi?{MARCH}&gebied=zuid", headers=tokens.user("cit"))
    assert [g["gebied"] for g in (await only.json())["gebieden"]] == ["zuid"]


async def test_who_may_see_the_indicators(
    client: TestClient[Any, Any], tokens: Tokens, march: None
) -> None:
    coordinator = tokens.user("coordinator-tilburg")
    own = await client.get(f"/api/v1/kpi?{MARCH}", headers=coordinator)
    assert own.status == 200
    assert {g["gebied"] for g in (await own.json())["gebieden"]} <= {"tilburg"}
    other = await client.get(f"/api/v1/kpi?{MARCH}&gebied=zuid", headers=coordinator)
    assert other.status == 403
    assert (await client.get("/api/v1/kpi", headers=tokens.user("specialist-zuid"))).status == 403
    assert (await client.get("/api/v1/kpi", headers=tokens.client(Source.politie))).status == 403
    for bad in ("from=2026-04-01&until=2026-03-01", "from=maart", "gebied=atlantis"):
        resp = await client.get(f"/api/v1/kpi?{bad}", headers=tokens.user("operator"))
        assert resp.status == 422, bad


def test_triage_report_prints_the_same_counts(
    database_url: str, march: None, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("TRIAGE_DATABASE_URL", database_url)
    # main() points logging at this test's captured stderr, which closes after it; the
    # suite's own log configuration stays (logging is not what is tested here).
    monkeypatch.setattr(cli, "configure_logging", lambda *_, **__: None)
    args = ["report", "--from", "2026-03-01", "--until", "2026-04-01", "--gebied", "zuid"]
    assert cli.main([*args, "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["total"]["first_contact_within_norm"] == {"done": 2, "of": 4, "share": 0.5}
    assert cli.main(args) == 0
    table = capsys.readouterr().out
    assert "50% (2/4)" in table
    assert cli.main(["report", "--from", "2026-04-01", "--until", "2026-03-01"]) == 2
