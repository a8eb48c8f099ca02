"""The intake contract over HTTP, against the real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import orjson
from aiohttp.test_utils import TestClient

from helpers import TEST_CLOCK, Tokens, count, household_name, melding_body
from triage.intake.service import dedup_out
from triage.runtime import Runtime
from triage.vocabulary import Source

Client = TestClient[Any, Any]
URL = "/api/v1/meldingen"


async def post(client: Client, tokens: Tokens, body: dict[str, Any], **kw: Any) -> Any:
    """As the crisis desk (an operator), who gets the full answer; a source system gets a
    receipt (test_source_receipt.py)."""
    headers = kw.pop("headers", None) or tokens.user("operator")
    return await client.post(URL, json=body, headers=headers, **kw)


async def stored(runtime: Runtime, external_id: str) -> int:
    return await count(
        runtime.pool, "SELECT count(*) FROM meldingen WHERE external_id = $1", external_id
    )


async def test_created_melding_has_the_contract_fields(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    body = melding_body(signals=["geweld_nu", "kinderen_aanwezig"])
    resp = await post(client, tokens, body)
    assert resp.status == 201, await resp.text()
    data = await resp.json()
    assert set(data) == {
        "melding_id",
        "case_id",
        "status",
        "gebied",
        "gebied_note",
        "urgency",
        "dedup",
    }
    assert data["status"] == "queued"
    assert data["gebied"] == "tilburg"
    assert data["urgency"]["level"] == "acuut"  # geweld_nu has an acuut floor
    assert [r["rule"] for r in data["urgency"]["reasons"]] == [
        "categorie.huiselijk_geweld", "signaal.geweld_nu", "signaal.kinderen_aanwezig",
    ]  # fmt: skip
    assert data["urgency"]["score"] == sum(r["contribution"] for r in data["urgency"]["reasons"])
    received = datetime.fromisoformat(body["received_at"])
    assert datetime.fromisoformat(data["urgency"]["respond_before"]) == received + timedelta(
        hours=24
    )
    assert data["dedup"]["decision"] == "new_case"
    assert resp.headers["Location"] == f"{URL}/{data['melding_id']}"
    assert await stored(runtime, body["external_id"]) == 1


async def test_replay_returns_the_first_result_and_stores_nothing(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    body = melding_body()
    first = await post(client, tokens, body)
    assert first.status == 201
    # Same melding, other spellings of the same address: still the same request.
    respelled = json.loads(json.dumps(body))
    respelled["address"]["postcode"] = body["address"]["postcode"].replace(" ", "").lower()
    again = await post(client, tokens, respelled)
    assert again.status == 200
    assert await again.json() == await first.json()
    assert await stored(runtime, body["external_id"]) == 1
    # A melding that joined a case answers its replay with the same score and waterfall
    # (the score is stored as a real: 22.99 must not come back as 22.989999771118164).
    joined = melding_body(address=body["address"], persons=body["persons"])
    linked = await (await post(client, tokens, joined)).json()
    assert linked["dedup"]["decision"] == "linked"
    assert await (await post(client, tokens, joined)).json() == linked


async def test_same_key_with_another_body_is_a_conflict(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    body = melding_body()
    assert (await post(client, tokens, body)).status == 201
    changed = {**body, "summary": "Een andere melding."}
    resp = await post(client, tokens, changed)
    assert resp.status == 409
    assert resp.content_type == "application/problem+json"
    assert await stored(runtime, body["external_id"]) == 1


async def test_concurrent_replays_store_once(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    body = melding_body()
    responses = await asyncio.gather(*(post(client, tokens, body) for _ in range(12)))
    statuses = sorted(r.status for r in responses)
    assert statuses == [200] * 11 + [201]
    ids = {(await r.json())["melding_id"] for r in responses}
    assert len(ids) == 1
    assert await stored(runtime, body["external_id"]) == 1


async def test_validation_names_every_bad_field_and_stores_nothing(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    body = melding_body(
        category="onbekend",
        signals=["geweld_nu", "bestaat_niet"],
        received_at="2026-11-22T10:00:00",
        persons=[{"role": "kind", "bsn": "123456789"}, {"role": "buurman"}],
    )
    resp = await post(client, tokens, body)
    assert resp.status == 422
    assert resp.content_type == "application/problem+json"
    problem = await resp.json()
    pointers = {e["pointer"] for e in problem["errors"]}
    assert pointers == {
        "/category",
        "/signals/1",
        "/received_at",
        "/persons/0/bsn",
        "/persons/1/role",
    }
    unknown_signal = next(e for e in problem["errors"] if e["pointer"] == "/signals/1")
    assert "geweld_nu" in unknown_signal["detail"]  # the known codes are listed
    assert "123456789" not in json.dumps(problem)  # never echo a submitted value
    assert await stored(runtime, body["external_id"]) == 0


async def test_future_received_at_and_birth_date_are_refused(
    client: Client, tokens: Tokens
) -> None:
    future = (TEST_CLOCK.now() + timedelta(hours=2)).isoformat()
    body = melding_body(
        received_at=future, persons=[{"role": "kind", "geboortedatum": "2999-01-01"}]
    )
    problem = await (await post(client, tokens, body)).json()
    assert {e["pointer"] for e in problem["errors"]} == {"/received_at", "/persons/0/geboortedatum"}


async def test_unknown_fields_are_refused_without_echoing_them(
    client: Client, tokens: Tokens
) -> None:
    """Named by where they are: a key can hold what must not be echoed (a BSN, a name)."""
    body = melding_body(signal=["geweld_nu"])
    body["address"]["Jansen 123456782"] = "x"
    resp = await post(client, tokens, body)
    assert resp.status == 422
    text = await resp.text()
    assert [k for k in ('signal"', "Jansen", "123456782") if k in text] == []
    errors = (await resp.json())["errors"]
    assert sorted(e["pointer"] for e in errors) == ["", "/address"]
    assert all("not a field here" in e["detail"] for e in errors)


async def test_malformed_json_oversized_and_wrong_media_type(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    headers = {**tokens.client(Source.politie), "Content-Type": "application/json"}
    resp = await client.post(URL, data=b'{"source": "politie",', headers=headers)
    assert resp.status == 400
    big = melding_body(
        summary="x" * 4000, persons=[{"role": "betrokkene", "voornaam": "y" * 100}] * 30
    )
    big["padding"] = "z" * 70_000
    resp = await client.post(URL, data=json.dumps(big), headers=headers)
    assert resp.status == 413
    assert (await resp.json())["status"] == 413
    text_headers = {**tokens.client(Source.politie), "Content-Type": "text/plain"}
    body = melding_body()
    resp = await client.post(URL, data=json.dumps(body), headers=text_headers)
    assert resp.status == 415
    assert await stored(runtime, body["external_id"]) == 0


async def test_authentication_is_required(client: Client) -> None:
    body = melding_body()
    resp = await client.post(URL, json=body)
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    resp = await client.post(
        URL, json=body, headers={"Authorization": "Bearer trg_not-a-real-token"}
    )
    assert resp.status == 401
    resp = await client.get(f"{URL}/00000000-0000-7000-8000-000000000000")
    assert resp.status == 401


async def test_a_client_submits_only_as_its_own_source(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    body = melding_body(source="veilig_thuis")
    resp = await post(client, tokens, body, headers=tokens.client(Source.politie))
    assert resp.status == 403
    assert await stored(runtime, body["external_id"]) == 0
    assert (await post(client, tokens, body)).status == 201  # with veilig_thuis's own token


async def test_desk_roles_may_submit_other_roles_may_not(client: Client, tokens: Tokens) -> None:
    assert (
        await post(client, tokens, melding_body(source="burger"), headers=tokens.user("operator"))
    ).status == 201
    assert (
        await post(client, tokens, melding_body(source="cit"), headers=tokens.user("cit"))
    ).status == 201
    for role in ("ops", "admin", "specialist-zuid", "coordinator-tilburg"):
        assert (await post(client, tokens, melding_body(), headers=tokens.user(role))).status == 403


async def test_read_back_is_scoped_need_to_know(client: Client, tokens: Tokens) -> None:
    body = melding_body()  # a Tilburg address
    created = await (await post(client, tokens, body, headers=tokens.client(Source.politie))).json()
    url = f"{URL}/{created['melding_id']}"
    for who in ("operator", "cit", "coordinator-tilburg"):
        resp = await client.get(url, headers=tokens.user(who))
        assert resp.status == 200, who
        data = await resp.json()
        assert data["persons"][0]["achternaam"] == body["persons"][0]["achternaam"]
        assert data["summary"] == body["summary"]
    assert (await client.get(url, headers=tokens.client(Source.politie))).status == 200
    # Not their gebied, not their melding, or no access to personal data at all:
    assert (await client.get(url, headers=tokens.user("specialist-zuid"))).status == 404
    assert (await client.get(url, headers=tokens.client(Source.cit))).status == 404
    assert (await client.get(url, headers=tokens.user("ops"))).status == 403
    assert (await client.get(f"{URL}/not-a-uuid", headers=tokens.user("operator"))).status == 404


async def test_case_read_lists_the_households_meldingen(client: Client, tokens: Tokens) -> None:
    name = household_name()
    first = melding_body(
        persons=[
            {
                "role": "slachtoffer",
                "voornaam": "Fenna",
                "achternaam": name,
                "geboortedatum": "1987-10-02",
            }
        ]
    )
    # The same woman as another source writes her, a minute later: one person, two
    # spellings.
    later = (TEST_CLOCK.now() + timedelta(minutes=1)).replace(microsecond=0).isoformat()
    second = melding_body(source="wijkteam", address=first["address"], signals=[],
                          received_at=later, persons=[
        {"role": "slachtoffer", "voornaam": "F.", "achternaam": name.upper(),
         "geboortedatum": "1987-10-02"}])  # fmt: skip
    one = await (await post(client, tokens, first)).json()
    two = await (await post(client, tokens, second)).json()
    assert two["case_id"] == one["case_id"]
    assert two["dedup"] == {**two["dedup"], "decision": "linked", "matched_case_id": one["case_id"]}
    assert "historie.open_casus" in [r["rule"] for r in two["urgency"]["reasons"]]
    resp = await client.get(f"/api/v1/cases/{one['case_id']}", headers=tokens.user("operator"))
    assert resp.status == 200
    case = await resp.json()
    assert [m["melding_id"] for m in case["meldingen"]] == [one["melding_id"], two["melding_id"]]
    assert case["status"] == "open"
    assert len(case["persons"]) == 2
    [person] = case["people"]  # each person once, with the ways they were written
    assert person["times"] == 2
    assert person["variants"]
    # A source system sees its own meldingen, never the whole case.
    resp = await client.get(
        f"/api/v1/cases/{one['case_id']}", headers=tokens.client(Source.politie)
    )
    assert resp.status == 403


async def test_apartments_stay_apart(client: Client, tokens: Tokens) -> None:
    a = melding_body()
    a["address"]["huisnummer"] = "12-a"
    same = a["persons"]  # one family name in both dwellings: the addition keeps them apart
    b = melding_body(address={**a["address"], "huisnummer": "12 B"}, persons=same)
    a_spelled = melding_body(
        address={**a["address"], "huisnummer": 12, "toevoeging": " a"}, persons=same
    )
    case_a = (await (await post(client, tokens, a)).json())["case_id"]
    case_b = (await (await post(client, tokens, b)).json())["case_id"]
    case_a2 = (await (await post(client, tokens, a_spelled)).json())["case_id"]
    assert case_a != case_b
    assert case_a2 == case_a


async def test_same_new_household_at_the_same_instant_gets_one_case(
    client: Client, tokens: Tokens
) -> None:
    first = melding_body()
    bodies = [first] + [
        melding_body(address=first["address"], persons=first["persons"]) for _ in range(9)
    ]
    results = await asyncio.gather(*(post(client, tokens, b) for b in bodies))
    cases = {(await r.json())["case_id"] for r in results}
    assert len(cases) == 1
    decisions = sorted([(await r.json())["dedup"]["decision"] for r in results])
    assert decisions == ["linked"] * 9 + ["new_case"]


async def test_without_address_the_place_or_hint_decides_the_gebied(
    client: Client, tokens: Tokens
) -> None:
    by_place = melding_body(address={"woonplaats": "Kaatsheuvel"}, category="dakloosheid")
    by_hint = melding_body(gebied="oost")
    del by_hint["address"]
    unknown_place = melding_body(address={"woonplaats": "Amsterdam"})
    assert (await (await post(client, tokens, by_place)).json())["gebied"] == "langstraat"
    assert (await (await post(client, tokens, by_hint)).json())["gebied"] == "oost"
    assert (await (await post(client, tokens, unknown_place)).json())["gebied"] == "regio"
    # No place at all, or a postcode without a number: taken, never refused for it. The
    # regional crisis service places the first; the postcode decides the second.
    nowhere = melding_body()
    del nowhere["address"]
    resp = await post(client, tokens, nowhere)
    assert resp.status == 201, await resp.text()
    placed = await resp.json()
    assert placed["gebied"] == "regio"
    assert "Geen adres" in placed["gebied_note"]
    postcode_only = melding_body(address={"postcode": "5161 AB"})
    resp = await post(client, tokens, postcode_only)
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["gebied"] == "langstraat"
    bad_hint = melding_body(gebied="narnia")
    assert [
        e["pointer"] for e in (await (await post(client, tokens, bad_hint)).json())["errors"]
    ] == ["/gebied"]


async def test_the_gebied_hint_has_one_name_in_request_and_answer(
    client: Client, tokens: Tokens
) -> None:
    """``gebied_hint`` in the request, as in the answer (whose ``gebied`` is the gebied
    decided); ``gebied``, the request's name for it before, is still read."""
    for key in ("gebied_hint", "gebied"):
        body = melding_body(**{key: "oost"})
        del body["address"]
        accepted = await (await post(client, tokens, body)).json()
        read = await (await client.get(f"/api/v1/meldingen/{accepted['melding_id']}",
                                       headers=tokens.user("operator"))).json()  # fmt: skip
        assert (accepted["gebied"], read["gebied"], read["gebied_hint"]) == ("oost",) * 3
    both = await post(client, tokens, melding_body(gebied_hint="oost", gebied="west"))
    assert both.status == 422  # one of the two names, not both
    bad = await post(client, tokens, melding_body(gebied_hint="narnia"))
    assert [e["pointer"] for e in (await bad.json())["errors"]] == ["/gebied_hint"]


async def test_queued_in_priority_order_and_adviesvragen_are_not(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    regulier = melding_body(signals=[], category="overlast", address={"woonplaats": "Riel"})
    crisis = melding_body(signals=["levensgevaar"], address={"woonplaats": "Goirle"})
    advies = melding_body(kind="adviesvraag", address={"woonplaats": "Diessen"})
    r = await (await post(client, tokens, regulier)).json()
    c = await (await post(client, tokens, crisis)).json()
    a = await (await post(client, tokens, advies)).json()
    assert (r["urgency"]["level"], c["urgency"]["level"], a["urgency"]["level"]) == (
        "regulier",
        "crisis",
        "advies",
    )
    assert a["status"] == "advies"
    await runtime.enqueuer.flush()
    queue = await runtime.redis.zrange(runtime.keys.queue("zuid"), 0, -1)
    members = [m.decode() for m in queue]
    assert members.index(c["melding_id"]) < members.index(r["melding_id"])
    assert a["melding_id"] not in members


async def test_weak_information_is_flagged_not_down_ranked(client: Client, tokens: Tokens) -> None:
    plain = await (await post(client, tokens, melding_body(signals=["geweld_nu"]))).json()
    weak = await (
        await post(client, tokens, melding_body(signals=["geweld_nu", "weinig_informatie"]))
    ).json()
    assert weak["urgency"]["callback_required"] is True
    assert plain["urgency"]["callback_required"] is False
    assert weak["urgency"]["score"] >= plain["urgency"]["score"]
    assert weak["urgency"]["level"] == plain["urgency"]["level"]


def _person(**overrides: Any) -> dict[str, Any]:
    return {"role": "slachtoffer", "voornaam": "Fenna", "achternaam": "Wolters",
            "geboortedatum": "1987-10-02", "bsn": "111222333", **overrides}  # fmt: skip


async def test_the_household_is_recognised_by_bsn_at_a_new_address(
    client: Client, tokens: Tokens
) -> None:
    name = household_name()
    first = melding_body(persons=[_person(achternaam=name)])
    moved = melding_body(
        source="veilig_thuis",
        address={"postcode": "5017 JK", "huisnummer": 3, "woonplaats": "Tilburg"},
        persons=[_person(achternaam=name, voornaam="F.", geboortedatum=None)],
    )
    one = await (await post(client, tokens, first)).json()
    two = await (await post(client, tokens, moved)).json()
    assert two["dedup"]["decision"] == "linked"
    assert two["case_id"] == one["case_id"]
    assert "persoon: BSN gelijk" in two["dedup"]["reasons"]


async def test_spellings_of_one_new_household_at_the_same_instant_make_one_case(
    client: Client, tokens: Tokens
) -> None:
    name = household_name()
    bsn = "123456782"
    spellings = [
        {"achternaam": f"{name}, van der", "bsn": bsn},
        {"achternaam": f"van der {name}", "bsn": bsn, "voornaam": "FENNA"},
        {"achternaam": name, "tussenvoegsel": "van der", "bsn": bsn, "geboortedatum": None},
        {"achternaam": name.upper(), "bsn": bsn, "voornaam": "F."},
    ]
    bodies = [melding_body(address={"woonplaats": "Dongen"}, persons=[_person(**s)])
              for s in spellings]  # fmt: skip
    results = await asyncio.gather(*(post(client, tokens, b) for b in bodies))
    assert {(await r.json())["case_id"] for r in results} == {(await results[0].json())["case_id"]}


async def test_a_possible_match_goes_to_review_and_is_queued_under_its_own_case(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    name = household_name()
    known = melding_body(persons=[_person(achternaam=name, bsn=None)])
    next_door = {**known["address"], "huisnummer": str(int(known["address"]["huisnummer"]) + 2)}
    # The surname, an initial that fits, a digit of the birth date mistyped, next door:
    # maybe the same person.
    vague = melding_body(
        address=next_door,
        persons=[_person(achternaam=name, bsn=None, voornaam="F.", geboortedatum="1987-10-03")],
    )
    first = await (await post(client, tokens, known)).json()
    second = await (await post(client, tokens, vague)).json()
    assert second["dedup"]["decision"] == "review"
    assert second["dedup"]["matched_case_id"] == first["case_id"]
    assert second["case_id"] != first["case_id"]
    assert second["status"] == "queued"
    # Scored without the candidate's history until a person confirms it is theirs.
    assert not [r for r in second["urgency"]["reasons"] if r["rule"].startswith("historie.")]
    # The evidence as a waterfall that adds up to the score, with the model that decided.
    steps = second["dedup"]["contributions"]
    assert steps
    assert abs(sum(s["weight"] for s in steps) - second["dedup"]["score"]) < 0.05
    assert second["dedup"]["model"]
    await runtime.enqueuer.flush()
    assert (
        await runtime.redis.zscore(runtime.keys.queue(second["gebied"]), second["melding_id"])
        is not None
    )


async def test_an_operator_sets_urgency_by_hand_with_a_reason(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    regulier = melding_body(signals=[], category="overlast", address={"woonplaats": "Esbeek"})
    hoog = melding_body(signals=["dreiging", "letsel"], address={"woonplaats": "Esbeek"})
    low = await (await post(client, tokens, regulier)).json()
    high = await (await post(client, tokens, hoog)).json()
    url = f"{URL}/{low['melding_id']}/urgency"
    await runtime.enqueuer.flush()
    order = [m.decode() for m in await runtime.redis.zrange(runtime.keys.queue("zuid"), 0, -1)]
    assert order.index(high["melding_id"]) < order.index(low["melding_id"])

    missing_reason = await client.post(
        url, json={"level": "crisis"}, headers=tokens.user("operator")
    )
    assert missing_reason.status == 422
    assert [e["pointer"] for e in (await missing_reason.json())["errors"]] == ["/reason"]
    for who in ("specialist-zuid", "ops"):
        denied = await client.post(url, json={"level": "crisis", "reason": "Belde zelf, acuut."},
                                   headers=tokens.user(who))  # fmt: skip
        assert denied.status == 403
    assert (await client.post(url, json={"level": "crisis", "reason": "x" * 10},
                              headers=tokens.client(Source.politie))).status == 403  # fmt: skip

    resp = await client.post(url, json={"level": "crisis", "reason": "Melder belde terug: wapen."},
                             headers=tokens.user("operator"))  # fmt: skip
    assert resp.status == 200
    done = await resp.json()
    assert done["level"] == "crisis"
    received = datetime.fromisoformat(regulier["received_at"])
    assert datetime.fromisoformat(done["respond_before"]) == received + timedelta(hours=1)
    await runtime.enqueuer.flush()
    order = [m.decode() for m in await runtime.redis.zrange(runtime.keys.queue("zuid"), 0, -1)]
    assert order.index(low["melding_id"]) < order.index(high["melding_id"])  # the queue follows
    shown = await (await client.get(f"{URL}/{low['melding_id']}",
                                    headers=tokens.user("operator"))).json()  # fmt: skip
    assert shown["urgency"]["level"] == "crisis"
    assert shown["urgency"]["reasons"][-1]["rule"] == "handmatig.crisis"
    audited = await runtime.pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE melding_id = $1 AND action = "
        "'melding.urgency_override'",
        low["melding_id"],
    )
    assert audited == 1
    kept = await runtime.pool.fetchrow(
        "SELECT previous_level, level FROM urgency_overrides WHERE melding_id = $1",
        low["melding_id"],
    )
    assert (kept["previous_level"], kept["level"]) == ("regulier", "crisis")


async def test_a_stored_melding_is_queued_even_when_its_caller_stopped_waiting(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    """The batch writer queues what it committed itself: a caller cancelled while its
    batch waits for the database (a stop cancels the handlers still running) leaves no
    melding stored and on no queue."""
    principal = await runtime.authenticator.authenticate(tokens.clients[Source.politie])
    assert principal is not None
    body = melding_body()
    melding = runtime.intake.parse(orjson.dumps(body))
    blocker = await runtime.pool.acquire()
    tx = blocker.transaction()
    await tx.start()
    await blocker.execute("LOCK TABLE meldingen IN EXCLUSIVE MODE")  # the store waits
    try:
        caller = asyncio.create_task(runtime.intake.submit(
            melding, principal, request_id="cancelled", endpoint="test"))  # fmt: skip
        await asyncio.sleep(0.3)  # its batch is in the database, waiting for the lock
        caller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await caller
    finally:
        await tx.rollback()
        await runtime.pool.release(blocker)
    for _ in range(100):
        row = await runtime.pool.fetchrow(
            "SELECT id, gebied, status FROM meldingen WHERE external_id = $1", body["external_id"]
        )
        if row is not None:
            break
        await asyncio.sleep(0.05)
    assert row is not None  # committed after the caller had gone
    assert row["status"] == "queued"
    await runtime.enqueuer.flush()
    assert await runtime.redis.zscore(runtime.keys.queue(row["gebied"]), str(row["id"]))


async def test_an_address_outside_the_region_goes_to_the_crisis_service_with_a_reason(
    client: Client, tokens: Tokens
) -> None:
    """Not silently into the regional pool: marked, with why, for the crisis service to
    pass on; a postcode outside the region wins over the source's gebied hint."""
    cases = [
        ({"postcode": "9711 AB", "huisnummer": "3", "woonplaats": "Groningen"}, None,
         "buiten de regio"),
        ({"postcode": "9711 AB", "huisnummer": "3"}, "zuid", "buiten de regio"),
        ({"woonplaats": "Appingedam"}, None, "niet bekend"),
        ({"woonplaats": "Appingedam"}, "zuid", None),
        ({"woonplaats": "Riel"}, None, None),
    ]  # fmt: skip
    for address, hint, note in cases:
        body = melding_body(address=address)
        if hint is not None:
            body["gebied_hint"] = hint
        resp = await post(client, tokens, body)
        assert resp.status == 201, await resp.text()
        answer = await resp.json()
        if note is None:
            assert answer["gebied_note"] is None
            assert answer["gebied"] != "regio"
        else:
            assert answer["gebied"] == "regio", address
            assert note in answer["gebied_note"]
            read = await client.get(f"/api/v1/meldingen/{answer['melding_id']}",
                                    headers=tokens.user("operator"))  # fmt: skip
            assert (await read.json())["gebied_note"] == answer["gebied_note"]


def test_a_decision_stored_before_candidates_had_scores_still_reads() -> None:
    """Meldingen decided before each candidate's score and waterfall were kept hold
    candidates as {case_id, open}: they read with no score, not as an error."""
    case_id = uuid.uuid4()
    older = {"method": "blocking+fellegi-sunter", "reasons": [],
             "candidates": [{"case_id": str(case_id), "open": True}]}  # fmt: skip
    read = dedup_out("review", case_id, 12.5, older)
    assert [(c.case_id, c.open, c.score, c.contributions) for c in read.candidates] == [
        (case_id, True, None, [])
    ]
    assert read.contributions == []


async def test_a_crisis_received_after_a_melding_is_no_earlier_crisis_of_it(
    client: Client, tokens: Tokens
) -> None:
    """A source that sends late: a melding received two days before its household's
    crisis, arriving after it, is not told of an "earlier" crisis; one received after
    the crisis is. Scoring it again (a link, an unlink) says the same (history_of)."""
    name = household_name()
    person = [_person(achternaam=name, bsn=None)]
    now = TEST_CLOCK.now().replace(microsecond=0)

    def received(at: datetime) -> dict[str, Any]:
        return melding_body(signals=[], category="overlast", persons=person,
                            address=crisis["address"], received_at=at.isoformat())  # fmt: skip

    crisis = melding_body(signals=["levensgevaar"], persons=person,
                          received_at=(now - timedelta(hours=1)).isoformat())  # fmt: skip
    first = await (await post(client, tokens, crisis)).json()
    assert first["urgency"]["level"] == "crisis"
    late = await (await post(client, tokens, received(now - timedelta(days=2)))).json()
    later = await (await post(client, tokens, received(now))).json()
    for answer in (late, later):
        assert answer["case_id"] == first["case_id"], answer["dedup"]
    assert "historie.eerdere_crisis" not in [r["rule"] for r in late["urgency"]["reasons"]]
    assert "historie.eerdere_crisis" in [r["rule"] for r in later["urgency"]["reasons"]]
