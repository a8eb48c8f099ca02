"""Personal data stays where it belongs: marker strings posted in every personal field,
in reasons and notes, in invalid bodies (values, unknown keys) and headers, reach no log
line, no Redis key or value, no published event, no line of /metrics and no error body.
The database and the audit hold them; nothing else does."""

from __future__ import annotations

import asyncio
import io
import uuid
from typing import Any

from aiohttp.test_utils import TestClient

from helpers import Tokens, fresh_bsn, melding_body
from triage.audit.context import ON_BEHALF_HEADER
from triage.cases.read import ACCESS_REASON_HEADER
from triage.observability.logging import configure
from triage.runtime import Runtime
from triage.vocabulary import Source

Client = TestClient[Any, Any]


def _marker(field: str) -> str:
    # Letters only, as names are: "MrkVoornaamQxzw..." is unmistakable in any output.
    tail = uuid.uuid4().hex[:8].translate(str.maketrans("0123456789", "qwxzjkvbyh"))
    return f"Mrk{field.capitalize()}{tail}"


async def _value(runtime: Runtime, key: bytes) -> object:
    """Whatever Redis holds under ``key``, as Python data."""
    redis = runtime.redis
    kind = (await redis.type(key)).decode()
    if kind == "string":
        return await redis.get(key)
    if kind == "hash":
        return await redis.hgetall(key)
    if kind == "zset":
        return await redis.zrange(key, 0, -1, withscores=True)
    if kind == "list":
        return await redis.lrange(key, 0, -1)
    if kind == "set":
        return await redis.smembers(key)
    if kind == "stream":
        return await redis.xrange(key)
    return kind


class _Sweep:
    """A client that keeps every error body it was given."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.errors: list[str] = []

    async def call(self, method: str, url: str, **kwargs: Any) -> Any:
        resp = await self.client.request(method, url, **kwargs)
        text = await resp.text()
        if resp.status >= 400:
            self.errors.append(f"{method} {url} {resp.status}: {text}")
        return resp, text


async def test_marker_strings_reach_no_log_redis_metric_or_error_body(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    fields = (
        "voornaam",
        "achternaam",
        "tussenvoegsel",
        "straat",
        "woonplaats",
        "summary",
        "reason",
        "note",
        "key",
        "behalf",
    )
    m = {f: _marker(f) for f in fields}
    bsn, born, postcode = fresh_bsn(), "1931-07-13", "5037 QX"
    person = {"role": "slachtoffer", "bsn": bsn, "voornaam": m["voornaam"],
              "tussenvoegsel": m["tussenvoegsel"][:20], "achternaam": m["achternaam"],
              "geboortedatum": born}  # fmt: skip
    body = melding_body(
        summary=f"Melding over {m['summary']}.",
        persons=[person],
        address={
            "postcode": postcode,
            "huisnummer": "41-b",
            "straat": m["straat"],
            "woonplaats": "Tilburg",
        },
    )
    secrets = [*m.values(), m["tussenvoegsel"][:20], bsn, born, postcode, "5037QX"]

    events: list[str] = []
    pubsub = runtime.redis.pubsub()
    await pubsub.psubscribe(runtime.keys.events_pattern())

    async def listen() -> None:
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is not None:
                events.append(str(message["data"]))

    listening = asyncio.create_task(listen())
    stream = io.StringIO()
    configure("json", "debug", stream=stream)
    sweep = _Sweep(client)
    police, operator, admin = (
        tokens.client(Source.politie),
        tokens.user("operator"),
        tokens.user("admin"),
    )
    try:
        resp, text = await sweep.call(
            "POST", "/api/v1/meldingen", json=body, headers={**police, ON_BEHALF_HEADER: "agent-7"}
        )
        assert resp.status == 201, text
        melding_id = (await resp.json())["melding_id"]
        # Invalid bodies carrying the markers: a bad value, an unknown key named by one, a
        # wrong type, a bad BSN, a postcode that is none; and a bad header.
        for bad in (
            {**body, "external_id": f"T-{uuid.uuid4()}", "category": m["note"]},
            {**body, "external_id": f"T-{uuid.uuid4()}", m["key"]: m["summary"]},
            {**body, "external_id": f"T-{uuid.uuid4()}",
             "persons": [{**person, "geboortedatum": m["voornaam"]}]},
            {**body, "external_id": f"T-{uuid.uuid4()}",
             "persons": [{**person, "bsn": "123456789"}]},
            {**body, "external_id": f"T-{uuid.uuid4()}",
             "address": {"postcode": "0123 " + m["straat"][:4], "straat": m["straat"]}},
        ):  # fmt: skip
            resp, _ = await sweep.call("POST", "/api/v1/meldingen", json=bad, headers=police)
            assert resp.status == 422
        bad_header = {**police, ON_BEHALF_HEADER: m["behalf"] + " x"}
        resp, _ = await sweep.call("POST", "/api/v1/meldingen", json=body, headers=bad_header)
        assert resp.status == 422
        # A replay with another body (409), reads, a correction by hand, reasons.
        resp, _ = await sweep.call(
            "POST", "/api/v1/meldingen", headers=police, json={**body, "summary": m["note"]}
        )
        assert resp.status == 409
        with_reason = {**operator, ACCESS_REASON_HEADER: f"Gebeld door {m['reason']} hierover"}
        resp, _ = await sweep.call("GET", f"/api/v1/meldingen/{melding_id}", headers=with_reason)
        case_id = (await resp.json())["case_id"]
        await sweep.call("GET", f"/api/v1/cases/{case_id}", headers=operator)
        await sweep.call(
            "POST",
            f"/api/v1/meldingen/{melding_id}/urgency",
            headers=operator,
            json={"level": "crisis", "reason": f"Belde {m['reason']} terug"},
        )
        await sweep.call(
            "POST",
            f"/api/v1/meldingen/{melding_id}/urgency",
            headers=operator,
            json={"level": m["note"], "reason": m["reason"]},
        )
        await sweep.call(
            "POST",
            f"/api/v1/cases/{case_id}/close",
            headers=operator,
            json={"reason": f"Klaar volgens {m['reason']}"},
        )
        resp, text = await sweep.call(
            "POST",
            "/api/v1/inzage",
            headers=admin,
            json={"bsn": bsn, "reason": f"Inzage {m['reason']} IZ-1"},
        )
        assert resp.status == 200, text
        person_id = (await resp.json())["persons"][0]["person_id"]
        resp, text = await sweep.call(
            "PATCH",
            f"/api/v1/persons/{person_id}",
            headers=admin,
            json={"voornaam": m["note"], "reason": m["reason"]},
        )
        assert resp.status == 200, text
        await sweep.call(
            "PATCH",
            f"/api/v1/persons/{person_id}",
            headers=admin,
            json={"achternaam": m["note"], m["key"]: 1, "reason": m["reason"]},
        )
        resp, metrics_text = await sweep.call("GET", "/metrics", headers=tokens.user("ops"))
        assert resp.status == 200
    finally:
        configure("console", "warning")
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)
        await pubsub.aclose()  # type: ignore[no-untyped-call]

    redis_text = [
        f"{key!r} {await _value(runtime, key)!r}"
        async for key in runtime.redis.scan_iter(match=f"{runtime.keys.prefix}:*", count=1000)
    ]

    places = {"logs": stream.getvalue(), "redis": "\n".join(redis_text),
              "events": "\n".join(events), "metrics": metrics_text,
              "error bodies": "\n".join(sweep.errors)}  # fmt: skip
    assert len(sweep.errors) >= 8  # the invalid bodies and the bad header were answered
    assert '"event": "request"' in places["logs"] or '"request"' in places["logs"]
    assert redis_text  # the queues and throttles are there to search
    for place, text in places.items():
        for secret in secrets:
            assert secret not in text, f"{secret!r} found in {place}"
    # They are kept where they belong: the database (as corrected) and the audit's reasons.
    stored = await runtime.pool.fetchval(
        "SELECT count(*) FROM person_corrections WHERE old_value = $1", m["voornaam"]
    )
    assert stored == 1
