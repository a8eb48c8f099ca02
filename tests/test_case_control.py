"""Corrections by hand over HTTP: link, unlink, merge, review, close; audited, and the
queue and later recognition follow. Real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from helpers import (
    TEST_CLOCK,
    Tokens,
    born_of,
    day_mistyped,
    fresh_bsn,
    melding_body,
    next_event,
)
from helpers import household_name as _name
from triage.queue.priority import priority
from triage.runtime import Runtime
from triage.vocabulary import Level

Client = TestClient[Any, Any]
MELDINGEN = "/api/v1/meldingen"
CASES = "/api/v1/cases"
REASON = "Zelfde gezin, bevestigd met de wijkagent."


def _at(hours_ago: float) -> str:
    return (TEST_CLOCK.now() - timedelta(hours=hours_ago)).replace(microsecond=0).isoformat()


def _person(name: str, **overrides: Any) -> dict[str, Any]:
    return {"role": "betrokkene", "voornaam": "Sanne", "achternaam": name,
            "geboortedatum": born_of(name), **overrides}  # fmt: skip


async def _post(client: Client, tokens: Tokens, body: dict[str, Any]) -> dict[str, Any]:
    resp = await client.post(MELDINGEN, json=body, headers=tokens.user("operator"))
    assert resp.status == 201, await resp.text()
    data: dict[str, Any] = await resp.json()
    return data


async def _change(
    client: Client, tokens: Tokens, url: str, body: dict[str, Any], who: str = "operator"
) -> Any:
    return await client.post(url, json=body, headers=tokens.user(who))


async def _case(client: Client, tokens: Tokens, case_id: str) -> dict[str, Any]:
    resp = await client.get(f"{CASES}/{case_id}", headers=tokens.user("operator"))
    assert resp.status == 200
    data: dict[str, Any] = await resp.json()
    return data


async def _priority(runtime: Runtime, gebied: str, melding_id: str) -> float | None:
    await runtime.enqueuer.flush()
    score: float | None = await runtime.redis.zscore(runtime.keys.queue(gebied), melding_id)
    return score


async def _unrecognised_pair(
    client: Client, tokens: Tokens
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A melding, and a later one about the same household with nothing that recognition
    could match on (a case of its own, regulier)."""
    earlier = await _post(client, tokens, melding_body(
        received_at=_at(5), persons=[_person(_name())]))  # fmt: skip
    later = await _post(client, tokens, melding_body(
        received_at=_at(1), category="overlast", signals=[],
        persons=[_person(_name(), voornaam="Kees")]))  # fmt: skip
    assert later["urgency"]["level"] == "regulier"
    assert later["case_id"] != earlier["case_id"]
    return earlier, later


async def test_linking_a_melding_makes_it_a_herhaalmelding_and_the_queue_follows(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    earlier, later = await _unrecognised_pair(client, tokens)
    before = await _priority(runtime, later["gebied"], later["melding_id"])

    resp = await _change(client, tokens, f"{MELDINGEN}/{later['melding_id']}/link",
                         {"case_id": earlier["case_id"], "reason": REASON})  # fmt: skip
    assert resp.status == 200, await resp.text()
    done = await resp.json()
    assert done["case_id"] == earlier["case_id"]
    assert done["moved_melding_ids"] == [later["melding_id"]]
    assert done["closed_case_ids"] == [later["case_id"]]  # it held only this melding
    [raised] = done["raised"]
    # Score 34 (open case, herhaalmelding, history) is hoog; a herhaalmelding within 30
    # days raises it one step more.
    assert raised["level"] == "acuut"
    after = await _priority(runtime, later["gebied"], later["melding_id"])
    assert before is not None
    assert after is not None
    assert after < before  # dispatched sooner

    case = await _case(client, tokens, earlier["case_id"])
    assert [m["melding_id"] for m in case["meldingen"]] == [
        earlier["melding_id"], later["melding_id"],
    ]  # fmt: skip
    assert case["changes"][-1]["action"] == "link"
    assert case["changes"][-1]["reason"] == REASON
    gone = await _case(client, tokens, later["case_id"])
    assert (gone["status"], gone["merged_into"]) == ("closed", earlier["case_id"])
    shown = await (await client.get(f"{MELDINGEN}/{later['melding_id']}",
                                    headers=tokens.user("operator"))).json()  # fmt: skip
    rules = [r["rule"] for r in shown["urgency"]["reasons"]]
    assert "historie.herhaalmelding_30d" in rules
    assert shown["dedup"]["decision"] == "new_case"  # what the intake decided stays shown
    audited = await runtime.pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'case.link' AND melding_id = $1",
        later["melding_id"],
    )
    assert audited == 2  # one entry per case touched


async def test_after_a_link_recognition_finds_the_corrected_household(
    client: Client, tokens: Tokens
) -> None:
    kees = _person(_name(), voornaam="Kees", bsn=fresh_bsn())
    target = await _post(client, tokens, melding_body(persons=[_person(_name())]))
    stray = await _post(client, tokens, melding_body(
        address={"woonplaats": "Goirle"}, persons=[kees]))  # fmt: skip
    resp = await _change(client, tokens, f"{MELDINGEN}/{stray['melding_id']}/link",
                         {"case_id": target["case_id"], "reason": REASON})  # fmt: skip
    assert resp.status == 200
    again = await _post(client, tokens, melding_body(
        address={"woonplaats": "Goirle"}, persons=[kees]))  # fmt: skip
    assert again["dedup"]["decision"] == "linked"
    assert again["case_id"] == target["case_id"]


async def test_unlinking_gives_the_melding_a_case_of_its_own(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    bsn = fresh_bsn()
    first = melding_body(persons=[_person(_name(), bsn=bsn)])
    first_out = await _post(client, tokens, first)
    # Another member of the family at the same dwelling (the address and the family
    # name): linked.
    name = first["persons"][0]["achternaam"]
    lodger = _person(name, voornaam="Joost", geboortedatum="1971-01-09", bsn=fresh_bsn())
    second_out = await _post(
        client, tokens, melding_body(address=first["address"], persons=[lodger])
    )
    assert second_out["case_id"] == first_out["case_id"]

    alone = await _change(client, tokens, f"{MELDINGEN}/{first_out['melding_id']}/unlink",
                          {"reason": "Andere bewoner, ander huishouden."})  # fmt: skip
    assert alone.status == 200, await alone.text()
    new_case = (await alone.json())["case_id"]
    assert new_case not in (first_out["case_id"], second_out["case_id"])
    sole = await _change(client, tokens, f"{MELDINGEN}/{first_out['melding_id']}/unlink",
                         {"reason": "Nog een keer."})  # fmt: skip
    assert sole.status == 409  # the only melding of its case now
    assert (await sole.json())["detail"].startswith("this is the only melding")

    # Recognition follows: the lodger belongs to the old case, the first person to the new.
    lodger_again = await _post(client, tokens, melding_body(address=first["address"],
                                                            persons=[lodger]))  # fmt: skip
    assert lodger_again["case_id"] == first_out["case_id"]
    first_again = await _post(client, tokens, melding_body(
        address={"woonplaats": "Tilburg"}, persons=first["persons"]))  # fmt: skip
    assert first_again["case_id"] == new_case
    keys = await runtime.pool.fetchval(
        "SELECT count(*) FROM match_keys WHERE case_id = $1 AND key = $2",
        first_out["case_id"], f"b:{bsn}",
    )  # fmt: skip
    assert keys == 0


async def test_merging_keeps_history_and_raises_what_joined_it(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    old = await _post(client, tokens, melding_body(
        received_at=_at(30), signals=["levensgevaar"], persons=[_person(_name())]))  # fmt: skip
    assert old["urgency"]["level"] == "crisis"
    new = await _post(client, tokens, melding_body(
        received_at=_at(2), category="overlast", signals=[],
        persons=[_person(_name(), voornaam="Kees")]))  # fmt: skip
    url = f"{CASES}/{new['case_id']}/merge"

    assert (await _change(client, tokens, url, {"into_case_id": new["case_id"],
                                                "reason": REASON})).status == 409  # fmt: skip
    for who in ("specialist-zuid", "ops"):
        denied = await _change(client, tokens, url, {"into_case_id": old["case_id"],
                                                     "reason": REASON}, who)  # fmt: skip
        assert denied.status == 403
    elsewhere = await _change(
        client,
        tokens,
        url,
        {"into_case_id": old["case_id"], "reason": REASON},
        "coordinator-tilburg",
    )
    assert elsewhere.status == 200  # both cases are in Tilburg, the coordinator's gebied
    done = await elsewhere.json()
    assert done["closed_case_ids"] == [new["case_id"]]
    [raised] = done["raised"]
    # An earlier crisis and a herhaalmelding: at least two steps above regulier.
    assert raised["melding_id"] == new["melding_id"]
    assert raised["level"] in ("acuut", "crisis")
    merged = await _case(client, tokens, new["case_id"])
    assert merged["merged_into"] == old["case_id"]
    assert merged["meldingen"] == []
    assert merged["changes"][0]["action"] == "merge"
    kept = await _case(client, tokens, old["case_id"])
    assert {m["melding_id"] for m in kept["meldingen"]} == {old["melding_id"], new["melding_id"]}
    assert {p["voornaam"] for p in kept["persons"]} == {"Sanne", "Kees"}
    again = await _change(client, tokens, url, {"into_case_id": old["case_id"],
                                                "reason": REASON})  # fmt: skip
    assert again.status == 409  # a merged case is closed
    left = await runtime.pool.fetchval(
        "SELECT count(*) FROM match_keys WHERE case_id = $1", new["case_id"]
    )
    assert left == 0


async def test_a_coordinator_changes_only_their_gebied(client: Client, tokens: Tokens) -> None:
    zuid = await _post(client, tokens, melding_body(address={"woonplaats": "Esbeek"}))
    tilburg = await _post(client, tokens, melding_body())
    resp = await _change(client, tokens, f"{CASES}/{tilburg['case_id']}/merge",
                         {"into_case_id": zuid["case_id"], "reason": REASON},
                         "coordinator-tilburg")  # fmt: skip
    assert resp.status == 404
    missing = await _change(
        client,
        tokens,
        f"{CASES}/{tilburg['case_id']}/merge",
        {"into_case_id": tilburg["melding_id"], "reason": REASON},
    )
    assert missing.status == 404
    short = await _change(client, tokens, f"{CASES}/{tilburg['case_id']}/merge",
                          {"into_case_id": zuid["case_id"], "reason": "ja"})  # fmt: skip
    assert short.status == 422
    assert [e["pointer"] for e in (await short.json())["errors"]] == ["/reason"]


async def _review_pair(client: Client, tokens: Tokens) -> tuple[dict[str, Any], dict[str, Any]]:
    name = _name()
    at_home = melding_body(persons=[_person(name)])
    known = await _post(client, tokens, at_home)
    next_door = {**at_home["address"], "huisnummer": str(int(at_home["address"]["huisnummer"]) + 2)}
    vague = await _post(
        client,
        tokens,
        # The surname, an initial that fits, a digit of the birth date mistyped, next
        # door: maybe the same person.
        melding_body(
            address=next_door,
            persons=[_person(name, voornaam="S.", geboortedatum=day_mistyped(born_of(name)))],
        ),
    )
    assert vague["dedup"]["decision"] == "review"
    return known, vague


async def test_reviews_are_listed_then_confirmed_or_rejected(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    known, vague = await _review_pair(client, tokens)
    _, other_vague = await _review_pair(client, tokens)
    listed = await client.get("/api/v1/reviews?limit=500", headers=tokens.user("operator"))
    assert listed.status == 200
    by_id = {r["melding_id"]: r for r in (await listed.json())["reviews"]}
    assert by_id[vague["melding_id"]]["candidate_case_id"] == known["case_id"]
    assert by_id[vague["melding_id"]]["reasons"]
    assert (await client.get("/api/v1/reviews", headers=tokens.user("specialist-zuid"))
            ).status == 403  # fmt: skip
    assert (await client.get("/api/v1/reviews?limit=0", headers=tokens.user("operator"))
            ).status == 422  # fmt: skip

    url = f"{MELDINGEN}/{vague['melding_id']}/review"
    confirmed = await _change(client, tokens, url, {"decision": "confirm", "reason": REASON})
    assert confirmed.status == 200, await confirmed.text()
    assert (await confirmed.json())["case_id"] == known["case_id"]
    twice = await _change(client, tokens, url, {"decision": "reject", "reason": REASON})
    assert twice.status == 409
    desk = await client.get("/api/v1/me/events", headers=tokens.user("operator"))
    assert (await desk.content.readline()).startswith(b": connected")
    rejected = await _change(client, tokens, f"{MELDINGEN}/{other_vague['melding_id']}/review",
                             {"decision": "reject", "reason": "Andere Marloes."})  # fmt: skip
    assert rejected.status == 200
    # Its review mark leaves the werkvoorraad: the open pages are told.
    event, data = await next_event(desk)
    while event != "werkvoorraad" or other_vague["melding_id"] not in data["melding_ids"]:
        event, data = await next_event(desk)
    desk.close()
    assert (await rejected.json())["case_id"] == other_vague["case_id"]
    not_review = await _change(client, tokens, f"{MELDINGEN}/{known['melding_id']}/review",
                               {"decision": "reject", "reason": REASON})  # fmt: skip
    assert not_review.status == 409

    listed = await client.get("/api/v1/reviews?limit=500", headers=tokens.user("operator"))
    pending = {r["melding_id"] for r in (await listed.json())["reviews"]}
    assert not pending & {vague["melding_id"], other_vague["melding_id"]}
    outcomes = dict(await runtime.pool.fetch(
        "SELECT id::text, review_outcome FROM meldingen WHERE id = ANY($1::uuid[])",
        [vague["melding_id"], other_vague["melding_id"]]))  # fmt: skip
    assert outcomes == {vague["melding_id"]: "confirmed", other_vague["melding_id"]: "rejected"}
    assert (await _case(client, tokens, other_vague["case_id"]))["status"] == "open"
    for melding, outcome in ((vague, "confirmed"), (other_vague, "rejected")):
        read = await client.get(f"{MELDINGEN}/{melding['melding_id']}",
                                headers=tokens.user("operator"))  # fmt: skip
        dedup = (await read.json())["dedup"]
        assert (dedup["decision"], dedup["review"]) == ("review", outcome)  # settled, shown
        assert dedup["review_at"] is not None


async def test_a_closed_case_is_history_for_the_next_one(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    person = _person(_name(), bsn=fresh_bsn())
    queued = await _post(client, tokens, melding_body(persons=[person]))
    waiting = await _change(client, tokens, f"{CASES}/{queued['case_id']}/close",
                            {"reason": "Hulp loopt via het wijkteam."})  # fmt: skip
    assert waiting.status == 409  # its melding still waits for first contact
    assert "wait for first contact" in (await waiting.json())["detail"]

    bsn, name = fresh_bsn(), _name()
    advies = await _post(client, tokens, melding_body(
        kind="adviesvraag", address={"woonplaats": "Oisterwijk"},
        persons=[_person(name, bsn=bsn)]))  # fmt: skip
    url = f"{CASES}/{advies['case_id']}/close"
    closed = await _change(client, tokens, url, {"reason": "Advies gegeven, afgerond."})
    assert closed.status == 200, await closed.text()
    assert (await _change(client, tokens, url, {"reason": "Nog eens."})).status == 409
    still = await runtime.pool.fetchval(
        "SELECT bool_or(open) FROM match_keys WHERE case_id = $1", advies["case_id"]
    )
    assert still is False  # kept as history, no longer a link target

    back = await _post(client, tokens, melding_body(
        address={"woonplaats": "Oisterwijk"}, persons=[_person(name, bsn=bsn)]))  # fmt: skip
    assert back["case_id"] != advies["case_id"]
    assert back["dedup"]["decision"] == "new_case"
    assert "historie.afgesloten_casus" in [r["rule"] for r in back["urgency"]["reasons"]]
    assert (await _case(client, tokens, back["case_id"]))["previous_case_id"] == advies["case_id"]
    linked = await _change(client, tokens, f"{MELDINGEN}/{back['melding_id']}/link",
                           {"case_id": advies["case_id"], "reason": REASON})  # fmt: skip
    assert linked.status == 409  # only open cases take meldingen


async def test_meldingen_arriving_during_a_merge_never_land_in_the_closed_case(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    """Intakes about a household race a merge of its case: each ends in an open case.
    Two guards hold this (the merge takes the intake's advisory locks; the intake finds a
    closed case when adding to it); with both removed this test fails."""
    for _ in range(5):
        person = _person(_name(), bsn=fresh_bsn())
        here = await _post(client, tokens, melding_body(persons=[person]))
        there = await _post(client, tokens, melding_body(persons=[_person(_name())]))
        merge = _change(client, tokens, f"{CASES}/{here['case_id']}/merge",
                        {"into_case_id": there["case_id"], "reason": REASON})  # fmt: skip
        arrivals = [
            client.post(MELDINGEN, json=melding_body(address={"woonplaats": "Tilburg"},
                                                     persons=[person]),
                        headers=tokens.user("operator"))
            for _ in range(8)
        ]  # fmt: skip
        results = await asyncio.gather(merge, *arrivals)
        assert results[0].status == 200
        assert [r.status for r in results[1:]] == [201] * 8
        cases = {(await r.json())["case_id"] for r in results[1:]}
        statuses = await runtime.pool.fetch(
            "SELECT c.status, count(*) FROM meldingen m JOIN cases c ON c.id = m.case_id"
            " WHERE m.id = ANY($1::uuid[]) GROUP BY 1",
            [(await r.json())["melding_id"] for r in results[1:]],
        )
        assert [tuple(s) for s in statuses] == [("open", 8)]
        assert cases <= {here["case_id"], there["case_id"]}
        # Whatever landed in the merged case before it closed went along with it.
        assert (
            await runtime.pool.fetchval(
                "SELECT count(*) FROM meldingen WHERE case_id = $1", here["case_id"]
            )
            == 0
        )


async def test_a_rebuilt_profile_equals_the_one_the_intake_kept(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    """Corrections rebuild profiles and keys from scratch; the intake adds to them. Both
    must describe a case alike, or recognition would change after a correction."""
    from triage.cases.control import _Q, _stored
    from triage.households.profile import build_profile

    name = _name()
    first = melding_body(received_at=_at(3), persons=[
        _person(name, bsn=fresh_bsn()), _person(name, voornaam="Daan", geboortedatum="2015-06-01")
    ])  # fmt: skip
    case_id = (await _post(client, tokens, first))["case_id"]
    for hours, persons in ((2, first["persons"][:1]), (1, [_person(name, voornaam="S.")])):
        body = melding_body(received_at=_at(hours), address=first["address"], persons=persons)
        assert (await _post(client, tokens, body))["case_id"] == case_id
    async with runtime.pool.acquire() as conn:
        kept = await conn.fetchrow("SELECT * FROM cases WHERE id = $1", case_id)
        keys = {r["key"] for r in await conn.fetch(
            "SELECT key FROM match_keys WHERE case_id = $1", case_id)}  # fmt: skip
        rows = await conn.fetch(_Q["case_meldingen"], [kept["id"]])
    rebuilt = build_profile([_stored(r).facts for r in rows])
    assert rebuilt.persons == kept["match_persons"]
    assert rebuilt.addresses == kept["match_addresses"]
    assert rebuilt.keys == keys
    assert [(datetime.fromisoformat(r["received_at"]), r["level"]) for r in rebuilt.recent] == [
        (datetime.fromisoformat(r["received_at"]), r["level"]) for r in kept["recent"]
    ]


async def test_a_melding_linked_into_a_case_of_another_gebied_goes_there(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    there = await _post(client, tokens, melding_body(
        address={"woonplaats": "Rijen"}, persons=[_person(_name())]))  # fmt: skip
    # Without an address or a hint: the regional desk's, with a note saying why.
    alone = melding_body(persons=[_person(_name(), voornaam="Kees")])
    del alone["address"]
    here = await _post(client, tokens, alone)
    assert (there["gebied"], here["gebied"]) == ("west", "regio")
    assert await _priority(runtime, "regio", here["melding_id"]) is not None

    resp = await _change(client, tokens, f"{MELDINGEN}/{here['melding_id']}/link",
                         {"case_id": there["case_id"], "reason": REASON})  # fmt: skip
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["rerouted"] == [here["melding_id"]]
    # Routed again to the gebied of the household's case, re-scored with its history.
    assert await _priority(runtime, "regio", here["melding_id"]) is None
    assert await _priority(runtime, "west", here["melding_id"]) is not None
    row = await runtime.pool.fetchrow(
        "SELECT gebied, status, gebied_note FROM meldingen WHERE id = $1", here["melding_id"]
    )
    assert (row["gebied"], row["status"]) == ("west", "queued")
    assert here["gebied_note"] is not None  # why intake put it there: no longer so
    assert row["gebied_note"] is None


async def test_an_unlinked_melding_loses_what_the_history_of_the_case_gave_it(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    bsn = fresh_bsn()
    person = _person(_name(), bsn=bsn)
    await _post(client, tokens, melding_body(received_at=_at(5), persons=[person]))
    plain = {"category": "overlast", "signals": []}
    alone = await _post(client, tokens, melding_body(received_at=_at(1), **plain,
                                                     persons=[_person(_name())]))  # fmt: skip
    joined = await _post(client, tokens, melding_body(received_at=_at(1), **plain,
                                                      persons=[person]))  # fmt: skip
    assert joined["dedup"]["decision"] == "linked"
    assert (joined["urgency"]["level"], joined["urgency"]["score"]) != (
        alone["urgency"]["level"],
        alone["urgency"]["score"],
    )  # raised by the history

    resp = await _change(client, tokens, f"{MELDINGEN}/{joined['melding_id']}/unlink",
                         {"reason": "Ander gezin: BSN verkeerd overgenomen."})  # fmt: skip
    assert resp.status == 200, await resp.text()
    [rescored] = (await resp.json())["rescored"]
    assert rescored["melding_id"] == joined["melding_id"]
    # Scored as the same melding without that history is: as the one that came alone.
    assert (rescored["level"], rescored["score"]) == (
        alone["urgency"]["level"],
        alone["urgency"]["score"],
    )
    row = await runtime.pool.fetchrow(
        "SELECT urgency_level, urgency_score, respond_before FROM meldingen WHERE id = $1",
        joined["melding_id"],
    )  # fmt: skip
    assert (row["urgency_level"], row["urgency_score"]) == (rescored["level"], rescored["score"])
    # Its place in the queue follows the level it has now.
    assert await _priority(runtime, joined["gebied"], joined["melding_id"]) == priority(
        Level(row["urgency_level"]), row["respond_before"]
    )


async def test_a_link_raises_a_melding_already_offered(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    """A melding is offered within seconds of intake: a link by hand that makes it a
    herhaalmelding raises it where it is (its offer stands, its deadline comes sooner),
    not only while it waits on the queue."""
    earlier, later = await _unrecognised_pair(client, tokens)
    offered = await client.post(f"{MELDINGEN}/{later['melding_id']}/reassign",
                                json={"to": "sp-tilburg-1", "reason": "Kent het gezin al."},
                                headers=tokens.user("operator"))  # fmt: skip
    assert offered.status == 200, await offered.text()

    resp = await _change(client, tokens, f"{MELDINGEN}/{later['melding_id']}/link",
                         {"case_id": earlier["case_id"], "reason": REASON})  # fmt: skip
    assert resp.status == 200, await resp.text()
    [raised] = (await resp.json())["raised"]
    assert raised["level"] == "acuut"
    row = await runtime.pool.fetchrow(
        "SELECT status, urgency_level, respond_before FROM meldingen WHERE id = $1",
        uuid.UUID(later["melding_id"]),
    )
    assert (row["status"], row["urgency_level"]) == ("offered", "acuut")
    assert row["respond_before"].isoformat() == raised["respond_before"].replace("Z", "+00:00")
    assert await _priority(runtime, later["gebied"], later["melding_id"]) is None  # not queued


async def test_a_coordinator_cannot_pull_another_gebieds_melding_into_theirs(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    """A case of tilburg holds a melding of zuid (the household moved): its coordinator
    merging that case into another of tilburg would move the melding, its offer and a read
    of all of it into tilburg. Refused; the desk may."""
    name = _name()
    home = await _post(client, tokens, melding_body(persons=[_person(name)]))
    moved = await _post(client, tokens, melding_body(address={"woonplaats": "Esbeek"},
                                                     persons=[_person(name)]))  # fmt: skip
    assert moved["case_id"] == home["case_id"]
    assert (home["gebied"], moved["gebied"]) == ("tilburg", "zuid")
    other = await _post(client, tokens, melding_body())
    url = f"{CASES}/{home['case_id']}/merge"
    body = {"into_case_id": other["case_id"], "reason": REASON}
    refused = await _change(client, tokens, url, body, "coordinator-tilburg")
    assert refused.status == 403, await refused.text()
    gebied = await runtime.pool.fetchval("SELECT gebied FROM meldingen WHERE id = $1",
                                         uuid.UUID(moved["melding_id"]))  # fmt: skip
    assert gebied == "zuid"  # nothing moved
    done = await _change(client, tokens, url, body)  # the desk
    assert done.status == 200, await done.text()
    assert (await done.json())["rerouted"] == [moved["melding_id"]]


async def test_a_coordinator_is_not_shown_the_cases_of_another_gebied_recognition_weighed(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    """The same BSN as a case of zuid, under another name in tilburg: the desk sees that
    case among what recognition weighed, with its evidence; tilburg's coordinator reads
    the melding without it (its id and "BSN gelijk" would tell them of that household)."""
    bsn = fresh_bsn()
    esbeek = {"woonplaats": "Esbeek"}
    there = await _post(
        client, tokens, melding_body(address=esbeek, persons=[_person(_name(), bsn=bsn)])
    )
    here = await _post(client, tokens, melding_body(persons=[_person(_name(), bsn=bsn)]))
    assert (there["gebied"], here["gebied"]) == ("zuid", "tilburg")
    url = f"{MELDINGEN}/{here['melding_id']}"
    desk = await (await client.get(url, headers=tokens.user("operator"))).json()
    weighed = {c["case_id"] for c in desk["dedup"]["candidates"]}
    assert there["case_id"] in weighed | {desk["dedup"]["matched_case_id"]}
    seen = await client.get(url, headers=tokens.user("coordinator-tilburg"))
    assert seen.status == 200
    assert there["case_id"] not in await seen.text()
    dedup = (await seen.json())["dedup"]
    assert dedup["decision"] == desk["dedup"]["decision"]
    # Only cases of their own gebied (another test's household of tilburg may be weighed
    # as well: the test database is shared).
    shown = [uuid.UUID(c["case_id"]) for c in dedup["candidates"]]
    gebieden = await runtime.pool.fetchval(
        "SELECT array_agg(DISTINCT gebied) FROM cases WHERE id = ANY ($1::uuid[])", shown
    )
    assert set(gebieden or []) <= {"tilburg"}, gebieden
    # The desk is to settle a review against that case: the coordinator is told so.
    assert desk["dedup"]["decision"] == "review"
    assert desk["dedup"]["matched_case_id"] == there["case_id"]
    assert (dedup["matched_case_id"], dedup["score"], dedup["contributions"]) == (None, None, [])
    assert "buiten je gebied" in dedup["reasons"][0]
    # Nor does their list of reviews to settle name it.
    listed = await client.get("/api/v1/reviews?limit=500",
                              headers=tokens.user("coordinator-tilburg"))  # fmt: skip
    assert listed.status == 200
    assert there["case_id"] not in await listed.text()
    [mine] = [r for r in (await listed.json())["reviews"] if r["melding_id"] == here["melding_id"]]
    assert (mine["candidate_case_id"], mine["score"]) == (None, None)
    desks = await (await client.get("/api/v1/reviews?limit=500",
                                    headers=tokens.user("operator"))).json()  # fmt: skip
    assert {r["candidate_case_id"] for r in desks["reviews"]} >= {there["case_id"]}


async def test_a_melding_is_given_by_hand_only_within_its_gebied_or_the_backup(
    client: Client, tokens: Tokens
) -> None:
    """Given to someone of another gebied, they would read all of a case that is not
    theirs: refused, naming the field."""
    melding = await _post(client, tokens, melding_body())
    url = f"{MELDINGEN}/{melding['melding_id']}/reassign"
    other = await client.post(url, json={"to": "sp-langstraat-1", "reason": "Kent het gezin."},
                              headers=tokens.user("coordinator-tilburg"))  # fmt: skip
    assert other.status == 422, await other.text()
    assert [e["pointer"] for e in (await other.json())["errors"]] == ["/to"]
    own = await client.post(url, json={"to": "sp-tilburg-1", "reason": "Kent het gezin."},
                            headers=tokens.user("coordinator-tilburg"))  # fmt: skip
    assert own.status == 200, await own.text()
