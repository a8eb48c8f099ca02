"""The published contract, health endpoints and metrics."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from helpers import Tokens, melding_body
from triage.vocabulary import Source

Client = TestClient[Any, Any]


async def test_openapi_is_generated_from_the_models(client: Client) -> None:
    resp = await client.get("/api/openapi.json")
    assert resp.status == 200
    doc = await resp.json()
    assert doc["openapi"].startswith("3.1")
    post = doc["paths"]["/api/v1/meldingen"]["post"]
    ref = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = doc["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert {"source", "external_id", "received_at", "kind", "category"} <= set(schema["required"])
    assert {"201", "200", "409", "413", "415", "422", "503"} <= set(post["responses"])
    assert doc["paths"]["/healthz"]["get"]["security"] == []
    [limit] = doc["paths"]["/api/v1/reviews"]["get"]["parameters"]
    assert (limit["name"], limit["in"], limit["schema"]["maximum"]) == ("limit", "query", 500)
    merge = doc["paths"]["/api/v1/cases/{case_id}/merge"]["post"]
    assert merge["parameters"][0]["name"] == "case_id"
    assert "409" in merge["responses"]
    page = await client.get("/api/docs")
    assert page.status == 200
    assert "/api/openapi.json" in await page.text()


async def test_vocabulary_and_gebieden_are_published(client: Client, tokens: Tokens) -> None:
    headers = tokens.client(Source.wijkteam)
    vocab = await (await client.get("/api/v1/vocabulary/signals", headers=headers)).json()
    codes = {s["code"] for s in vocab["signals"]}
    assert {"geweld_nu", "wurging", "weinig_informatie", "dakloos_vorst"} <= codes
    assert all(s["label"] and s["description"] for s in vocab["signals"])
    gebieden = await (await client.get("/api/v1/gebieden", headers=headers)).json()
    assert [g["code"] for g in gebieden["gebieden"]] == [
        "tilburg",
        "langstraat",
        "oost",
        "west",
        "zuid",
    ]


async def test_health_and_readiness(client: Client) -> None:
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200
    assert await ready.json() == {"status": "ready", "postgres": "ok", "redis": "ok"}


def _sample(text: str, name: str, labels: str) -> float:
    prefix = f"{name}{{{labels}}} "
    lines = [line for line in text.splitlines() if line.startswith(prefix)]
    return float(lines[0][len(prefix) :]) if lines else 0.0


def _count(text: str, name: str) -> float:
    """An unlabelled sample (0 before its first observation)."""
    return next((float(line.split()[1]) for line in text.splitlines()
                 if line.startswith(f"{name} ")), 0.0)  # fmt: skip


async def test_metrics_need_the_ops_role_and_count_intake(client: Client, tokens: Tokens) -> None:
    assert (await client.get("/metrics")).status == 401
    assert (await client.get("/metrics", headers=tokens.user("operator"))).status == 403
    name, labels = "triage_meldingen_stored_total", 'kind="melding",source="ggz"'
    first = await (await client.get("/metrics", headers=tokens.user("ops"))).text()
    before = _sample(first, name, labels)
    recognised = _count(first, "triage_intake_recognition_seconds_count")
    for _ in range(3):
        await client.post(
            "/api/v1/meldingen", json=melding_body(source="ggz"), headers=tokens.client(Source.ggz)
        )
    text = await (await client.get("/metrics", headers=tokens.user("ops"))).text()
    assert _sample(text, name, labels) == before + 3
    # What recognition and scoring add to each melding's intake is measured, per melding.
    assert _count(text, "triage_intake_recognition_seconds_count") >= recognised + 3
    assert (
        'triage_http_request_duration_seconds_bucket{le="0.01",route="/api/v1/meldingen"}' in text
    )
    assert "Persoon" not in text  # metrics carry codes and counts, never personal data
