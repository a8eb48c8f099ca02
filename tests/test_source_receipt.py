"""A source system gets a receipt: what it sent was stored and where it stands, never what
the service knows from elsewhere (the household, its case and history, other people's
reports, who works on it). Tried as an attacker with a source's token would."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any
from uuid import UUID

from aiohttp.test_utils import TestClient, TestServer

from helpers import TEST_CLOCK, Tokens, fresh_bsn, melding_body
from triage.app import create_app
from triage.auth.accounts import add_client
from triage.runtime import Runtime
from triage.vocabulary import Source

Client = TestClient[Any, Any]
URL = "/api/v1/meldingen"
RECEIPT = {"melding_id", "source", "external_id", "received_at", "status", "urgency_level"}
#: What differs between two receipts by nature, whatever the service knows.
OWN = {"melding_id", "external_id"}


def _person(bsn: str) -> dict[str, Any]:
    return {"role": "slachtoffer", "bsn": bsn, "voornaam": "Anna", "achternaam": "Verbeek"}


async def _post(client: Client, body: dict[str, Any], headers: dict[str, str]) -> Any:
    resp = await client.post(URL, json=body, headers=headers)
    assert resp.status in (200, 201), await resp.text()
    return await resp.json()


async def _known_household(client: Client, tokens: Tokens) -> dict[str, Any]:
    """A household with an open case and a crisis in its history, entered by the desk."""
    body = melding_body(persons=[_person(fresh_bsn())], signals=["geweld_nu", "wapen"])
    answer = await _post(client, body, tokens.user("operator"))
    assert answer["dedup"]["decision"] == "new_case"
    return body


def _adviesvraag(**overrides: Any) -> dict[str, Any]:
    return melding_body(source="burger", kind="adviesvraag", signals=[], **overrides)


async def test_a_receipt_for_a_known_bsn_cannot_be_told_from_one_for_an_unknown(
    client: Client, tokens: Tokens
) -> None:
    known = await _known_household(client, tokens)
    burger = tokens.client(Source.burger)
    about_known = await _post(client, _adviesvraag(persons=known["persons"]), burger)
    about_unknown = await _post(client, _adviesvraag(persons=[_person(fresh_bsn())]), burger)
    assert set(about_known) == set(about_unknown) == RECEIPT
    differ = {k for k in RECEIPT if about_known[k] != about_unknown[k]}
    assert differ <= OWN | {"received_at"}  # the time: each was received when it was
    assert about_known["status"] == about_unknown["status"] == "advies"
    assert about_known["urgency_level"] is None
    # The desk, posting the same, learns that it joined the open case.
    desk = await _post(client, _adviesvraag(persons=known["persons"]), tokens.user("operator"))
    assert desk["dedup"]["decision"] == "linked"


async def test_an_address_alone_discloses_nothing_either(client: Client, tokens: Tokens) -> None:
    known = await _known_household(client, tokens)
    politie = tokens.client(Source.politie)
    at_known = melding_body(address=known["address"], persons=[])
    at_unknown = melding_body(persons=[])
    answers = [await _post(client, body, politie) for body in (at_known, at_unknown)]
    assert [set(a) for a in answers] == [RECEIPT, RECEIPT]
    assert {k: answers[0][k] for k in ("status", "urgency_level", "source")} == {
        k: answers[1][k] for k in ("status", "urgency_level", "source")
    }
    for answer, body in zip(answers, (at_known, at_unknown), strict=True):
        assert answer["external_id"] == body["external_id"]
        assert datetime.fromisoformat(answer["received_at"]) == datetime.fromisoformat(
            body["received_at"]
        )


async def test_a_replay_answers_only_the_client_that_sent_it(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    body = melding_body()
    first = await (await client.post(URL, json=body, headers=tokens.client(Source.politie))).json()
    again = await client.post(URL, json=body, headers=tokens.client(Source.politie))
    assert again.status == 200
    assert await again.json() == first
    async with runtime.pool.acquire() as conn:
        other = await add_client(conn, "politie-other-desk", Source.politie, TEST_CLOCK.now())
    resp = await client.post(URL, json=body, headers={"Authorization": f"Bearer {other.token}"})
    assert resp.status == 409
    text = await resp.text()
    assert first["melding_id"] not in text
    assert "case_id" not in text
    # Its own melding read back: what it sent and the receipt, nothing else; another
    # client of the same source does not find it.
    url = f"{URL}/{first['melding_id']}"
    own = await (await client.get(url, headers=tokens.client(Source.politie))).json()
    assert set(own) == RECEIPT | {"kind", "category", "signals", "summary", "address",
                                  "gebied_hint", "persons"}  # fmt: skip
    assert (own["summary"], own["signals"]) == (body["summary"], body["signals"])
    resp = await client.get(url, headers={"Authorization": f"Bearer {other.token}"})
    assert resp.status == 404
    # Both replays are in the audit: the answered one, and the refused one as denied.
    replays = await runtime.pool.fetch(
        "SELECT actor_id, result FROM audit_log WHERE melding_id = $1"
        " AND action = 'melding.replay' ORDER BY id", UUID(first["melding_id"]),
    )  # fmt: skip
    assert [r["result"] for r in replays] == [None, "denied"]
    assert replays[1]["actor_id"] == other.id


async def test_the_region_may_let_a_source_see_the_urgency_level(
    runtime: Runtime, tokens: Tokens
) -> None:
    region = runtime.region.model_copy(update={"urgency_visible_to": [Source.politie]})
    app = create_app(dataclasses.replace(runtime, region=region), background=False)
    app.cleanup_ctx.clear()  # the session's runtime outlives this app
    async with TestClient(TestServer(app)) as client:
        politie = await _post(client, melding_body(), tokens.client(Source.politie))
        wijkteam = await _post(client, melding_body(source="wijkteam"),
                               tokens.client(Source.wijkteam))  # fmt: skip
    assert politie["urgency_level"] in {"crisis", "acuut", "hoog", "regulier"}
    assert wijkteam["urgency_level"] is None
