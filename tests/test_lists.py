"""Lists and searches (point 1 of the console): the werkvoorraad by deadline with filters
and keyset pages, cases by gebied/status/lead, households by address, name and BSN through
the recognition's keys, each search audited with its purpose and terms.

On a database of its own, so that a list holds exactly what the test put in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from helpers import (
    TEST_CLOCK,
    fresh_bsn,
    household_name,
    melding_body,
    migrated_database,
    own_runtime,
)
from triage.app import create_app
from triage.auth.accounts import add_client, add_user
from triage.config import Settings
from triage.intake.models import PersonOut
from triage.lists.people import group
from triage.runtime import Runtime
from triage.vocabulary import Source, UserRole

Client = TestClient[Any, Any]


@dataclass
class Desk:
    client: Client
    runtime: Runtime
    auth: dict[str, dict[str, str]]

    async def post(self, body: dict[str, Any], who: str = "operator") -> dict[str, Any]:
        resp = await self.client.post("/api/v1/meldingen", json=body, headers=self.auth[who])
        assert resp.status == 201, await resp.text()
        answer: dict[str, Any] = await resp.json()
        return answer

    async def get(self, path: str, who: str = "operator", status: int = 200) -> Any:
        resp = await self.client.get(path, headers=self.auth[who])
        assert resp.status == status, await resp.text()
        return await resp.json()

    async def search(self, body: dict[str, Any], who: str = "operator", status: int = 200) -> Any:
        resp = await self.client.post("/api/v1/households/search", json=body,
                                      headers=self.auth[who])  # fmt: skip
        assert resp.status == status, await resp.text()
        return await resp.json()


@pytest.fixture(scope="module")
async def desk(settings: Settings, servers: dict[str, str], redis_url: str) -> AsyncIterator[Desk]:
    async with (
        migrated_database(servers["admin_url"], "triage_lists") as url,
        own_runtime(settings, url, redis_url, "lists") as runtime,
    ):
        now = TEST_CLOCK.now()
        auth: dict[str, dict[str, str]] = {}
        async with runtime.pool.acquire() as conn:
            client = await add_client(conn, "lists-politie", Source.politie, now)
            auth["politie"] = {"Authorization": f"Bearer {client.token}"}
            for name, role, gebied in (
                ("operator", UserRole.operator, None),
                ("co-tilburg", UserRole.coordinator, "tilburg"),
                ("sp-tilburg-1", UserRole.specialist, "tilburg"),
                ("admin", UserRole.admin, None),
            ):
                user = await add_user(conn, name, role, now, gebied=gebied)
                auth[name] = {"Authorization": f"Bearer {user.token}"}
        app = create_app(runtime, background=False)
        app.cleanup_ctx.clear()  # own_runtime closes the runtime
        async with TestClient(TestServer(app)) as test_client:
            yield Desk(test_client, runtime, auth)


def _at(minutes_ago: float) -> str:
    return (TEST_CLOCK.now() - timedelta(minutes=minutes_ago)).replace(microsecond=0).isoformat()


_RANK = {"crisis": 0, "acuut": 1, "hoog": 2, "regulier": 3}


async def _one_by_one(desk: Desk, query: str) -> list[str]:
    """The werkvoorraad's ids read a page of one at a time, by each page's cursor."""
    seen: list[str] = []
    page = await desk.get(f"/api/v1/meldingen?{query}&limit=1")
    while True:
        seen += [r["melding_id"] for r in page["meldingen"]]
        if page["next"] is None:
            return seen
        page = await desk.get(f"/api/v1/meldingen?{query}&limit=1&after={page['next']}")


async def test_the_werkvoorraad_pages_by_urgency_and_deadline_and_filters(desk: Desk) -> None:
    """Most urgent first, then nearest deadline (a regulier whose deadline comes first
    still comes after a crisis), pages that neither skip nor repeat, filters that hold,
    and the gebied's network sees its own gebied only."""
    # Received 71.5 hours ago: its 72 hours run out in half an hour, before the crisis's
    # hour does; it still comes after it.
    old = await desk.post(melding_body(signals=[], category="overlast", received_at=_at(4290)))
    crisis = await desk.post(melding_body(signals=["wapen", "geweld_nu"], received_at=_at(1)))
    regular = await desk.post(melding_body(signals=[], category="overlast", received_at=_at(2)))
    elsewhere = await desk.post(melding_body(
        received_at=_at(3), address={"postcode": "4811 AA", "huisnummer": "3",
                                     "woonplaats": "Breda"},
    ))  # fmt: skip
    assert crisis["urgency"]["level"] in ("crisis", "acuut")
    ours = {crisis["melding_id"], regular["melding_id"], elsewhere["melding_id"]}

    everything = await desk.get("/api/v1/meldingen")
    rows = [r for r in everything["meldingen"] if r["melding_id"] in ours]
    assert len(rows) == 3
    order = [(_RANK[r["level"]], r["respond_before"]) for r in everything["meldingen"]]
    assert order == sorted(order)
    assert rows[0]["melding_id"] == crisis["melding_id"]
    assert old["urgency"]["level"] == "regulier"
    listed = [r["melding_id"] for r in everything["meldingen"]]
    deadline = {r["melding_id"]: r["respond_before"] for r in everything["meldingen"]}
    assert deadline[old["melding_id"]] < deadline[crisis["melding_id"]]
    assert listed.index(crisis["melding_id"]) < listed.index(old["melding_id"])
    assert set(rows[0]) >= {"level", "gebied", "source", "status", "holder"}
    assert "persons" not in rows[0]
    assert "summary" not in rows[0]

    # Or by deadline alone, whatever the level: the old regulier first; pages alike.
    by_deadline = await desk.get("/api/v1/meldingen?order=deadline")
    deadlines = [r["respond_before"] for r in by_deadline["meldingen"]]
    assert deadlines == sorted(deadlines)
    ids = [r["melding_id"] for r in by_deadline["meldingen"]]
    assert ids.index(old["melding_id"]) < ids.index(crisis["melding_id"])
    assert await _one_by_one(desk, "order=deadline") == ids
    await desk.get("/api/v1/meldingen?order=level", status=422)
    for empty in ("level", "status", "gebied", "source", "received_from", "review", "order"):
        await desk.get(f"/api/v1/meldingen?{empty}=", status=422)  # given: with a value

    assert await _one_by_one(desk, "order=urgency") == [
        r["melding_id"] for r in everything["meldingen"]
    ]

    level = crisis["urgency"]["level"]
    only = await desk.get(f"/api/v1/meldingen?level={level}&gebied={crisis['gebied']}")
    assert crisis["melding_id"] in {r["melding_id"] for r in only["meldingen"]}
    assert all(r["level"] == level and r["gebied"] == crisis["gebied"]
               for r in only["meldingen"])  # fmt: skip
    window = await desk.get("/api/v1/meldingen?received_from="
                            + _at(2.5).replace("+", "%2B") + "&received_until="
                            + _at(0).replace("+", "%2B"))  # fmt: skip
    assert {r["melding_id"] for r in window["meldingen"]} & ours == {
        crisis["melding_id"],
        regular["melding_id"],
    }
    none = await desk.get("/api/v1/meldingen?source=veilig_thuis")
    assert none["meldingen"] == []

    tilburg = await desk.get("/api/v1/meldingen", who="co-tilburg")
    assert {r["gebied"] for r in tilburg["meldingen"]} == {"tilburg"}
    assert elsewhere["melding_id"] not in {r["melding_id"] for r in tilburg["meldingen"]}
    await desk.get(f"/api/v1/meldingen?gebied={elsewhere['gebied']}", who="co-tilburg",
                   status=403)  # fmt: skip
    await desk.get("/api/v1/meldingen", who="politie", status=403)
    await desk.get("/api/v1/meldingen", who="admin", status=403)
    for bad in (
        "level=urgent",
        "status=contacted",
        "received_from=2026-11-28T09:00:00",
        "after=nonsense",
        "limit=0",
        "review=yes",
    ):
        problem = await desk.get(f"/api/v1/meldingen?{bad}", status=422)
        assert problem["errors"][0]["pointer"] == "/" + bad.split("=")[0]


async def test_cases_list_by_gebied_status_and_lead(desk: Desk) -> None:
    made = await desk.post(melding_body(received_at=_at(5)))
    listed = await desk.get("/api/v1/cases?status=open&gebied=tilburg")
    row = next(c for c in listed["cases"] if c["case_id"] == made["case_id"])
    assert row["waiting"] >= 1
    assert row["status"] == "open"
    assert row["lead"] is None
    opened = [c["opened_at"] for c in listed["cases"]]
    assert opened == sorted(opened, reverse=True)
    assert (await desk.get("/api/v1/cases?lead=nobody-leads-this"))["cases"] == []
    mine = await desk.get("/api/v1/cases", who="sp-tilburg-1")
    assert {c["gebied"] for c in mine["cases"]} == {"tilburg"}
    await desk.get("/api/v1/cases?gebied=west", who="sp-tilburg-1", status=403)
    await desk.get("/api/v1/cases?status=half", status=422)


async def test_households_are_found_the_ways_recognition_knows(desk: Desk) -> None:
    """By dwelling without its addition, by a surname spelled otherwise with or without
    birth date, by tussenvoegsel written after the name, by BSN; each person once."""
    bsn = fresh_bsn()
    body = melding_body(received_at=_at(6), persons=[
        {"role": "slachtoffer", "voornaam": "Sanne", "achternaam": "Jansen",
         "geboortedatum": "1988-03-04", "bsn": bsn},
        {"role": "pleger", "voornaam": "Kees", "tussenvoegsel": "van der",
         "achternaam": "Berg", "geboortedatum": "1985-07-01"},
    ])  # fmt: skip
    body["address"]["huisnummer"] += "-b"
    first = await desk.post(body)
    again = melding_body(
        received_at=_at(4), address=body["address"], source="politie",
        persons=[{"role": "slachtoffer", "voornaam": "S.", "achternaam": "Janssen",
                  "geboortedatum": "1988-03-04"}],
    )  # fmt: skip
    second = await desk.post(again)
    assert second["case_id"] == first["case_id"]
    postcode, number = body["address"]["postcode"], body["address"]["huisnummer"].split("-")[0]

    def found(answer: dict[str, Any]) -> dict[str, Any]:
        hits = [h for h in answer["households"] if h["case_id"] == first["case_id"]]
        assert len(hits) == 1, answer
        return hits[0]

    by_address = found(await desk.search({"purpose": "koppelen",
                                          "adres": {"postcode": postcode,
                                                    "huisnummer": int(number)}}))  # fmt: skip
    assert by_address["matched_on"] == ["adres"]
    names = {p["naam"]: p for p in by_address["persons"]}
    assert len(by_address["persons"]) == 2, by_address["persons"]
    sanne = names.get("Sanne Jansen") or names["S. Janssen"]
    assert sanne["times"] == 2
    assert sanne["bsn"] == bsn
    assert sanne["variants"]
    assert by_address["address"]["postcode"] == postcode.replace(" ", "")

    born = found(
        await desk.search(
            {"purpose": "beoordelen", "achternaam": "Janssen", "geboortedatum": "1988-04-03"}
        )
    )  # day and month swapped
    assert "naam en geboortedatum" in born["matched_on"]
    by_name = found(await desk.search({"purpose": "beoordelen", "achternaam": "Berg, van der"}))
    assert by_name["matched_on"] == ["naam"]  # no birth date was searched on
    found(await desk.search({"purpose": "contact", "bsn": bsn}))
    with_postcode = found(await desk.search({"purpose": "koppelen", "achternaam": "Jansen",
                                             "adres": {"postcode": postcode}}))  # fmt: skip
    assert with_postcode["matched_on"] == ["postcode en begin van de achternaam"]

    nothing = await desk.search({"purpose": "koppelen", "bsn": fresh_bsn()})
    assert nothing == {"households": [], "more": False}


async def test_someone_without_a_fixed_address_or_birth_date_is_found_by_surname(
    desk: Desk,
) -> None:
    """Reported from the street, no birth date: the surname alone (spelled otherwise)
    finds them, by their name with the woonplaats."""
    name = household_name()
    made = await desk.post(melding_body(
        received_at=_at(3), address={"woonplaats": "Tilburg"},
        persons=[{"role": "betrokkene", "voornaam": "Rik", "achternaam": name}],
    ))  # fmt: skip
    answer = await desk.search({"purpose": "koppelen", "achternaam": name.upper()})
    [hit] = [h for h in answer["households"] if h["case_id"] == made["case_id"]]
    assert hit["matched_on"] == ["naam en woonplaats (zonder vast adres)"]


async def test_a_search_states_its_purpose_and_is_audited_with_its_terms(desk: Desk) -> None:
    made = await desk.post(melding_body(received_at=_at(7)))
    row = await desk.runtime.pool.fetchrow(
        "SELECT postcode, huisnummer FROM meldingen WHERE id = $1", made["melding_id"]
    )
    postcode, number = row["postcode"], row["huisnummer"]
    answer = await desk.search({"purpose": "overig", "toelichting": "Terugbelverzoek van de "
                                "huisarts over dit adres", "adres": {"postcode": postcode,
                                "huisnummer": number}})  # fmt: skip
    assert [h["case_id"] for h in answer["households"]] == [made["case_id"]]
    audit = await desk.runtime.pool.fetchrow(
        "SELECT actor_role, reason, detail, endpoint FROM audit_log "
        "WHERE action = 'household.search' ORDER BY id DESC LIMIT 1"
    )
    assert audit["actor_role"] == "operator"
    assert audit["reason"].startswith("Anders: Terugbelverzoek")
    assert audit["detail"]["terms"]["adres"]["postcode"] == postcode
    assert audit["detail"]["found"] == [made["case_id"]]
    assert audit["endpoint"] == "POST /api/v1/households/search"

    problem = await desk.search({"purpose": "overig", "bsn": fresh_bsn()}, status=422)
    assert "toelichting" in problem["errors"][0]["detail"]
    await desk.search({"purpose": "koppelen"}, status=422)
    await desk.search({"purpose": "koppelen", "bsn": "123456789"}, status=422)
    await desk.search({"purpose": "koppelen", "bsn": fresh_bsn()}, who="sp-tilburg-1",
                      status=403)  # fmt: skip
    coordinator = await desk.search({"purpose": "koppelen", "adres": {"postcode": postcode,
                                     "huisnummer": number}}, who="co-tilburg")  # fmt: skip
    assert {h["gebied"] for h in coordinator["households"]} <= {"tilburg"}


def _person(voornaam: str, achternaam: str, born: str | None = None,
            bsn: str | None = None) -> PersonOut:  # fmt: skip
    return PersonOut(role="pleger", bsn=bsn, voornaam=voornaam, tussenvoegsel=None,
                     achternaam=achternaam,
                     geboortedatum=date.fromisoformat(born) if born else None)  # fmt: skip


def test_a_person_written_without_a_birth_date_is_one_person_by_every_given_name() -> None:
    """The same name reported twice without a birth date is one person, and joins the one
    dated person of that name; an initial alone, or a name two dated people share (a
    father and a son), is not enough to say which one."""
    people = group([
        _person("Mark", "van der Berg"),
        _person("Sanne", "Jansen", "1990-04-02"),
        _person("MARK", "Berg, van der"),
        _person("Mark", "van der Berg", "1981-06-30"),
        _person("M.", "van der Berg"),
        _person("Sanne", "Janssen"),
        _person("Kees", "Bakker", "1950-01-01"),
        _person("Kees", "Bakker", "1979-03-03"),
        _person("Kees", "Bakker"),
        _person("Kees", "Bakker"),
        _person("Jan", "de Wit", "1970-02-02"),
        _person("Jan-Willem", "de Wit"),  # the son: another given name, not Jan
        _person("J.W.", "de Wit"),  # initials say nothing of which one
    ])  # fmt: skip
    assert [(p.naam, p.times) for p in people] == [
        ("Mark van der Berg", 3),  # first seen undated; the dated one and the same again
        ("Sanne Jansen", 2),
        ("M. van der Berg", 1),
        ("Kees Bakker", 1),
        ("Kees Bakker", 1),
        ("Kees Bakker", 2),  # the undated two: which of the dated ones, nobody can say
        ("Jan de Wit", 1),
        ("Jan-Willem de Wit", 1),
        ("J.W. de Wit", 1),
    ]
    assert people[0].geboortedatum == date(1981, 6, 30)
    assert people[0].variants == ["MARK Berg, van der"]
