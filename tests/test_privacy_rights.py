"""Retention and the data subject's rights: personal data of a case closed longer than the
region's term is erased (counts kept, audited, one eraser at a time); an admin exports
everything held about a person (JSON and a page, audited) and corrects it (old value
kept, recognition follows the corrected data)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient, TestServer

from helpers import (
    TEST_CLOCK,
    Tokens,
    born_of,
    fresh_bsn,
    melding_body,
    own_runtime,
    own_servers,
)
from helpers import household_name as _name
from triage.app import create_app
from triage.auth.accounts import add_user
from triage.config import Settings
from triage.privacy.retention import due, erase_due
from triage.region import Retention
from triage.runtime import Runtime
from triage.vocabulary import Source, UserRole

Client = TestClient[Any, Any]
MELDINGEN = "/api/v1/meldingen"
REASON = "Inzageverzoek IZ-2026-0042 van betrokkene"


def _person(name: str, **overrides: Any) -> dict[str, Any]:
    return {"role": "betrokkene", "voornaam": "Sanne", "achternaam": name,
            "geboortedatum": born_of(name), **overrides}  # fmt: skip


async def _post(client: Client, auth: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    resp = await client.post(MELDINGEN, json=body, headers=auth)
    assert resp.status == 201, await resp.text()
    data: dict[str, Any] = await resp.json()
    return data


@asynccontextmanager
async def _desk(
    servers: dict[str, str], settings: Settings, name: str
) -> AsyncIterator[tuple[Runtime, Client, asyncpg.Connection, dict[str, str]]]:
    """A service of its own (database, Redis prefix ``name``) without its background
    loops, a client of it, a connection, and a desk operator's credentials."""
    async with (
        own_servers(servers, name) as own,
        own_runtime(settings, own.database_url, own.redis_url, name) as rt,
    ):
        app = create_app(rt, background=False)
        app.cleanup_ctx.clear()  # the runtime is closed by own_runtime
        async with TestClient(TestServer(app)) as client, rt.pool.acquire() as conn:
            issued = await add_user(conn, "op-retention", UserRole.operator, TEST_CLOCK.now())
            yield rt, client, conn, {"Authorization": f"Bearer {issued.token}"}


async def test_a_closed_case_past_the_term_loses_its_personal_data_and_keeps_its_counts(
    servers: dict[str, str], settings: Settings
) -> None:
    async with _desk(servers, settings, "retention") as (rt, client, conn, auth):
        bsn = fresh_bsn()
        old = await _post(client, auth, melding_body(
            kind="adviesvraag", summary="Buurvrouw MARKER-ERASE belde.",
            persons=[_person(_name(), bsn=bsn)]))  # fmt: skip
        kept = await _post(client, auth, melding_body(
            kind="adviesvraag", persons=[_person(_name(), bsn=fresh_bsn())]))  # fmt: skip
        noted = await client.post(f"/api/v1/cases/{old['case_id']}/notes",
                                  json={"text": "Buurvrouw MARKER-ERASE teruggebeld."},
                                  headers=auth)  # fmt: skip
        assert noted.status == 201, await noted.text()
        closed = await client.post(f"/api/v1/cases/{old['case_id']}/close",
                                   json={"reason": "Advies gegeven, afgerond."},
                                   headers=auth)  # fmt: skip
        assert closed.status == 200, await closed.text()

        term = Retention(closed_case_days=180, batch=1)
        now = TEST_CLOCK.now()
        assert await due(conn, term, now, 10) == []  # closed today: kept
        later = now + timedelta(days=181)
        listed = await due(conn, term, later, 10)
        assert [(str(d.case_id), d.meldingen, d.persons) for d in listed] == [
            (old["case_id"], 1, 1)
        ]

        # Another process erasing holds the pass: this one does nothing.
        async with rt.pool.acquire() as other, other.transaction():
            assert await other.fetchval("SELECT pg_try_advisory_xact_lock("
                                        "hashtextextended('triage.retention', 0))")  # fmt: skip
            assert await erase_due(conn, term, later) is None

        erased = await erase_due(conn, term, later)
        assert erased is not None
        assert (erased.cases, erased.meldingen, erased.persons) == (1, 1, 1)
        assert await erase_due(conn, term, later) == type(erased)()  # nothing left

        gone = await conn.fetchrow(
            "SELECT summary, postcode, huisnummer, woonplaats, external_id, erased_at, "
            "       urgency_level, gebied, received_at "
            "  FROM meldingen WHERE id = $1", uuid.UUID(old["melding_id"]))  # fmt: skip
        assert gone["summary"] == ""
        assert gone["postcode"] is None
        assert gone["huisnummer"] is None
        assert gone["woonplaats"] is None
        assert "MARKER" not in gone["external_id"]
        assert gone["erased_at"] == later
        # What the process indicators count stays.
        assert gone["urgency_level"] == "advies"
        assert gone["gebied"]
        assert gone["received_at"]
        assert await conn.fetchval("SELECT count(*) FROM case_notes WHERE case_id = $1",
                                   uuid.UUID(old["case_id"])) == 0  # fmt: skip
        for sql in (
            "SELECT count(*) FROM persons WHERE melding_id = $1",
            "SELECT count(*) FROM meldingen WHERE id = $1 AND summary LIKE '%MARKER%'",
        ):
            assert await conn.fetchval(sql, uuid.UUID(old["melding_id"])) == 0
        case = await conn.fetchrow(
            "SELECT match_persons, match_addresses, erased_at, "
            "       (SELECT count(*) FROM match_keys k WHERE k.case_id = c.id) AS keys "
            "  FROM cases c WHERE id = $1", uuid.UUID(old["case_id"]))  # fmt: skip
        assert (case["match_persons"], case["match_addresses"], case["keys"]) == ([], [], 0)
        assert await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'case.erased' AND case_id = $1 "
            "   AND actor_kind = 'system' AND actor_role = 'retention'",
            uuid.UUID(old["case_id"])) == 1  # fmt: skip
        # The other household is untouched.
        assert await conn.fetchval("SELECT count(*) FROM persons WHERE melding_id = $1",
                                   uuid.UUID(kept["melding_id"])) == 1  # fmt: skip

        # The erased household is no longer found: the same BSN opens a case of its own,
        # with no history of the erased one.
        back = await _post(client, auth, melding_body(persons=[_person(_name(), bsn=bsn)]))
        assert back["dedup"]["decision"] == "new_case"
        assert await conn.fetchval("SELECT previous_case_id FROM cases WHERE id = $1",
                                   uuid.UUID(back["case_id"])) is None  # fmt: skip


#: Every table that holds rows of a case or its meldingen, by the column that ties them.
_CASE_ROWS = {
    "meldingen": "case_id", "assignments": "case_id", "case_changes": "from_case",
    "case_handovers": "case_id", "case_milestones": "case_id", "case_notes": "case_id",
    "urgency_overrides": "melding_id", "cases": "id", "match_keys": "case_id",
    "escalations": "melding_id", "persons": "melding_id",
}  # fmt: skip


async def test_what_people_wrote_about_a_case_is_erased_wherever_it_was_copied(
    servers: dict[str, str], settings: Settings
) -> None:
    """The reason of an urgency set by hand and of a melding given by hand is copied into
    the melding's reasons and the assignment's reasons, for reading beside the rest:
    erasure finds them there too. Every row about the case is searched, whole."""
    async with _desk(servers, settings, "retention-text") as (rt, client, conn, auth):
        made = await _post(client, auth, melding_body(persons=[_person(_name())]))
        url = f"{MELDINGEN}/{made['melding_id']}"
        specialist = rt.network.may_take(made["gebied"])[0]
        for path, change in (
            ("urgency", {"level": "crisis", "reason": "Buurman MARKER-ERASE heeft een mes."}),
            ("reassign", {"to": specialist, "reason": "Buurvrouw MARKER-ERASE belde."}),
        ):  # fmt: skip
            done = await client.post(f"{url}/{path}", json=change, headers=auth)
            assert done.status == 200, await done.text()
        # Taken up, so that the case can close: accepted, first contact made.
        theirs = await add_user(conn, specialist, UserRole.specialist, TEST_CLOCK.now(),
                                gebied=made["gebied"])  # fmt: skip
        them = {"Authorization": f"Bearer {theirs.token}"}
        case_id, melding_id = uuid.UUID(made["case_id"]), uuid.UUID(made["melding_id"])
        offer = await conn.fetchval(
            "SELECT id FROM assignments WHERE melding_id = $1 AND state = 'offered'",
            melding_id,
        )
        for step in (f"/api/v1/assignments/{offer}/accept", f"{url}/first-contact"):
            done = await client.post(step, json={}, headers=them)
            assert done.status == 200, await done.text()
        closed = await client.post(f"/api/v1/cases/{made['case_id']}/close",
                                   json={"reason": "Afgerond, MARKER-ERASE."},
                                   headers=auth)  # fmt: skip
        assert closed.status == 200, await closed.text()

        async def marked() -> list[str]:
            found = []
            for table, column in _CASE_ROWS.items():
                key = melding_id if column == "melding_id" else case_id
                sql = (f"SELECT count(*) FROM {table} t WHERE t.{column} = $1"
                       " AND row_to_json(t)::text LIKE '%MARKER-ERASE%'")  # fmt: skip
                if await conn.fetchval(sql, key):
                    found.append(table)
            return found

        assert set(await marked()) >= {"meldingen", "assignments", "urgency_overrides"}
        later = TEST_CLOCK.now() + timedelta(days=181)
        erased = await erase_due(conn, Retention(closed_case_days=180, batch=10), later)
        assert erased is not None
        assert erased.cases == 1
        assert await marked() == []
        # What it said without the reason stays readable: set by hand, by whom.
        reasons = await conn.fetchval(
            "SELECT urgency_reasons FROM meldingen WHERE id = $1", melding_id
        )
        manual = [r["text"] for r in reasons if r["rule"].startswith("handmatig.")]
        assert manual == ["Urgentie handmatig op crisis gezet (meldpunt): gewist "
                          "(bewaartermijn)"]  # fmt: skip


async def test_an_admin_exports_everything_held_about_a_person(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    bsn, name = fresh_bsn(), _name()
    other = _person(_name(), role="pleger", voornaam="Kees")
    posted = await _post(client, tokens.user("operator"), melding_body(
        summary="Zorgen over <b>Sanne</b>.", persons=[_person(name, bsn=bsn), other]))  # fmt: skip
    admin = tokens.user("admin")

    by_bsn = await client.post("/api/v1/inzage", json={"bsn": bsn, "reason": REASON},
                               headers=admin)  # fmt: skip
    assert by_bsn.status == 200, await by_bsn.text()
    found = await by_bsn.json()
    assert [(p["achternaam"], p["bsn"]) for p in found["persons"]] == [(name, bsn)]
    assert [m["melding_id"] for m in found["meldingen"]] == [posted["melding_id"]]
    assert found["meldingen"][0]["summary"] == "Zorgen over <b>Sanne</b>."
    assert [c["case_id"] for c in found["cases"]] == [posted["case_id"]]
    assert "melding.create" in [a["action"] for a in found["access"]]
    assert "Kees" not in await by_bsn.text()  # the other person of the melding is left out
    assert await runtime.pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'person.inzage' AND melding_id = $1 "
        "   AND reason = $2 AND actor_role = 'admin'",
        uuid.UUID(posted["melding_id"]), REASON) == 1  # fmt: skip

    by_name = await client.post("/api/v1/inzage", headers=admin, json={
        "achternaam": name.upper(), "voornaam": "sanne", "geboortedatum": born_of(name),
        "reason": REASON})  # fmt: skip
    assert [p["bsn"] for p in (await by_name.json())["persons"]] == [bsn]
    near = await client.post("/api/v1/inzage", headers=admin, json={
        "achternaam": name, "voornaam": "Sana", "geboortedatum": born_of(name),
        "reason": REASON})  # fmt: skip
    assert (await near.json())["persons"] == []  # a near match is not the person

    page = await client.post("/api/v1/inzage", json={"bsn": bsn, "reason": REASON},
                             headers={**admin, "Accept": "text/html"})  # fmt: skip
    html = await page.text()
    assert page.status == 200
    assert page.content_type == "text/html"
    assert "Zorgen over &lt;b&gt;Sanne&lt;/b&gt;." in html
    assert "<b>Sanne</b>" not in html
    assert "style-src 'sha256-" in page.headers["Content-Security-Policy"]

    for body in (
        {"reason": REASON},
        {"bsn": bsn, "achternaam": name, "reason": REASON},
        {"bsn": "123456789", "reason": REASON},
        {"bsn": bsn, "reason": "kort"},
    ):
        refused = await client.post("/api/v1/inzage", json=body, headers=admin)
        assert refused.status == 422, body
    for who in ("operator", "coordinator-tilburg", "ops"):
        refused = await client.post("/api/v1/inzage", json={"bsn": bsn, "reason": REASON},
                                    headers=tokens.user(who))  # fmt: skip
        assert refused.status == 403


async def test_an_admin_corrects_a_person_and_recognition_follows(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    wrong, right, name = fresh_bsn(), fresh_bsn(), _name()
    posted_body = melding_body(persons=[_person(name, bsn=wrong)])
    posted = await _post(client, tokens.user("operator"), posted_body)
    admin = tokens.user("admin")
    found = await (await client.post("/api/v1/inzage", json={"bsn": wrong, "reason": REASON},
                                     headers=admin)).json()  # fmt: skip
    person_id = found["persons"][0]["person_id"]
    url = f"/api/v1/persons/{person_id}"

    fixed = await client.patch(url, headers=admin, json={
        "bsn": right, "reason": "IZ-2026-0042: BSN verkeerd overgenomen"})  # fmt: skip
    assert fixed.status == 200, await fixed.text()
    person = await fixed.json()
    assert person["bsn"] == right
    assert person["achternaam"] == name
    assert [(c["field"], c["old_value"], c["new_value"]) for c in person["corrections"]] == [
        ("bsn", wrong, right)
    ]
    assert await runtime.pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'person.correct' AND melding_id = $1",
        uuid.UUID(posted["melding_id"])) == 1  # fmt: skip

    # Recognition follows: at the household's address, the right BSN finds it, the wrong
    # one no longer does (another BSN is another person: the address alone links nobody).
    home = posted_body["address"]
    again = await _post(client, tokens.user("operator"), melding_body(
        address=home, persons=[{"role": "betrokkene", "bsn": right}]))  # fmt: skip
    assert again["case_id"] == posted["case_id"]
    stranger = await _post(client, tokens.user("operator"), melding_body(
        address=home, persons=[{"role": "betrokkene", "bsn": wrong}]))  # fmt: skip
    assert stranger["case_id"] != posted["case_id"]

    same = await client.patch(url, headers=admin, json={"bsn": right, "reason": "Nog eens."})
    assert same.status == 409
    for body in (
        {"reason": "Niets gezegd."},
        {"bsn": "123456789", "reason": "Verkeerd."},
        {"geboortedatum": "2999-01-01", "reason": "Toekomst."},
    ):
        assert (await client.patch(url, json=body, headers=admin)).status == 422, body
    missing = await client.patch(f"/api/v1/persons/{uuid.uuid4()}", headers=admin,
                                 json={"voornaam": "Anna", "reason": "Bestaat niet."})  # fmt: skip
    assert missing.status == 404
    operator = await client.patch(url, headers=tokens.user("operator"),
                                  json={"voornaam": "Anna", "reason": "Mag niet."})  # fmt: skip
    assert operator.status == 403


async def test_a_source_reads_back_what_it_sent_not_a_correction(
    client: Client, tokens: Tokens
) -> None:
    """A citizen's app sent a BSN and two letters; the desk corrects the person to their
    real name and birth date (AVG art. 16). Reading its melding back, the source sees what
    it sent: what the correction says is not the source's to learn. The desk reads the
    corrected person."""
    bsn = fresh_bsn()
    sent = {"role": "betrokkene", "bsn": bsn, "voornaam": "X", "achternaam": "Y"}
    posted = await _post(client, tokens.client(Source.politie), melding_body(persons=[sent]))
    admin = tokens.user("admin")
    found = await (await client.post("/api/v1/inzage", json={"bsn": bsn, "reason": REASON},
                                     headers=admin)).json()  # fmt: skip
    url = f"/api/v1/persons/{found['persons'][0]['person_id']}"
    fixed = await client.patch(url, headers=admin, json={
        "voornaam": "Xandra", "achternaam": "Ypma", "geboortedatum": "1970-01-01",
        "reason": "IZ-2026-0043: naam aangevuld"})  # fmt: skip
    assert fixed.status == 200, await fixed.text()
    melding_url = f"/api/v1/meldingen/{posted['melding_id']}"
    own = await (await client.get(melding_url, headers=tokens.client(Source.politie))).json()
    [person] = own["persons"]
    assert (person["voornaam"], person["achternaam"], person["geboortedatum"]) == ("X", "Y", None)
    assert person["bsn"] == bsn
    desk = await (await client.get(melding_url, headers=tokens.user("operator"))).json()
    [person] = desk["persons"]
    assert (person["voornaam"], person["achternaam"], person["geboortedatum"]) == (
        "Xandra", "Ypma", "1970-01-01",
    )  # fmt: skip
