"""The console's pages without a browser: who may open them, what a refusal looks like,
the form token and the Origin check on every form, the pages' security headers.
(The pages' behaviour in a real browser: test_console_browser.py.)"""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from helpers import TEST_CLOCK, Tokens, born_of, household_name, melding_body
from triage.auth.accounts import AccountError, add_user
from triage.auth.sessions import COOKIE
from triage.console.routes import PAGES
from triage.dispatch.views import duty_of
from triage.runtime import Runtime
from triage.vocabulary import Source, UserRole

Client = TestClient[Any, Any]
PASSWORD = "console forms password 12"


async def _session(
    client: Client, runtime: Runtime, role: UserRole, name: str | None = None
) -> dict[str, str]:
    name = name or f"console-{role.value}-{uuid.uuid4().hex[:6]}"
    gebied = "tilburg" if role in (UserRole.specialist, UserRole.coordinator) else None
    async with runtime.pool.acquire() as conn:
        await add_user(conn, name, role, TEST_CLOCK.now(), gebied=gebied, password=PASSWORD)
    resp = await client.post("/login", data={"username": name, "password": PASSWORD},
                             allow_redirects=False)  # fmt: skip
    assert resp.status == 303, await resp.text()
    client.session.cookie_jar.clear()  # the test sends the cookie itself
    return {"Cookie": f"{COOKIE}={resp.cookies[COOKIE].value}"}


def _token(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found is not None
    return found.group(1)


async def test_a_page_answers_head_as_it_answers_get(client: Client, runtime: Runtime) -> None:
    """A link checker or a proxy's probe asks HEAD: the same status and headers, no body."""
    login = await client.head("/login")
    assert login.status == 200
    # The icon every page links to is there before a login (no 401 on every page).
    icon = await client.get("/static/favicon.svg")
    assert (icon.status, icon.content_type) == (200, "image/svg+xml")
    assert (
        '<link rel="icon" href="/static/favicon.svg"' in await (await client.get("/login")).text()
    )
    assert login.content_type == "text/html"
    assert await login.read() == b""
    assert (await client.head("/werkvoorraad", allow_redirects=False)).status == 303
    specialist = await _session(client, runtime, UserRole.specialist, "sp-tilburg-3")
    mine = await client.head("/mijn-werk", headers=specialist)
    assert mine.status == 200
    assert "Content-Security-Policy" in mine.headers
    assert (await client.head("/gebied", headers=specialist)).status == 403


async def test_pages_send_people_to_the_login_and_refuse_other_roles_as_a_page(
    client: Client, runtime: Runtime, tokens: Tokens
) -> None:
    resp = await client.get("/werkvoorraad?level=crisis", allow_redirects=False)
    assert resp.status == 303
    assert resp.headers["Location"] == "/login?next=%2Fwerkvoorraad%3Flevel%3Dcrisis"
    for elsewhere in ("//elsewhere.example/", "/%09/elsewhere.example/", "/\\elsewhere"):
        login = await client.get("/login", params={"next": elsewhere.replace("%09", "\t")})
        assert 'name="next" value="/"' in await login.text(), elsewhere  # not another site

    ops = await _session(client, runtime, UserRole.ops)
    refused = await client.get("/werkvoorraad", headers=ops)
    assert refused.status == 403
    assert refused.content_type == "text/html"
    assert (
        "Dit is voor het meldpunt, het CIT, specialisten en coördinatoren; "
        "niet voor technisch beheer." in await refused.text()
    )
    source = await client.get("/", headers=tokens.client(Source.politie))
    assert source.status == 403

    desk = await _session(client, runtime, UserRole.operator)
    page = await client.get("/", headers=desk)
    assert page.status == 200
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert page.headers["Referrer-Policy"] == "same-origin"
    assert page.headers["Cache-Control"] == "no-store"


async def test_every_form_needs_the_sessions_token_and_this_services_origin(
    client: Client, runtime: Runtime, tokens: Tokens
) -> None:
    made = await client.post("/api/v1/meldingen", json=melding_body(),
                             headers=tokens.user("operator"))  # fmt: skip
    melding_id, before = (await made.json())["melding_id"], (await made.json())["urgency"]["level"]
    assert before != "crisis"
    desk = await _session(client, runtime, UserRole.operator)
    page = await client.get(f"/meldingen/{melding_id}", headers=desk)
    assert page.status == 200
    token = _token(await page.text())
    form = {"level": "crisis", "reason": "Moeder belt opnieuw, partner binnen."}
    url = f"/meldingen/{melding_id}/urgentie"

    nul = await client.post(url, data={**form, "reason": "Na\x00am", "csrf": token},
                            headers=desk)  # fmt: skip
    assert nul.status == 422  # refused as the API refuses it, not a failed write
    no_token = await client.post(url, data=form, headers=desk, allow_redirects=False)
    assert no_token.status == 403
    other = await _session(client, runtime, UserRole.operator)  # another session's token
    wrong = await client.post(url, data={**form, "csrf": token}, headers=other,
                              allow_redirects=False)  # fmt: skip
    assert wrong.status == 403
    elsewhere = await client.post(
        url,
        data={**form, "csrf": token},
        allow_redirects=False,
        headers={**desk, "Origin": "https://elsewhere.example"},
    )
    assert elsewhere.status == 403
    level = await runtime.pool.fetchval(
        "SELECT urgency_level FROM meldingen WHERE id = $1", uuid.UUID(melding_id)
    )
    assert level == before  # nothing changed by the refused forms

    done = await client.post(url, data={**form, "csrf": token}, headers=desk,
                             allow_redirects=False)  # fmt: skip
    assert done.status == 303
    assert done.headers["Location"] == f"/meldingen/{melding_id}?gedaan=urgentie"
    assert (
        await runtime.pool.fetchval(
            "SELECT urgency_level FROM meldingen WHERE id = $1", uuid.UUID(melding_id)
        )
        == "crisis"
    )

    said = await client.get(f"/meldingen/{melding_id}?gedaan=urgentie", headers=desk)
    assert "De urgentie is aangepast; de redenen staan hieronder." in await said.text()
    planted = await client.get(f"/meldingen/{melding_id}?gedaan=Bel+direct+0900-1234",
                               headers=desk)  # fmt: skip
    assert "0900-1234" not in await planted.text()  # a link cannot make a page say things

    rows = await client.get("/werkvoorraad/rijen?limit=200", headers=desk)
    assert rows.status == 200
    assert (await rows.text()).startswith('<tbody id="work-rows">')


async def test_the_melding_page_shows_each_candidate_side_by_side_with_its_evidence(
    client: Client, runtime: Runtime, tokens: Tokens
) -> None:
    """Recognition on the melding's page: every case weighed, the best with what each
    field found and weighed, in columns side by side (the decision's candidates as
    stored, as the API answers them)."""
    name = household_name()
    person = {"role": "slachtoffer", "voornaam": "Sanne", "achternaam": name,
              "geboortedatum": born_of(name)}  # fmt: skip
    body = melding_body(persons=[person])
    first = await client.post("/api/v1/meldingen", json=body, headers=tokens.user("operator"))
    body = {**body, "external_id": f"T-{uuid.uuid4().hex}"}
    again = await client.post("/api/v1/meldingen", json=body, headers=tokens.user("operator"))
    answered = await again.json()
    case_id = (await first.json())["case_id"]
    assert answered["case_id"] == case_id
    candidates = answered["dedup"]["candidates"]
    assert [c["case_id"] for c in candidates][:1] == [case_id]
    assert {s["field"] for s in candidates[0]["contributions"]} >= {"address", "surname"}
    read = await client.get(f"/api/v1/meldingen/{answered['melding_id']}",
                            headers=tokens.user("operator"))  # fmt: skip
    assert (await read.json())["dedup"]["candidates"] == candidates

    desk = await _session(client, runtime, UserRole.operator)
    page = await (await client.get(f"/meldingen/{answered['melding_id']}", headers=desk)).text()
    table = page[page.index('aria-label="Kandidaten naast elkaar"') :]
    table = table[: table.index("</table>")]
    assert f'href="/casussen/{case_id}">gekoppelde casus</a>' in table
    for label in ("Adres", "Achternaam", "Voornaam", "Score"):
        assert f'<th scope="row">{label}</th>' in table


async def test_a_call_taken_at_the_desk_is_the_desks_own_melding(
    client: Client, runtime: Runtime
) -> None:
    """The new melding form posts as the desk's own source whatever it is sent: another
    source's name (and its external ids) are not the desk's to use."""
    desk = await _session(client, runtime, UserRole.operator)
    form_page = await client.get("/nieuwe-melding", headers=desk)
    assert 'name="source"' not in await form_page.text()
    fields = {
        "csrf": _token(await form_page.text()), "source": "politie",
        "external_id": f"TEL-{uuid.uuid4().hex[:16]}", "kind": "melding",
        "category": "huiselijk_geweld", "summary": "Buurvrouw belt. (Fictief.)",
        "received_at": TEST_CLOCK.now().replace(tzinfo=None).isoformat(timespec="minutes"),
        "postcode": "5038 AB", "huisnummer": "12", "p0_role": "slachtoffer",
        "p0_achternaam": household_name(),
    }  # fmt: skip
    sent = await client.post("/nieuwe-melding", data=fields, allow_redirects=False,
                             headers={**desk, "Origin": str(client.make_url(""))})  # fmt: skip
    assert sent.status == 303, await sent.text()
    stored = await runtime.pool.fetchval(
        "SELECT source FROM meldingen WHERE external_id = $1", fields["external_id"]
    )
    assert stored == "meldpunt"


async def test_the_desks_form_asks_what_was_said_and_names_the_row_of_a_person(
    client: Client, runtime: Runtime
) -> None:
    """An untouched form stores nothing: a category is chosen, not given by the first
    option, and what was reported is written down. A person typed in the second row with
    the first left empty is refused at the second row, not the first."""
    desk = await _session(client, runtime, UserRole.operator)
    html = await (await client.get("/nieuwe-melding", headers=desk)).text()
    assert '<option value="" selected>Kies een categorie</option>' in html
    external_id = f"TEL-{uuid.uuid4().hex[:16]}"
    untouched = {
        "csrf": _token(html), "external_id": external_id, "kind": "melding", "category": "",
        "summary": "", "received_at": TEST_CLOCK.now().replace(tzinfo=None).isoformat(
            timespec="minutes"),
        "p1_role": "slachtoffer", "p1_achternaam": household_name(), "p1_bsn": "123456789",
    }  # fmt: skip
    sent = await client.post("/nieuwe-melding", data=untouched, headers=desk)
    assert sent.status == 422
    page = await sent.text()
    for said in ("categorie: kies er een uit de lijst",
                 "samenvatting: beschrijf wat er gemeld is", "persoon 2, BSN"):  # fmt: skip
        assert said in page, said
    assert "huiselijk_geweld" not in page.split("<form")[0]  # codes in the refusal
    assert "persoon 1" not in page
    assert 'id="e-p1_bsn"' in page  # the error beside the row it was typed in
    assert 'id="e-p0_bsn"' not in page
    assert await runtime.pool.fetchval(
        "SELECT count(*) FROM meldingen WHERE external_id = $1", external_id) == 0  # fmt: skip


async def test_the_desk_closes_a_melding_from_its_page(
    client: Client, runtime: Runtime, tokens: Tokens
) -> None:
    made = await client.post("/api/v1/meldingen", json=melding_body(),
                             headers=tokens.user("operator"))  # fmt: skip
    melding_id = (await made.json())["melding_id"]
    desk = await _session(client, runtime, UserRole.operator)
    page = await client.get(f"/meldingen/{melding_id}", headers=desk)
    html = await page.text()
    assert 'aria-label="Afsluiten"' in html
    form = {"csrf": _token(html), "outcome": "elders_belegd",
            "reason": "Veilig Thuis heeft het gezin al in onderzoek."}  # fmt: skip
    sent = await client.post(f"/meldingen/{melding_id}/afsluiten", data=form,
                             allow_redirects=False,
                             headers={**desk, "Origin": str(client.make_url(""))})  # fmt: skip
    assert sent.status == 303, await sent.text()
    assert sent.headers["Location"].endswith("gedaan=afgesloten")
    after = await (await client.get(f"/meldingen/{melding_id}", headers=desk)).text()
    assert 'id="h-afgesloten"' in after
    assert "een andere organisatie heeft het opgepakt" in after
    assert 'aria-label="Afsluiten"' not in after  # closed once


async def test_the_gebied_page_charts_the_indicators_per_week_or_month(
    client: Client, runtime: Runtime
) -> None:
    coordinator = await _session(client, runtime, UserRole.coordinator)
    weekly = await (await client.get("/gebied", headers=coordinator)).text()
    monthly = await (await client.get("/gebied?periode=maand", headers=coordinator)).text()
    for html in (weekly, monthly):
        assert html.count('<figure class="chart">') == 5
        assert 'role="img"' in html
        assert '<desc id="chart-contact-d">' in html
    today = runtime.network.local(TEST_CLOCK.now()).date()
    assert f">{today.strftime('%m-%Y')}</text>" in monthly
    monday = today - timedelta(days=today.weekday())
    assert f">{monday.strftime('%d-%m')}</text>" in weekly
    assert 'value="maand" selected' in monthly


async def test_no_form_of_the_console_acts_without_the_sessions_token(
    client: Client, runtime: Runtime
) -> None:
    """Every form (from the route table, so a new one is covered as it is added), sent
    by a person its route admits but without the form's token, is refused before it
    reads anything else."""
    sessions: dict[str, dict[str, str]] = {}
    posts = [r for r in PAGES if r.method == "POST" and r.policy is not None
             and r.path != "/logout"]  # fmt: skip
    assert len(posts) >= 20
    for route in posts:
        role = next(r for r in UserRole if r.value in route.policy.callers)
        if role.value not in sessions:
            sessions[role.value] = await _session(client, runtime, role)
        path = re.sub(r"\{[a-z_]+_id\}", str(uuid.uuid4()), route.path)
        path = path.replace("{kind}", "plan").replace("{change_id}", "1")
        sent = await client.post(path, data={"reason": "zonder token verstuurd"},
                                 headers=sessions[role.value], allow_redirects=False)  # fmt: skip
        assert sent.status == 403, (route.path, sent.status)
        assert "herlaad de pagina en verstuur het opnieuw" in await sent.text(), route.path


async def test_the_werkvoorraad_filters_on_when_a_melding_came_in(
    client: Client, runtime: Runtime, tokens: Tokens
) -> None:
    earlier = TEST_CLOCK.now() - timedelta(hours=30)
    old = await client.post(
        "/api/v1/meldingen", headers=tokens.user("operator"),
        json=melding_body(received_at=earlier.replace(microsecond=0).isoformat()),
    )  # fmt: skip
    new = await client.post("/api/v1/meldingen", json=melding_body(),
                            headers=tokens.user("operator"))  # fmt: skip
    old_id, new_id = (await old.json())["melding_id"], (await new.json())["melding_id"]
    desk = await _session(client, runtime, UserRole.operator)
    day = await (await client.get("/werkvoorraad?ontvangen=24u&limit=200", headers=desk)).text()
    assert f'data-melding-id="{new_id}"' in day
    assert f'data-melding-id="{old_id}"' not in day
    assert 'value="24u" selected' in day
    week = await (await client.get("/werkvoorraad?ontvangen=7d&limit=200", headers=desk)).text()
    assert f'data-melding-id="{old_id}"' in week
    # The form as a browser sends it, "alle" as empty fields: nothing filtered on them.
    every = await client.get("/werkvoorraad?level=&gebied=&source=&status=&ontvangen="
                             "&order=urgency&limit=200", headers=desk)  # fmt: skip
    assert every.status == 200
    assert f'data-melding-id="{old_id}"' in await every.text()


async def test_a_specialist_reads_what_is_not_their_work_by_stating_why(
    client: Client, runtime: Runtime, tokens: Tokens
) -> None:
    """As the API's Triage-Access-Reason header: a melding or case of their gebied that is
    not their work shows a form asking why, not the melding; the reason read is audited
    with it. The reason travels in the form's body, never in the address."""
    surname = household_name()
    person = {"role": "slachtoffer", "voornaam": "Ilse", "achternaam": surname}
    body = melding_body(summary="Testmelding buiten het eigen werk.", persons=[person])
    made = await (await client.post("/api/v1/meldingen", json=body,
                                    headers=tokens.user("operator"))).json()  # fmt: skip
    assert made["gebied"] == "tilburg"  # the specialist's gebied (_session)
    specialist = await _session(client, runtime, UserRole.specialist)
    pages = ((f"/meldingen/{made['melding_id']}", "melding", "buiten het eigen werk"),
             (f"/casussen/{made['case_id']}", "casus", surname))  # fmt: skip
    for page, what, shown in pages:
        asked = await client.get(page, headers=specialist)
        form = await asked.text()
        assert asked.status == 403, what
        assert f'action="{page}/inzien"' in form
        assert shown not in form  # nothing of it before a reason
        token = _token(form)
        said_nothing = await client.post(f"{page}/inzien", headers=specialist,
                                         data={"csrf": token, "reason": "even kijken"})  # fmt: skip
        assert said_nothing.status == 422
        assert "minstens drie woorden" in await said_nothing.text()
        reason = "Nachtdienst: de politie belt\nover dit adres"
        read = await client.post(f"{page}/inzien", headers=specialist,
                                 data={"csrf": token, "reason": reason})  # fmt: skip
        assert read.status == 200, what
        assert shown in await read.text(), what
    rows = await runtime.pool.fetch(
        "SELECT action, reason FROM audit_log WHERE (melding_id = $1 OR case_id = $2)"
        " AND action LIKE '%.read.break_glass' ORDER BY id",
        uuid.UUID(made["melding_id"]), uuid.UUID(made["case_id"]),
    )  # fmt: skip
    folded = "Nachtdienst: de politie belt over dit adres"
    assert [(r["action"], r["reason"]) for r in rows] == [
        ("melding.read.break_glass", folded), ("case.read.break_glass", folded),
    ]  # fmt: skip
    # Another role reads without a reason, and has no reason form to send.
    desk = await _session(client, runtime, UserRole.operator)
    assert (await client.get(f"/meldingen/{made['melding_id']}", headers=desk)).status == 200
    # The gebied's coordinator finds both reads, with the reason, on the gebied page; the
    # desk's gebied page does not list them (a reason may name people).
    coordinator = await _session(client, runtime, UserRole.coordinator)
    html = await (await client.get("/gebied", headers=coordinator)).text()
    listed = html[html.index('id="h-inzien"') :]
    assert listed.count(folded) == 2
    assert f'href="/meldingen/{made["melding_id"]}"' in listed
    assert f'href="/casussen/{made["case_id"]}"' in listed
    desk_page = await (await client.get("/gebied?gebied=tilburg", headers=desk)).text()
    assert 'id="h-inzien"' not in desk_page
    assert folded not in desk_page


async def test_a_refusal_on_a_page_is_said_in_dutch(
    client: Client, runtime: Runtime, tokens: Tokens
) -> None:
    """The console's people read Dutch: a form's field errors, a change the state does not
    allow and a page that does not exist are said in Dutch, with the field named as the
    form names it; the API's English is not on the page, nor what was typed."""
    desk = await _session(client, runtime, UserRole.operator)
    origin = {**desk, "Origin": str(client.make_url(""))}
    form_page = await client.get("/nieuwe-melding", headers=desk)
    fields = {
        "csrf": _token(await form_page.text()), "external_id": f"TEL-{uuid.uuid4().hex[:16]}",
        "kind": "melding", "category": "huiselijk_geweld", "summary": "Buurvrouw belt. (Fictief.)",
        "received_at": TEST_CLOCK.now().replace(tzinfo=None).isoformat(timespec="minutes"),
        "postcode": "0123 AB", "huisnummer": "12", "p0_role": "slachtoffer",
        "p0_achternaam": household_name(), "p0_bsn": "123456789",
    }  # fmt: skip
    refused = await client.post("/nieuwe-melding", data=fields, headers=origin)
    html = await refused.text()
    assert refused.status == 422
    assert "persoon 1, BSN: geen geldig BSN: 9 cijfers die de elfproef doorstaan" in html
    assert "postcode: geen Nederlandse postcode" in html
    assert "11-check" not in html
    assert "not a Dutch postcode" not in html
    assert html.count("123456789") == 1  # in its field, to correct; not in the message

    made = await client.post("/api/v1/meldingen", json=melding_body(),
                             headers=tokens.user("operator"))  # fmt: skip
    melding_id = (await made.json())["melding_id"]
    close = {"csrf": _token(await (await client.get(f"/meldingen/{melding_id}",
                                                    headers=desk)).text()),
             "outcome": "dubbel", "reason": "Dezelfde melding kwam twee keer binnen."}  # fmt: skip
    first = await client.post(f"/meldingen/{melding_id}/afsluiten", data=close,
                              allow_redirects=False, headers=origin)  # fmt: skip
    assert first.status == 303
    again = await client.post(f"/meldingen/{melding_id}/afsluiten", data=close, headers=origin)
    html = await again.text()
    assert again.status == 409
    assert "alleen een melding die nog op eerste contact wacht, sluit je met de hand af" in html
    assert "is not closed by hand" not in html

    missing = await client.get(f"/meldingen/{uuid.uuid4()}", headers=desk)
    html = await missing.text()
    assert missing.status == 404
    assert "<h1>Niet gevonden</h1>" in html
    assert "Not found" not in html

    admin = await _session(client, runtime, UserRole.admin)
    csrf = _token(await (await client.get("/beheer", headers=admin)).text())
    rotate = await client.post("/beheer/bronnen/vernieuwen", data={"csrf": csrf, "name": "geen"},
                               headers={**admin, "Origin": origin["Origin"]})  # fmt: skip
    html = await rotate.text()
    assert rotate.status == 404
    assert "geen bronsysteem met deze naam" in html
    assert "no API client named" not in html


async def test_the_werkvoorraad_offers_a_gebied_filter_only_to_who_sees_several(
    client: Client, runtime: Runtime
) -> None:
    """A specialist or coordinator sees their own gebied's werkvoorraad: no filter offers
    them another, and one asked for by hand is refused in Dutch with the reason."""
    for role in (UserRole.specialist, UserRole.coordinator):
        own = await _session(client, runtime, role)
        page = await client.get("/werkvoorraad", headers=own)
        assert page.status == 200
        assert 'name="gebied"' not in await page.text()
        assert "data-live-rows" in await page.text()
        other = await client.get("/werkvoorraad?gebied=oost", headers=own)
        assert other.status == 403
        refused = await other.text()
        assert "je ziet alleen de werkvoorraad van je eigen gebied" in refused
        # Not kept live: every update would be refused the same, and said so for ever.
        assert "data-live-rows" not in refused
        assert "Live bijgewerkt" not in refused
    desk = await _session(client, runtime, UserRole.operator)
    assert 'name="gebied"' in await (await client.get("/werkvoorraad", headers=desk)).text()


async def test_an_admin_form_is_as_strict_as_a_json_body(client: Client, runtime: Runtime) -> None:
    """Each field once (a role given twice made an admin: the last one won), text that can
    be stored, numbers in ASCII digits: refused in Dutch, nothing made or done."""
    me = f"console-admin-{uuid.uuid4().hex[:6]}"
    admin = await _session(client, runtime, UserRole.admin, me)
    csrf = _token(await (await client.get("/beheer", headers=admin)).text())
    headers = {**admin, "Origin": str(client.make_url("/")).rstrip("/")}
    myself = await client.post("/beheer/gebruikers/uitschakelen",
                               data={"csrf": csrf, "username": me}, headers=headers)  # fmt: skip
    assert myself.status == 409
    assert "eigen account niet uitschakelen" in await myself.text()
    name = f"twice-{uuid.uuid4().hex[:6]}"
    cases = [
        ([("username", name), ("role", "operator"), ("role", "admin")], 422,
         "staat meer dan eens in het formulier"),
        ([("username", name), ("role", "operator"), ("display_name", "Bad\x00Name")], 422,
         "bevat een teken dat niet kan worden opgeslagen"),
        ([("username", f"{name} two"), ("role", "operator")], 422, "zonder spaties"),
        ([("username", name), ("role", "operator"), ("display_name", "x" * 101)], 422,
         "hoogstens 100 leesbare tekens"),
        ([("username", name), ("role", "operator"), ("password", "p\x00assword-long-enough")],
         422, "bevat een teken dat niet kan worden opgeslagen"),
        ([("username", name), ("role", "operator"), ("password", "te-kort")], 422,
         "wachtwoord"),
        ([("username", "sp-tilburg-3"), ("role", "operator")], 409, "netwerkbestand"),
    ]  # fmt: skip
    for fields, status, said in cases:
        resp = await client.post("/beheer/gebruikers", data=[("csrf", csrf), *fields],
                                 headers=headers)  # fmt: skip
        html = await resp.text()
        assert resp.status == status, (fields, html)
        assert said in html, fields
        if said in ("zonder spaties", "hoogstens 100 leesbare tekens"):  # the admin page
            assert f'value="{fields[0][1]}"' in html, "the form keeps what was typed"
    async with runtime.pool.acquire() as conn:
        # Nor from the command line: no login form could send that password.
        with pytest.raises(AccountError, match="NUL") as refused:
            await add_user(conn, name, UserRole.operator, TEST_CLOCK.now(),
                           password="p\x00assword-long-enough")  # fmt: skip
        assert refused.value.tekst.startswith("een wachtwoord kan geen NUL-teken bevatten")
        made = await conn.fetchval("SELECT count(*) FROM users WHERE username LIKE $1", f"{name}%")
    assert made == 0
    for value in ("\u0661", "+1", " 1", "1_0", str(10**20)):
        replay = {"csrf": csrf, "webhook_id": value}
        resp = await client.post("/beheer/dode-brieven/opnieuw", data=replay, headers=headers)
        assert resp.status == 422, value
        assert "webhook_id: een heel getal van 1 tot en met" in await resp.text(), value


async def test_one_household_in_two_cases_is_shown_and_merged_from_the_melding(
    client: Client, runtime: Runtime, tokens: Tokens
) -> None:
    """A melding recognised as strongly in a second open case says so, and the desk
    merges the two from its page: the household's history in one case again."""
    first, second = household_name(), household_name()
    mother = {"role": "slachtoffer", "voornaam": "Fenna", "achternaam": first,
              "geboortedatum": born_of(first)}  # fmt: skip
    partner = {"role": "pleger", "voornaam": "Joost", "achternaam": second,
               "geboortedatum": born_of(second)}  # fmt: skip
    desk_api = tokens.user("operator")

    async def post(body: dict[str, Any]) -> dict[str, Any]:
        made = await client.post("/api/v1/meldingen", json=body, headers=desk_api)
        assert made.status == 201, await made.text()
        answer: dict[str, Any] = await made.json()
        return answer

    one = await post(melding_body(persons=[mother]))
    address = (await (await client.get(f"/api/v1/meldingen/{one['melding_id']}",
                                       headers=desk_api)).json())["address"]  # fmt: skip
    # Someone else at the dwelling: reviewed, and kept apart as another household.
    two = await post(melding_body(address=address, persons=[partner]))
    assert two["dedup"]["decision"] == "review"
    kept = await client.post(
        f"/api/v1/meldingen/{two['melding_id']}/review",
        json={"decision": "reject", "reason": "Onderhuurder, ander gezin."},
        headers=desk_api,
    )
    assert kept.status == 200, await kept.text()
    # Then a call names them both: one household after all, now in two cases.
    three = await post(melding_body(address=address, persons=[mother, partner]))
    assert three["dedup"]["decision"] == "linked"
    other = ({one["case_id"], two["case_id"]} - {three["case_id"]}).pop()

    desk = await _session(client, runtime, UserRole.operator)
    page = await client.get(f"/meldingen/{three['melding_id']}", headers=desk)
    html = await page.text()
    assert f'id="split-{other}"' in html
    for elsewhere in (one, two):  # a new case, and a review: no notice
        shown = await client.get(f"/meldingen/{elsewhere['melding_id']}", headers=desk)
        assert shown.status == 200
        assert 'id="split-' not in await shown.text()

    url = f"/meldingen/{three['melding_id']}/samenvoegen"
    short = await client.post(url, data={"csrf": _token(html), "case_id": other,
                                         "reason": "Ja"}, headers=desk)  # fmt: skip
    assert short.status == 422  # on the melding's page again, nothing changed
    assert f'id="split-{other}"' in await short.text()
    merged = await client.post(
        url,
        data={"csrf": _token(html), "case_id": other, "reason": "Zelfde gezin, twee casussen."},
        headers=desk,
    )
    assert merged.status == 200
    assert str(merged.url).endswith(f"/meldingen/{three['melding_id']}?gedaan=samengevoegd")
    after = await merged.text()
    assert "De casussen zijn samengevoegd." in after
    assert 'id="split-' not in after
    row = await runtime.pool.fetchrow(
        "SELECT status, merged_into FROM cases WHERE id = $1", uuid.UUID(other)
    )
    assert (row["status"], str(row["merged_into"])) == ("closed", three["case_id"])
    # Both cases say what happened, why, and where the merged one went.
    gone = await (await client.get(f"/casussen/{other}", headers=desk)).text()
    assert f'(opgegaan in <a href="/casussen/{three["case_id"]}">een andere casus</a>)' in gone
    kept = await (await client.get(f"/casussen/{three['case_id']}", headers=desk)).text()
    for html in (gone, kept):
        listed = html[html.index('id="h-correcties"') :]
        assert "casussen samengevoegd" in listed
        assert "Zelfde gezin, twee casussen." in listed


async def test_two_cases_a_person_kept_apart_raise_no_notice(
    client: Client, runtime: Runtime, tokens: Tokens
) -> None:
    """A melding taken out of a case into a case of its own was said to be another
    household: a later melding matching both does not ask to merge them again."""
    name = household_name()
    person = {"role": "slachtoffer", "voornaam": "Fenna", "achternaam": name,
              "geboortedatum": born_of(name)}  # fmt: skip
    first = melding_body(persons=[person])
    desk_api = tokens.user("operator")
    made = [await client.post("/api/v1/meldingen", json=first, headers=desk_api)]
    again = melding_body(address=first["address"], persons=[person])
    made.append(await client.post("/api/v1/meldingen", json=again, headers=desk_api))
    one, two = [await m.json() for m in made]
    assert two["case_id"] == one["case_id"]
    apart = await client.post(
        f"/api/v1/meldingen/{two['melding_id']}/unlink",
        json={"reason": "Leek een ander gezin."},
        headers=desk_api,
    )
    assert apart.status == 200, await apart.text()
    later = melding_body(address=first["address"], persons=[person])
    three = await (await client.post("/api/v1/meldingen", json=later, headers=desk_api)).json()
    assert three["dedup"]["decision"] == "linked"
    assert len([c for c in three["dedup"]["candidates"] if c["open"]]) == 2  # both found
    desk = await _session(client, runtime, UserRole.operator)
    page = await client.get(f"/meldingen/{three['melding_id']}", headers=desk)
    assert page.status == 200
    assert 'id="split-' not in await page.text()


async def test_a_refusal_does_not_repeat_what_was_typed_where_a_field_or_id_belongs(
    client: Client, runtime: Runtime, tokens: Tokens
) -> None:
    """A name and a BSN typed as a field's name given twice, or where an id belongs, are
    not repeated: the refusal names the form, the object or the operation instead."""
    secret = "Zwaantje Krokodilstra 111222333"
    coordinator = await _session(client, runtime, UserRole.coordinator)
    csrf = _token(await (await client.get("/zoeken", headers=coordinator)).text())
    form = [("csrf", csrf), ("achternaam", "Krokodilstra"), (secret, "a"), (secret, "b")]
    page = await client.post("/zoeken", data=form, headers=coordinator)
    assert page.status == 422
    assert "meer dan eens" in (html := await page.text())
    assert "Zwaantje" not in html
    assert "111222333" not in html
    raw = f'{{"source": "politie", "{secret}": 1, "{secret}": 2}}'
    answer = await client.post("/api/v1/meldingen", data=raw, headers={
        **tokens.client(Source.politie), "Content-Type": "application/json"})  # fmt: skip
    assert answer.status == 422
    assert "given more than once" in (said := await answer.text())
    for text in ("Zwaantje", "111222333"):
        assert text not in said
    missing = await client.get("/api/v1/meldingen/Krokodilstra%20111222333",
                               headers=tokens.user("operator"))  # fmt: skip
    problem = await missing.json()
    assert problem["instance"] == "/api/v1/meldingen/{melding_id}"
    assert "111222333" not in json.dumps(problem)


async def test_a_form_sent_after_the_session_ended_says_so_and_leads_back(
    client: Client, runtime: Runtime
) -> None:
    """Typing keeps a session alive (the page asks /sessie); one that ended all the same
    sends the form's sender to the login with a word on what happened, then back to the
    page the form was on."""
    desk = await _session(client, runtime, UserRole.operator)
    assert (await client.get("/sessie", headers=desk)).status == 204
    sent = await client.post(
        "/nieuwe-melding", data={"summary": "Lang gesprek."}, allow_redirects=False,
        headers={"Referer": str(client.make_url("/nieuwe-melding")),
                 "Origin": str(client.make_url(""))},
    )  # fmt: skip
    assert sent.status == 303
    assert sent.headers["Location"] == "/login?next=%2Fnieuwe-melding&verlopen=1"
    login = await client.get(sent.headers["Location"])
    assert "sessie was verlopen" in (html := await login.text())
    assert 'name="next" value="/nieuwe-melding"' in html
    gone = await client.get("/sessie", allow_redirects=False)
    assert gone.status == 303
    other_site = {"Referer": "https://elders.example/nieuwe-melding"}
    elsewhere = await client.post("/nieuwe-melding", data={}, allow_redirects=False,
                                  headers=other_site)  # fmt: skip
    assert elsewhere.headers["Location"] == "/login?next=%2F&verlopen=1"


async def test_a_refused_form_comes_back_with_what_was_typed_and_nothing_else(
    client: Client, runtime: Runtime, tokens: Tokens
) -> None:
    """The page answering a refused form carries the form's fields as typed (for the
    script to put back), as JSON that cannot end its script element; never a password,
    a field the form does not have a name of, or text that cannot be stored."""
    made = await client.post("/api/v1/meldingen", json=melding_body(),
                             headers=tokens.user("operator"))  # fmt: skip
    melding_id = (await made.json())["melding_id"]
    desk = await _session(client, runtime, UserRole.operator)
    origin = {**desk, "Origin": str(client.make_url(""))}
    csrf = _token(await (await client.get(f"/meldingen/{melding_id}", headers=desk)).text())
    typed = "Partner </script><script>alert(1)</script> is terug"
    form = {"csrf": csrf, "level": "geen-niveau", "reason": typed, "password": "geheim-123",
            "Naam Met Spaties": "x"}  # fmt: skip
    refused = await client.post(f"/meldingen/{melding_id}/urgentie", data=form, headers=origin)
    assert refused.status == 422
    html = await refused.text()
    found = re.search(r'<script type="application/json" id="sent-form" '
                      r'data-action="([^"]+)">(.*?)</script>', html, re.S)  # fmt: skip
    assert found is not None
    assert found.group(1) == f"/meldingen/{melding_id}/urgentie"
    assert json.loads(found.group(2)) == {"level": "geen-niveau", "reason": typed}
    assert "<script>alert" not in html
    assert "geheim-123" not in html
    # What was typed is not kept anywhere: the page read again has none of it.
    again = await (await client.get(f"/meldingen/{melding_id}", headers=desk)).text()
    assert "sent-form" not in again
    assert "Partner" not in again
    # A page with no form to put it in (an error page), or one that puts it back itself
    # (the reason to read, the new melding), carries no copy.
    new_form = await (await client.get("/nieuwe-melding", headers=desk)).text()
    twice = [("csrf", _token(new_form)), ("summary", "x"), ("summary", "y"),
             ("p0_bsn", "111222333")]  # fmt: skip
    error_page = await client.post("/nieuwe-melding", data=twice, headers=origin)
    assert error_page.status == 422
    html = await error_page.text()
    assert "sent-form" not in html
    assert "111222333" not in html


async def test_an_address_that_is_none_is_a_dutch_page_for_a_browser(
    client: Client, runtime: Runtime, tokens: Tokens
) -> None:
    """A mistyped link or an old bookmark, in a browser: a page in Dutch, with the menu.
    The API and a program asking for JSON keep their problem document."""
    desk = await _session(client, runtime, UserRole.operator)
    browser = {**desk, "Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    page = await client.get("/meldingen-oud/12", headers=browser)
    assert page.status == 404
    assert page.content_type == "text/html"
    html = await page.text()
    assert "<h1>Niet gevonden</h1>" in html
    assert 'href="/werkvoorraad"' in html  # the menu: a way on
    program = await client.get("/meldingen-oud/12", headers={**desk, "Accept": "*/*"})
    assert program.status == 404
    assert program.content_type == "application/problem+json"
    api = await client.get("/api/v1/bestaat-niet", headers={**browser, **tokens.user("operator")})
    assert api.status == 404
    assert api.content_type == "application/problem+json"


async def test_the_desk_reads_the_regional_pools_roster_and_gebieden_by_name(
    client: Client, runtime: Runtime
) -> None:
    """The regional pool (the backup at night) is on the gebied page like every gebied,
    and gebieden are shown by the names people use, not by their codes."""
    desk = await _session(client, runtime, UserRole.operator)
    page = await client.get("/gebied?gebied=regio", headers=desk)
    assert page.status == 200, await page.text()
    html = await page.text()
    assert "<h1>Gebied Regio (achterwacht)</h1>" in html
    assert '<option value="regio" selected>Regio</option>' in html
    assert '<option value="langstraat" >Langstraat</option>' in html
    nowhere = await client.get("/gebied?gebied=nergens", headers=desk)
    assert nowhere.status == 404  # no such gebied, not a refusal of who asks
    assert "Dit is geen gebied van de regio." in await nowhere.text()


async def test_a_melding_linked_by_hand_says_so_however_often_it_was_read(
    client: Client, runtime: Runtime, tokens: Tokens
) -> None:
    """Each read is an audit entry; the page says which case the melding is in by hand
    after any number of them, and shows the newest entries of its trail."""
    desk_api = tokens.user("operator")
    first = await (await client.post("/api/v1/meldingen", json=melding_body(),
                                     headers=desk_api)).json()  # fmt: skip
    second = await (await client.post("/api/v1/meldingen", json=melding_body(),
                                      headers=desk_api)).json()  # fmt: skip
    assert second["case_id"] != first["case_id"]
    for _ in range(201):  # reads enough to fill the page's trail
        read = await client.get(f"/api/v1/meldingen/{second['melding_id']}", headers=desk_api)
        assert read.status == 200
    linked = await client.post(
        f"/api/v1/meldingen/{second['melding_id']}/link", headers=desk_api,
        json={"case_id": first["case_id"], "reason": "Zelfde gezin, andere beller."},
    )  # fmt: skip
    assert linked.status == 200, await linked.text()
    desk = await _session(client, runtime, UserRole.operator)
    html = await (await client.get(f"/meldingen/{second['melding_id']}", headers=desk)).text()
    assert "Besluit bij binnenkomst: <strong>nieuwe casus" in html
    assert 'id="moved-by-hand">Daarna gekoppeld aan een casus' in html
    assert "Reden: Zelfde gezin, andere beller." in html
    assert "De laatste 200 vermeldingen in de audit" in html
    # the link itself is among the entries shown, though 200 reads came before it
    assert "<td>gekoppeld aan een casus</td>" in html


async def test_the_gebied_page_marks_whom_an_offer_would_not_reach(
    client: Client, runtime: Runtime
) -> None:
    """Someone in the network without an account, whose organisation has no system of its
    own hearing of offers, is offered meldingen all the same: their coordinator sees it,
    and the mark goes once they have a way in."""
    coordinator = await _session(client, runtime, UserRole.coordinator)
    who = "sp-tilburg-7"
    row = re.compile(rf'<tr data-specialist="{who}"><th scope="row">[^<]*'
                     r'(<strong class="unreachable">)?')  # fmt: skip

    async def marked() -> bool:
        html = await (await client.get("/gebied", headers=coordinator)).text()
        found = row.search(html)
        assert found is not None, who
        return found.group(1) is not None

    assert await marked()
    async with runtime.pool.acquire() as conn:
        await add_user(conn, who, UserRole.specialist, TEST_CLOCK.now(), gebied="tilburg",
                       password=PASSWORD)  # fmt: skip
    assert not await marked()


async def test_mijn_werk_says_whether_its_person_is_on_duty(
    client: Client, runtime: Runtime
) -> None:
    """Someone of the network reads on their own page until when they are on duty, or
    when their next duty begins (no offer comes before it)."""
    who = "sp-tilburg-3"
    async with runtime.pool.acquire() as conn:
        await add_user(conn, who, UserRole.specialist, TEST_CLOCK.now(), gebied="tilburg",
                       password=PASSWORD)  # fmt: skip
    resp = await client.post("/login", data={"username": who, "password": PASSWORD},
                             allow_redirects=False)  # fmt: skip
    client.session.cookie_jar.clear()
    own = {"Cookie": f"{COOKIE}={resp.cookies[COOKIE].value}"}
    html = await (await client.get("/mijn-werk", headers=own)).text()
    found = re.search(r'<p class="hint" id="my-duty">([^<]*)</p>', html)
    assert found is not None
    until, next_duty = duty_of(runtime.network, who, runtime.clock.now())
    expected = ("Je hebt dienst tot" if until else "Je hebt nu geen dienst" if next_duty
                else "Je staat de komende week niet op het rooster")  # fmt: skip
    assert found.group(1).startswith(expected), found.group(1)
