"""One bad input hurts nobody else: what validation lets through must not fail the
database write, the writes of other clients, or the service. Through the API, against
the real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient, TestServer

from helpers import Tokens, count, melding_body
from triage.api.operations import OPERATIONS, Operation
from triage.app import create_app
from triage.clock import FrozenClock
from triage.config import Settings
from triage.observability.logging import configure
from triage.runtime import Runtime, open_runtime
from triage.vocabulary import Source

Client = TestClient[Any, Any]
URL = "/api/v1/meldingen"


async def _post_raw(client: Client, headers: dict[str, str], url: str, raw: str) -> Any:
    return await client.post(url, data=raw.encode(), headers={
        **headers, "Content-Type": "application/json",
    })  # fmt: skip


async def _problem(resp: Any, status: int = 422) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/problem+json"
    problem: dict[str, Any] = await resp.json()
    return problem


def _pointers(problem: dict[str, Any]) -> set[str]:
    return {e["pointer"] for e in problem["errors"]}


async def _stored(runtime: Runtime, external_id: str) -> int:
    return await count(
        runtime.pool, "SELECT count(*) FROM meldingen WHERE external_id = $1", external_id
    )


# -- 1. Text PostgreSQL cannot store ------------------------------------------------------


async def test_text_the_database_cannot_store_is_refused_naming_the_field(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    body = melding_body(summary="Moeder belt\u0000 terug", external_id=f"T-\u0000{uuid.uuid4()}")
    body["persons"][0]["voornaam"] = "Xandrie\ud800"
    body["signals"] = ["geweld_nu", "kinderen_\u0000aanwezig"]
    resp = await client.post(URL, json=body, headers=tokens.client(Source.politie))
    problem = await _problem(resp)
    assert _pointers(problem) == {"/summary", "/external_id", "/persons/0/voornaam", "/signals/1"}
    details = {e["pointer"]: e["detail"] for e in problem["errors"]}
    assert "NUL" in details["/summary"]
    assert "surrogate" in details["/persons/0/voornaam"]
    text = await resp.text()
    assert "Moeder" not in text  # no value is repeated
    assert "Xandrie" not in text
    assert await count(runtime.pool, "SELECT count(*) FROM meldingen WHERE summary LIKE $1",
                       "Moeder belt%") == 0  # fmt: skip


async def test_escaped_characters_beyond_the_basic_plane_are_text(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    """A surrogate pair (how JSON escapes an emoji) is one character, stored as given."""
    body = melding_body(summary="Belt terug \U0001f4de")
    raw = json.dumps(body)  # ensure_ascii: "\\ud83d\\udcde"
    assert "\\ud83d" in raw
    resp = await _post_raw(client, tokens.client(Source.politie), URL, raw)
    assert resp.status == 201, await resp.text()
    summary = await runtime.pool.fetchval(
        "SELECT summary FROM meldingen WHERE external_id = $1", body["external_id"]
    )
    assert summary == "Belt terug \U0001f4de"


#: A user of each role (conftest's tokens), for an operation whose policy admits it.
_USER_OF = {
    "operator": "operator", "coordinator": "coordinator-tilburg",
    "specialist": "specialist-zuid", "ops": "ops", "admin": "admin", "cit": "cit",
}  # fmt: skip


def _permitted(op: Operation, tokens: Tokens) -> dict[str, str]:
    """A user the operation's policy admits: its body is then read and validated."""
    assert op.policy is not None
    role = next(r for r in _USER_OF if r in op.policy.callers)
    return tokens.user(_USER_OF[role])


def _example_path(path: str) -> str:
    values = {"gebied": "tilburg", "kind": "plan", "change_id": "1"}
    return "/".join(
        values.get(s[1:-1], str(uuid.uuid4())) if s.startswith("{") else s for s in path.split("/")
    )


async def test_every_request_body_refuses_text_the_database_cannot_store(
    client: Client, tokens: Tokens
) -> None:
    """Reasons and notes of every endpoint with a body, checked before anything is done."""
    bodies = [op for op in OPERATIONS if op.request is not None and op.path != URL and not op.form]
    assert len(bodies) >= 12
    for op in bodies:
        url = _example_path(op.path)
        caller = _permitted(op, tokens)
        for text in ("Ziek\u0000 gemeld", "Ziek \udc80gemeld"):
            resp = await client.request(op.method, url, json={"reason": text}, headers=caller)
            problem = await _problem(resp)
            assert _pointers(problem) == {"/reason"}, (op.path, problem)
            assert "Ziek" not in await resp.text()
        resp = await client.request(
            op.method, url, json={"note": {"ids": ["\u0000"]}}, headers=caller
        )
        assert _pointers(await _problem(resp)) == {"/note/ids/0"}, op.path


# -- 2. One melding the database refuses, in a batch --------------------------------------


async def test_a_melding_the_database_refuses_fails_alone(
    client: Client, tokens: Tokens, runtime: Runtime, owner_database_url: str
) -> None:
    """The intake writes concurrent meldingen in one statement. A melding that passes
    validation and still fails in the database (here: a CHECK constraint this test adds for
    a while, standing in for any value the SQL refuses that validation cannot foresee) must
    fail alone; the meldingen batched with it are stored and answered 201."""
    marker = f"REFUSED{uuid.uuid4().hex[:8]}"
    constraint = f"test_refuses_{marker.lower()}"
    owner = await asyncpg.connect(owner_database_url)  # the service may not alter tables
    await owner.execute(
        f"ALTER TABLE meldingen ADD CONSTRAINT {constraint}"
        f" CHECK (external_id NOT LIKE '{marker}%') NOT VALID"
    )
    try:
        bodies = [melding_body(source="ggz") for _ in range(45)]
        for i in (3, 20, 37):
            bodies[i]["external_id"] = f"{marker}-{i}"
        resps = await asyncio.gather(*(
            client.post(URL, json=b, headers=tokens.client(Source.ggz)) for b in bodies
        ))  # fmt: skip
        statuses = [r.status for r in resps]
        problems = [await resps[i].json() for i in (3, 20, 37)]
    finally:
        await owner.execute(f"ALTER TABLE meldingen DROP CONSTRAINT {constraint}")
        await owner.close()
    assert [s for i, s in enumerate(statuses) if i not in (3, 20, 37)] == [201] * 42, statuses
    assert [statuses[i] for i in (3, 20, 37)] == [422] * 3
    assert all(p["type"].endswith("/unstorable") for p in problems), problems
    for i, body in enumerate(bodies):
        assert await _stored(runtime, body["external_id"]) == (0 if i in (3, 20, 37) else 1)


# -- 3. received_at within a window around the service's clock -----------------------------


async def test_received_at_long_ago_is_refused(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    now = runtime.clock.now()
    for received in ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00",
                     (now - timedelta(days=31)).isoformat()):  # fmt: skip
        body = melding_body(received_at=received)
        resp = await client.post(URL, json=body, headers=tokens.client(Source.politie))
        problem = await _problem(resp)
        assert _pointers(problem) == {"/received_at"}, received
        assert "30 days" in problem["errors"][0]["detail"]
        assert await _stored(runtime, body["external_id"]) == 0
    body = melding_body(received_at=(now - timedelta(days=29)).isoformat())
    resp = await client.post(URL, json=body, headers=tokens.client(Source.politie))
    assert resp.status == 201, await resp.text()


async def test_the_received_at_window_is_a_setting_and_follows_the_injected_clock(
    settings: Settings, database_url: str, redis_url: str, tokens: Tokens, runtime: Runtime
) -> None:
    ahead = FrozenClock(runtime.clock.now() + timedelta(days=10))
    narrow = settings.model_copy(update={"received_at_max_age_days": 7})
    rt = await open_runtime(narrow, database_url, redis_url, clock=ahead)
    try:
        async with TestClient(TestServer(create_app(rt, background=False))) as travelled:
            headers = tokens.client(Source.politie)
            # Ten days before the injected clock: beyond the window of seven.
            old = melding_body(received_at=runtime.clock.now().isoformat())
            problem = await _problem(await travelled.post(URL, json=old, headers=headers))
            assert _pointers(problem) == {"/received_at"}
            assert "7 days" in problem["errors"][0]["detail"]
            recent = melding_body(received_at=(ahead.now() - timedelta(days=6)).isoformat())
            resp = await travelled.post(URL, json=recent, headers=headers)
            assert resp.status == 201, await resp.text()
            soon = melding_body(received_at=(ahead.now() + timedelta(minutes=6)).isoformat())
            problem = await _problem(await travelled.post(URL, json=soon, headers=headers))
            assert _pointers(problem) == {"/received_at"}
    finally:
        await rt.close()


# -- 4. Numeric path and query parameters ------------------------------------------------


async def test_numeric_parameters_take_ascii_digits_in_range(
    client: Client, tokens: Tokens
) -> None:
    operator, ops = tokens.user("operator"), tokens.user("ops")
    coordinator = tokens.user("coordinator-tilburg")
    for value in ("\u00b2", "\u0661", "\uff11", "1e3", "-1", "0", "+1", " 1", "1" * 5000):
        resp = await client.get(f"/api/v1/reviews?limit={value}", headers=operator)
        assert _pointers(await _problem(resp)) == {"/limit"}, value
    for value in ("\u00b2", "\u0661", str(10**20), "1" * 5000, "0"):
        resp = await client.get(f"/api/v1/webhooks/dead-letters?webhook_id={value}", headers=ops)
        assert _pointers(await _problem(resp)) == {"/webhook_id"}, value
        url = f"/api/v1/gebieden/tilburg/roster-changes/{value}/withdraw"
        resp = await client.post(url, headers=coordinator)
        assert _pointers(await _problem(resp)) == {"/change_id"}, value
    resp = await client.get(f"/api/v1/webhooks/dead-letters?webhook_id={2**63 - 1}", headers=ops)
    assert resp.status == 200, await resp.text()
    resp = await client.get("/api/v1/reviews?limit=500", headers=operator)
    assert resp.status == 200, await resp.text()


async def test_a_period_names_dates_the_service_can_count_with(
    client: Client, tokens: Tokens
) -> None:
    operator = tokens.user("operator")
    for query, pointer in (("until=0001-01-05", "/until"), ("from=0001-01-01", "/from"),
                           ("from=9999-12-01&until=9999-12-31", "/from")):  # fmt: skip
        resp = await client.get(f"/api/v1/kpi?{query}", headers=operator)
        assert pointer in _pointers(await _problem(resp)), query


# -- 5. A key given twice ---------------------------------------------------------------


async def test_a_key_given_twice_is_refused_at_its_place(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    body = melding_body(source="cit")
    raw = json.dumps(body).replace('"source": "cit"', '"source": "cit", "source": "politie"')
    resp = await _post_raw(client, tokens.client(Source.politie), URL, raw)
    assert _pointers(await _problem(resp)) == {"/source"}
    assert await _stored(runtime, body["external_id"]) == 0

    body = melding_body()
    raw = json.dumps(body)
    raw = raw.replace('"role": "slachtoffer"', '"role": "slachtoffer", "role": "pleger"')
    raw = raw.replace('"woonplaats": "Tilburg"', '"woonplaats": "Tilburg", "woonplaats": "x"')
    resp = await _post_raw(client, tokens.client(Source.politie), URL, raw)
    problem = await _problem(resp)
    assert _pointers(problem) == {"/persons/0/role", "/address/woonplaats"}
    assert all("more than once" in e["detail"] for e in problem["errors"])
    assert "Tilburg" not in json.dumps(problem)

    url = f"/api/v1/assignments/{uuid.uuid4()}/decline"
    resp = await _post_raw(client, tokens.user("specialist-zuid"), url,
                           '{"reason": "Vol zit ik.", "reason": "Anders."}')  # fmt: skip
    assert _pointers(await _problem(resp)) == {"/reason"}


async def test_json_outside_the_standard_is_malformed(client: Client, tokens: Tokens) -> None:
    headers = tokens.client(Source.politie)
    body = json.dumps(melding_body())
    for raw in (body[:-1] + ', "x": NaN}', body[:-1] + ', "x": Infinity}',
                "[" * 30000 + "]" * 30000):  # fmt: skip
        resp = await _post_raw(client, headers, URL, raw)
        assert resp.status == 400, (raw[:20], await resp.text())
    utf16 = body.encode("utf-16")
    resp = await client.post(
        URL, data=utf16, headers={**headers, "Content-Type": "application/json"}
    )
    assert resp.status == 400


# -- 6. Strict numbers -------------------------------------------------------------------


async def test_a_boolean_or_a_fraction_is_not_a_number(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    headers = tokens.client(Source.politie)
    for number in (True, False, 12.5):
        body = melding_body()
        body["address"]["huisnummer"] = number
        problem = await _problem(await client.post(URL, json=body, headers=headers))
        assert _pointers(problem) == {"/address/huisnummer"}, number
        assert await _stored(runtime, body["external_id"]) == 0
    for number in (12, 12.0, "12", "12-a", "12 B"):  # JSON does not tell 12 from 12.0
        body = melding_body()
        body["address"]["huisnummer"] = number
        resp = await client.post(URL, json=body, headers=headers)
        assert resp.status == 201, (number, await resp.text())
    replay = "/api/v1/webhooks/dead-letters/replay"
    for number in (True, 1.5):
        resp = await client.post(replay, json={"webhook_id": number}, headers=tokens.user("ops"))
        assert _pointers(await _problem(resp)) == {"/webhook_id"}, number


# -- 7. Roster changes within a horizon --------------------------------------------------


async def test_a_roster_change_lies_within_a_horizon_of_the_clock(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    coordinator = tokens.user("coordinator-tilburg")
    url = "/api/v1/gebieden/tilburg/roster-changes"
    now = runtime.clock.now()

    def change(start: datetime | str, end: datetime | str) -> dict[str, Any]:
        return {"kind": "absent", "specialist": "sp-tilburg-1", "reason": "Ziek gemeld.",
                "start": start if isinstance(start, str) else start.isoformat(),
                "end": end if isinstance(end, str) else end.isoformat()}  # fmt: skip

    cases = {
        ("9999-01-01T00:00", "9999-01-02T00:00"): {"/start", "/end"},
        ("0001-01-01T00:00", "0001-01-02T00:00"): {"/start", "/end"},
        (now + timedelta(days=300), now + timedelta(days=400)): {"/end"},
        (now - timedelta(days=40), now + timedelta(days=1)): {"/start"},
    }
    for (start, end), pointers in cases.items():
        resp = await client.post(url, json=change(start, end), headers=coordinator)
        assert _pointers(await _problem(resp)) == pointers, (start, end)
    # An offset on one end only is still one moment each, compared as such.
    mixed = change((now + timedelta(days=200)).isoformat(),
                   (now + timedelta(days=201)).replace(tzinfo=None).isoformat())  # fmt: skip
    made = await client.post(url, json=mixed, headers=coordinator)
    assert made.status == 201, await made.text()
    change_id = (await made.json())["id"]
    withdrawn = await client.post(f"{url}/{change_id}/withdraw", headers=coordinator)
    assert withdrawn.status == 200, await withdrawn.text()


# -- 8. The published contract says so ---------------------------------------------------


async def test_the_contract_states_the_limits(client: Client) -> None:
    doc = await (await client.get("/api/openapi.json")).json()
    withdraw = doc["paths"]["/api/v1/gebieden/{gebied}/roster-changes/{change_id}/withdraw"]
    [_, change_id] = withdraw["post"]["parameters"]
    assert change_id["schema"] == {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
    assert "422" in withdraw["post"]["responses"]
    dead = doc["paths"]["/api/v1/webhooks/dead-letters"]["get"]["parameters"]
    assert {p["name"]: p["schema"].get("maximum") for p in dead} == {
        "webhook_id": 2**63 - 1, "limit": 1000,
    }  # fmt: skip
    schemas = doc["components"]["schemas"]
    assert "30 days" in schemas["MeldingIn"]["properties"]["received_at"]["description"]
    assert "year" in schemas["RosterChangeIn"]["properties"]["start"]["description"]
    huisnummer = schemas["AddressIn"]["properties"]["huisnummer"]["anyOf"]
    assert {"type": "integer", "minimum": 1, "maximum": 99999} in huisnummer


# -- 9. What the HTTP parser, the body's encoding and the credentials cannot read ----------


async def _raw_http(client: Client, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """``request`` as the bytes on the wire (a client library would refuse to send them):
    the answer's status, headers and body."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(request)
    await writer.drain()
    answer = await reader.read()
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


async def test_what_the_http_parser_refuses_is_not_repeated(client: Client, tokens: Tokens) -> None:
    """A header the parser refuses answers problem+json with the usual headers, and
    neither the answer nor the log repeats the request (a BSN in a header, the token)."""
    token = tokens.user("operator")["Authorization"]
    logged = io.StringIO()
    configure("json", "debug", stream=logged)
    try:
        answers = [await _raw_http(client, (
            b"POST /api/v1/meldingen HTTP/1.1\r\nHost: x\r\n" + bad +
            b"\r\nConnection: close\r\n\r\n{}"
        )) for bad in (b"X-Melder: Sanne Jansen 111222333\x01", token.encode() + b"\x00",
                       b"Content-Encoding: br\r\nContent-Length: 2")]  # fmt: skip
    finally:
        configure("console", "warning")
    lines = [json.loads(line) for line in logged.getvalue().splitlines()]
    assert [e["event"] for e in lines if e["event"] == "request_unreadable"] == [
        "request_unreadable"] * 3  # fmt: skip
    for secret in ("Sanne", "111222333", token.removeprefix("Bearer ")):
        assert secret not in logged.getvalue()
    for status, headers, body in answers:
        assert status == 400, body
        assert headers["Content-Type"].startswith("application/problem+json"), headers
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Server"] == "triage"
        assert json.loads(body)["status"] == 400
        for secret in (b"Sanne", b"111222333", token.removeprefix("Bearer ").encode(), b"br"):
            assert secret not in body, body


async def test_credentials_that_are_not_utf8_are_unknown(client: Client) -> None:
    for header in (b"Authorization: Bearer \xff\xfe", b"Cookie: __Host-triage_session=\xff\xfe"):
        status, headers, body = await _raw_http(client, (
            b"GET /api/v1/gebieden HTTP/1.1\r\nHost: x\r\n" + header +
            b"\r\nConnection: close\r\n\r\n"
        ))  # fmt: skip
        assert status == 401, body
        assert headers["Content-Type"].startswith("application/problem+json")


async def test_a_body_whose_encoding_does_not_decode_is_a_400(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    body = melding_body()
    resp = await client.post(URL, data=json.dumps(body).encode(), headers={
        **tokens.client(Source.politie), "Content-Type": "application/json",
        "Content-Encoding": "gzip",
    })  # fmt: skip
    problem = await _problem(resp, 400)
    assert "Content-Encoding" in problem["detail"]
    assert await _stored(runtime, body["external_id"]) == 0


# -- 10. Form fields as strict as a JSON body -------------------------------------------


async def test_a_form_is_utf8_with_each_field_once(client: Client, tokens: Tokens) -> None:
    form = "application/x-www-form-urlencoded"
    cases: list[tuple[bytes, str, int, set[str]]] = [
        (b"username=a&password=%ff", form, 400, set()),  # not UTF-8
        (b"username=a&password=\xff", form, 400, set()),
        (b"username=a&password=b", form + "; charset=utf-7", 415, set()),
        (b"username=a&password=b", form + "; charset=bogus", 415, set()),
        (b"username=a&username=b&password=c", form, 422, {"/username"}),
        (b"username=a%00b&password=c", form, 422, {"/username"}),
    ]
    for raw, content_type, status, pointers in cases:
        resp = await client.post("/auth/login", data=raw, headers={"Content-Type": content_type})
        problem = await _problem(resp, status)
        assert {e["pointer"] for e in problem.get("errors", [])} == pointers, raw


# -- 11. Query parameters, ids and dates as the contract names them ----------------------


async def test_a_query_parameter_is_one_the_operation_takes_given_once(
    client: Client, tokens: Tokens
) -> None:
    operator = tokens.user("operator")
    resp = await client.get("/api/v1/reviews?limit=5&limit=6", headers=operator)
    assert _pointers(await _problem(resp)) == {"/limit"}
    resp = await client.get("/api/v1/cases?status=open&stauts=closed", headers=operator)
    problem = await _problem(resp)
    assert _pointers(problem) == {""}
    assert "stauts" not in json.dumps(problem)  # an unknown name is input: not repeated
    assert "takes:" in problem["errors"][0]["detail"]
    resp = await client.get("/api/v1/cases?status=open", headers=operator)
    assert resp.status == 200, await resp.text()


async def test_an_id_has_one_spelling(client: Client, tokens: Tokens) -> None:
    operator = tokens.user("operator")
    melding = await client.post(URL, json=melding_body(), headers=tokens.client(Source.politie))
    melding_id = (await melding.json())["melding_id"]
    found = await client.get(f"{URL}/{melding_id.upper()}", headers=operator)
    assert found.status == 200, await found.text()
    plain = melding_id.replace("-", "")
    for spelling in (plain, f"urn:uuid:{melding_id}", f"{{{melding_id}}}", "+" + plain[1:],
                     "\u0661" * 32):  # fmt: skip
        resp = await client.get(f"{URL}/{spelling}", headers=operator)
        assert resp.status == 404, spelling


async def test_dates_are_the_ones_they_can_be(client: Client, tokens: Tokens) -> None:
    operator = tokens.user("operator")
    for value in ("20260101", "2026-W01-1", "2026-001"):
        resp = await client.get(f"/api/v1/kpi?from={value}", headers=operator)
        assert _pointers(await _problem(resp)) == {"/from"}, value
    search = {"purpose": "koppelen", "achternaam": "Jansen", "geboortedatum": "9999-01-01"}
    resp = await client.post("/api/v1/households/search", json=search, headers=operator)
    assert _pointers(await _problem(resp)) == {"/geboortedatum"}
    whom = {"achternaam": "Jansen", "voornaam": "Piet", "geboortedatum": "9999-12-31",
            "reason": "Verzoek om inzage van betrokkene."}  # fmt: skip
    resp = await client.post("/api/v1/inzage", json=whom, headers=tokens.user("admin"))
    assert "/geboortedatum" in _pointers(await _problem(resp))
    url = f"/api/v1/meldingen/{uuid.uuid4()}/first-contact"
    resp = await client.post(url, json={"at": "0001-01-01T00:00:00+05:00"},
                             headers=tokens.user("specialist-zuid"))  # fmt: skip
    assert _pointers(await _problem(resp)) == {"/at"}


async def test_an_external_id_is_printable(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    for external_id in ("BVH-1\nBVH-2", "BVH-\x1b[31m1", "BVH\u200b-1"):
        body = melding_body(external_id=external_id)
        resp = await client.post(URL, json=body, headers=tokens.client(Source.politie))
        assert _pointers(await _problem(resp)) == {"/external_id"}, external_id
        assert await _stored(runtime, external_id) == 0
