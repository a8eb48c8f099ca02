"""The console in a real browser: Chromium (Debian's package) driven by Playwright against
the service on a database and Redis prefix of its own.

A source posts and the melding appears on an open werkvoorraad without reload; the
operator opens it, reads reasons and candidates, overrides urgency and links a call to a
case found by postcode; the specialist sees an offer arrive live, accepts it and records
first contact; a specialist of another gebied is refused; the main flow works by keyboard
alone; and axe-core finds no serious or critical violation on any page visited.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from helpers import (
    CHROMIUM,
    FLAGS,
    TEST_CLOCK,
    melding_body,
    migrated_database,
    need_chromium,
    own_runtime,
)
from triage.app import create_app
from triage.auth.accounts import add_client, add_user
from triage.config import Settings
from triage.runtime import Runtime
from triage.vocabulary import Source, UserRole

playwright_api = pytest.importorskip("playwright.async_api")
axe_module = pytest.importorskip("axe_playwright_python.async_playwright")

need_chromium()

PASSWORD = "correct horse battery staple 7"
#: A browser where notifications are allowed, whose notifications are kept in the tab's
#: session storage for the test to read.
NOTIFICATIONS_SEEN = """
window.Notification = class {
  static permission = "granted";
  static requestPermission() { return Promise.resolve("granted"); }
  constructor(title) {
    const seen = JSON.parse(sessionStorage.getItem("notified") || "[]");
    seen.push(title);
    sessionStorage.setItem("notified", JSON.stringify(seen));
  }
};
"""
#: axe-core's impacts that fail the check.
SERIOUS = {"serious", "critical"}


@dataclass
class Console:
    base: str
    runtime: Runtime
    http: aiohttp.ClientSession
    api: dict[str, dict[str, str]]
    browser: Any
    checked: dict[str, list[str]] = field(default_factory=dict)

    async def post(self, body: dict[str, Any], who: str = "politie") -> dict[str, Any]:
        async with self.http.post(f"{self.base}/api/v1/meldingen", json=body,
                                  headers=self.api[who]) as resp:  # fmt: skip
            assert resp.status == 201, await resp.text()
            answer: dict[str, Any] = await resp.json()
            return answer

    async def give(self, melding_id: str, to: str, reason: str) -> None:
        """The desk gives the melding to ``to`` by hand: an offer to them at once."""
        async with self.http.post(f"{self.base}/api/v1/meldingen/{melding_id}/reassign",
                                  json={"to": to, "reason": reason},
                                  headers=self.api["desk"]) as resp:  # fmt: skip
            assert resp.status == 200, await resp.text()

    async def page_as(self, username: str, *, width: int = 1280, password: str = PASSWORD) -> Any:
        context = await self.browser.new_context(viewport={"width": width, "height": 900},
                                                 locale="nl-NL")  # fmt: skip
        page = await context.new_page()
        await page.goto(f"{self.base}/")
        assert "/login" in page.url
        await page.fill("#username", username)
        await page.fill("#password", password)
        await page.click("form.stack button[type=submit]")
        await page.wait_for_load_state()
        assert "/login" not in page.url, await page.inner_text("main")
        return page

    async def accessible(self, page: Any, name: str) -> None:
        """axe-core on the page as it is now: no serious or critical violation."""
        results = await axe_module.Axe().run(page)
        bad = [f"{v['id']}: {v['help']} ({len(v['nodes'])}x)"
               for v in results.response["violations"] if v.get("impact") in SERIOUS]  # fmt: skip
        self.checked[name] = bad
        assert not bad, f"{name}: {bad}"


@pytest.fixture(scope="module")
async def console(
    settings: Settings, servers: dict[str, str], redis_url: str
) -> AsyncIterator[Console]:
    async with (
        migrated_database(servers["admin_url"], "triage_console") as url,
        own_runtime(settings, url, redis_url, "console") as runtime,
    ):
        now = TEST_CLOCK.now()
        api: dict[str, dict[str, str]] = {}
        async with runtime.pool.acquire() as conn:
            source = await add_client(conn, "console-politie", Source.politie, now)
            api["politie"] = {"Authorization": f"Bearer {source.token}"}
            desk = await add_user(conn, "desk-api", UserRole.operator, now)
            api["desk"] = {"Authorization": f"Bearer {desk.token}"}
            for name, role, gebied in (
                ("operator-1", UserRole.operator, None),
                ("sp-tilburg-1", UserRole.specialist, "tilburg"),
                ("sp-oost-1", UserRole.specialist, "oost"),
                ("co-tilburg", UserRole.coordinator, "tilburg"),
                ("admin-1", UserRole.admin, None),
                ("sp-tilburg-2", UserRole.specialist, "tilburg"),
            ):
                await add_user(conn, name, role, now, gebied=gebied, password=PASSWORD)
        app = create_app(runtime, background=False)
        app.cleanup_ctx.clear()  # own_runtime closes the runtime
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        async with (
            aiohttp.ClientSession() as http,
            playwright_api.async_playwright() as pw,
        ):
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            try:
                yield Console(f"http://127.0.0.1:{server.port}", runtime, http, api, browser)
            finally:
                await browser.close()
                await server.close()


async def test_login_refuses_a_wrong_password_and_is_accessible(console: Console) -> None:
    context = await console.browser.new_context()
    page = await context.new_page()
    await page.goto(f"{console.base}/werkvoorraad")
    assert page.url.endswith("/login?next=%2Fwerkvoorraad")
    await console.accessible(page, "login")
    await page.fill("#username", "operator-1")
    await page.fill("#password", "not the password")
    await page.click("form.stack button[type=submit]")
    assert "klopt niet" in await page.inner_text("[role=alert]")
    # The refusal has the focus: a screen reader reads it first, the keyboard starts there.
    assert await page.evaluate("document.activeElement.id") == "login-error"
    await context.close()


async def test_a_new_melding_appears_live_and_the_operator_works_it(console: Console) -> None:
    page = await console.page_as("operator-1")
    await page.goto(f"{console.base}/")  # the start page of the desk: the werkvoorraad
    assert await page.locator("h1").inner_text() == "Werkvoorraad"
    await console.accessible(page, "werkvoorraad")

    earlier = await console.post(melding_body(source="politie"), who="desk")
    async with console.http.get(f"{console.base}/api/v1/meldingen/{earlier['melding_id']}",
                                headers=console.api["desk"]) as resp:  # fmt: skip
        address = (await resp.json())["address"]
    # A call about the same family, from another address: a case of its own until linked.
    body = melding_body(source="politie", signals=["geweld_nu", "kinderen_aanwezig"])
    await page.evaluate("window.kept = true")  # gone if the page is loaded again
    started = asyncio.get_running_loop().time()
    call = await console.post(body)
    row = page.locator(f"tr[data-melding-id='{call['melding_id']}']")
    await row.wait_for(timeout=2000)  # live, within 2 s of its 201
    assert asyncio.get_running_loop().time() - started < 2.5
    assert await page.evaluate("window.kept === true")  # without a reload

    await row.locator("a").click()
    await page.wait_for_url(f"**/meldingen/{call['melding_id']}")
    reasons = page.locator("table.reasons tbody tr")
    assert await reasons.count() >= 2
    assert "Herkenning" in await page.inner_text("#h-herkenning")
    await console.accessible(page, "melding")

    await page.select_option("#override-level", "crisis")
    await page.fill("#override-reason", "Moeder belt opnieuw: partner is nu binnen.")
    await page.click("form[aria-label='Urgentie aanpassen'] button")
    await page.wait_for_url("**gedaan=urgentie")
    assert await page.locator("h1 .badge").inner_text() == "Crisis"

    await page.fill("#find-postcode", address["postcode"])
    await page.fill("#find-number", str(address["huisnummer"]))
    await page.click("form[aria-label='Casus zoeken'] button")
    hit = page.locator(f"li[data-case-id='{earlier['case_id']}']")
    await hit.wait_for()
    await console.accessible(page, "melding met zoekresultaat")
    await hit.locator("input[name=reason]").fill("Zelfde gezin, moeder belde vanaf werk.")
    await hit.locator("button").click()
    await page.wait_for_url("**gedaan=gekoppeld")
    # The decision at intake stands as it was made, and the page says what came after.
    assert "Besluit bij binnenkomst: nieuwe casus" in await page.inner_text("#h-herkenning + p")
    moved = await page.inner_text("#moved-by-hand")
    assert moved.startswith("Daarna gekoppeld aan een casus door operator-1")
    async with console.http.get(f"{console.base}/api/v1/meldingen/{call['melding_id']}",
                                headers=console.api["desk"]) as resp:  # fmt: skip
        linked = await resp.json()
    assert linked["case_id"] == earlier["case_id"]
    assert linked["urgency"]["level"] == "crisis"

    await page.click("a[href^='/casussen/']")
    await page.wait_for_url("**/casussen/*")
    assert await page.locator("#h-meldingen + .table-wrap table tbody tr").count() == 2
    await console.accessible(page, "casus")
    await page.goto(f"{console.base}/zoeken")
    await console.accessible(page, "zoeken")
    await page.context.close()


async def test_the_specialist_sees_an_offer_live_accepts_and_records_contact(
    console: Console,
) -> None:
    page = await console.page_as("sp-tilburg-1", width=390)  # a phone
    assert await page.locator("h1").inner_text() == "Mijn werk"
    await console.accessible(page, "mijn werk")
    # Notifications allowed: the page's calls are recorded (the page reloads after one).
    await page.add_init_script(NOTIFICATIONS_SEEN)
    await page.reload()
    made = await console.post(melding_body(source="politie"), who="desk")
    assert made["gebied"] == "tilburg"
    await console.give(made["melding_id"], "sp-tilburg-1", "Zij kent het gezin al.")
    card = page.locator(f"#offers li[data-melding-id='{made['melding_id']}']")
    await card.wait_for(timeout=3000)  # the page follows the event, no reload by hand
    shown = await page.evaluate("JSON.parse(sessionStorage.getItem('notified') || '[]')")
    assert shown == ["Nieuw aanbod"]
    await console.accessible(page, "mijn werk met aanbod")
    # What is offered, in words, and where: enough to weigh it before reading it all.
    assert "Huiselijk geweld · Tilburg" in await card.inner_text()

    # Someone typing a decline's reason is not reloaded under: a second offer waits
    # until they leave the field.
    await card.locator("input[name=reason]").fill("Ik ken")
    await page.evaluate("window.kept = true")
    second = await console.post(melding_body(source="politie"), who="desk")
    await console.give(second["melding_id"], "sp-tilburg-1", "Zelfde wijk, zij heeft dienst.")
    status = page.locator("#live-status")
    await status.filter(has_text="zodra je dit veld verlaat").wait_for(timeout=3000)
    assert await page.evaluate("window.kept === true")
    await page.keyboard.press("Tab")  # to the decline button: done with the field
    await page.locator(f"#offers li[data-melding-id='{second['melding_id']}']").wait_for(
        timeout=3000
    )
    assert await page.evaluate("window.kept === undefined")  # reloaded, now
    await card.locator("button", has_text="Aannemen").click()
    await page.wait_for_url("**gedaan=aangenomen")
    accepted = page.locator(f"#accepted li[data-melding-id='{made['melding_id']}']")
    # The latest time the picker takes is the end of today: an open page still takes the
    # time of a visit made after it was loaded.
    today = console.runtime.network.local(TEST_CLOCK.now()).date().isoformat()
    assert await accepted.locator("input[name=at]").get_attribute("max") == f"{today}T23:59"
    await accepted.locator("select[name=channel]").select_option("huisbezoek")
    await accepted.locator("input[name=note]").fill("Moeder thuis getroffen, afspraak morgen.")
    await accepted.locator("button").click()
    await page.wait_for_url("**gedaan=contact")
    async with console.http.get(f"{console.base}/api/v1/meldingen/{made['melding_id']}",
                                headers=console.api["desk"]) as resp:  # fmt: skip
        contacted = await resp.json()
    assert contacted["status"] == "contacted"
    assert contacted["first_contact_channel"] == "huisbezoek"
    assert contacted["first_contact_note"] == "Moeder thuis getroffen, afspraak morgen."

    other = await console.page_as("sp-oost-1")
    answer = await other.goto(f"{console.base}/meldingen/{made['melding_id']}")
    assert answer.status == 404
    assert "Dit bestaat niet, of je mag het niet zien." in await other.inner_text("[role=alert]")
    await other.context.close()
    await page.context.close()


async def test_an_offer_made_while_the_page_was_not_listening_shows_when_it_listens_again(
    console: Console,
) -> None:
    """An event sent while a page's stream is down is not sent again (a phone that lost
    its network, a page still loading): on every (re)connect the page asks whether what
    it shows is still so. Here the stream is refused as the page loads, the offer is made
    meanwhile, and then the stream is let through."""
    page = await console.page_as("sp-tilburg-2", width=390)
    await page.add_init_script(NOTIFICATIONS_SEEN)
    await page.route("**/api/v1/me/events", lambda route: route.abort())
    await page.goto(f"{console.base}/mijn-werk")
    made = await console.post(melding_body(source="politie"), who="desk")
    await console.give(made["melding_id"], "sp-tilburg-2", "Zij heeft dienst in de wijk.")
    card = page.locator(f"#offers li[data-melding-id='{made['melding_id']}']")
    assert await card.count() == 0  # its event went out while nobody listened
    await page.unroute("**/api/v1/me/events")
    await card.wait_for(timeout=10_000)  # the browser reconnects by itself, after ~3 s
    shown = await page.evaluate("JSON.parse(sessionStorage.getItem('notified') || '[]')")
    assert shown == ["Nieuw aanbod"]  # a new offer found so is announced as one
    await page.context.close()


async def test_a_melding_made_while_the_werkvoorraad_was_not_listening_shows_after(
    console: Console,
) -> None:
    """The werkvoorraad reads its rows again on every (re)connect of its stream."""
    page = await console.page_as("operator-1")
    await page.route("**/api/v1/me/events", lambda route: route.abort())
    await page.goto(f"{console.base}/werkvoorraad")
    made = await console.post(melding_body(source="politie"))
    row = page.locator(f"tr[data-melding-id='{made['melding_id']}']")
    assert await row.count() == 0
    await page.unroute("**/api/v1/me/events")
    await row.wait_for(timeout=10_000)
    await page.context.close()


async def test_the_desk_takes_a_call_in_the_new_melding_form(console: Console) -> None:
    """The gebied follows the postcode as it is typed; a field the API refuses is marked
    beside the field; the melding stored is the desk's own source's."""
    page = await console.page_as("operator-1")
    await page.click("a[href='/nieuwe-melding']")
    await page.wait_for_url("**/nieuwe-melding")
    await console.accessible(page, "nieuwe melding")
    await page.select_option("#f-category", "huiselijk_geweld")
    await page.fill("#f-summary", "Buurvrouw belt: geschreeuw, kinderen huilen. (Fictief.)")
    await page.check("input[name=signals][value=geweld_nu]")
    await page.fill("#f-postcode", "5038 AB")
    await page.locator("#gebied-hint", has_text="Gebied: Tilburg").wait_for(timeout=3000)
    await page.fill("#f-huisnummer", "12")
    await page.fill("#f-p0_voornaam", "Sanne")
    await page.fill("#f-p0_achternaam", "Verbeek")
    await page.fill("#f-p0_bsn", "123456789")  # fails the elfproef
    await page.click("form[aria-label='Nieuwe melding'] button[type=submit]")
    error = page.locator("#e-p0_bsn")
    assert "elfproef" in await error.inner_text()
    assert await page.get_attribute("#f-p0_bsn", "aria-invalid") == "true"
    assert await page.is_checked("input[name=signals][value=geweld_nu]")  # kept
    # and the gebied the postcode gives, as before the form was sent
    await page.locator("#gebied-hint", has_text="Gebied: Tilburg").wait_for(timeout=3000)
    await console.accessible(page, "nieuwe melding met fouten")
    await page.fill("#f-p0_bsn", "")
    await page.click("form[aria-label='Nieuwe melding'] button[type=submit]")
    await page.wait_for_url("**gedaan=opgeslagen")
    melding_id = page.url.split("/meldingen/")[1].split("?")[0]
    stored = await console.runtime.pool.fetchrow(
        "SELECT source, gebied, signals FROM meldingen WHERE id = $1", uuid.UUID(melding_id)
    )
    assert (stored["source"], stored["gebied"]) == ("meldpunt", "tilburg")
    assert stored["signals"] == ["geweld_nu"]
    await page.context.close()


async def test_a_refused_form_leaves_the_page_at_its_own_address(console: Console) -> None:
    """A form refused is answered with its page, which puts its own address in the
    history: a reload reads the page instead of sending the form again, and back works."""
    made = await console.post(melding_body(source="politie"), who="desk")
    page = await console.page_as("operator-1")
    url = f"{console.base}/meldingen/{made['melding_id']}"
    await page.goto(url)
    await page.select_option("#override-level", "crisis")
    # The browser's own check would stop a short reason; the service's is the one tried.
    await page.evaluate("document.getElementById('override-reason').removeAttribute('minlength')")
    await page.fill("#override-reason", "kort")
    await page.click("form[aria-label='Urgentie aanpassen'] button")
    await page.locator("[role=alert]").wait_for()
    assert page.url == url
    # What was typed is back in the form, which says what was refused; the alert read
    # first leads to it.
    assert await page.input_value("#override-level") == "crisis"
    assert await page.input_value("#override-reason") == "kort"
    said = await page.inner_text("[role=alert]")
    assert await page.get_attribute(".refused-here + form", "aria-label") == "Urgentie aanpassen"
    assert said == await page.inner_text(".refused-here")
    link = page.locator("[role=alert] + p a", has_text="Urgentie aanpassen")
    assert await link.get_attribute("href") == "#geweigerd-hier"
    await page.reload()  # a GET of the page: no question about sending the form again
    assert await page.locator(".alert").count() == 0
    assert await page.input_value("#override-reason") == ""
    assert await console.runtime.pool.fetchval(
        "SELECT count(*) FROM urgency_overrides WHERE melding_id = $1",
        uuid.UUID(made["melding_id"])) == 0  # fmt: skip
    await page.context.close()


async def test_a_form_sent_twice_stores_one_melding(console: Console) -> None:
    page = await console.page_as("operator-1")
    await page.goto(f"{console.base}/nieuwe-melding")
    await page.select_option("#f-category", "overlast")
    await page.fill("#f-summary", "Tweemaal verstuurd. (Fictief.)")
    await page.fill("#f-woonplaats", "Tilburg")
    statuses = await page.evaluate("""async () => {
        const form = document.querySelector("form[aria-label='Nieuwe melding']");
        const send = () => fetch(form.action, {method: "POST", redirect: "manual",
                                               body: new URLSearchParams(new FormData(form))});
        return [(await send()).type, (await send()).type];
    }""")
    assert statuses == ["opaqueredirect", "opaqueredirect"]  # 303 both times
    external_id = await page.get_attribute("input[name=external_id]", "value")
    stored = await console.runtime.pool.fetchval(
        "SELECT count(*) FROM meldingen WHERE external_id = $1", external_id
    )
    assert stored == 1
    await page.context.close()


async def test_the_coordinator_marks_an_absence_and_the_on_duty_view_follows(
    console: Console,
) -> None:
    page = await console.page_as("co-tilburg")
    await page.goto(f"{console.base}/gebied")
    await console.accessible(page, "gebied")
    network = console.runtime.network
    local = network.local(TEST_CLOCK.now()).replace(second=0, microsecond=0, tzinfo=None)
    start, end = local - timedelta(minutes=5), local + timedelta(hours=2)
    duty = page.locator("#on-duty li[data-specialist='sp-tilburg-7']")

    async def change(kind: str, reason: str) -> None:
        await page.select_option("#rc-kind", kind)
        await page.select_option("#rc-who", "sp-tilburg-7")
        await page.fill("#rc-start", start.isoformat(timespec="minutes"))
        await page.fill("#rc-end", end.isoformat(timespec="minutes"))
        await page.fill("#rc-reason", reason)
        await page.click("form[aria-label='Roosterwijziging'] button")
        await page.wait_for_url("**gedaan=roosterwijziging")

    # A change refused (it ends before it starts) comes back as it was typed.
    await page.select_option("#rc-kind", "absent")
    await page.select_option("#rc-who", "sp-tilburg-7")
    await page.fill("#rc-start", end.isoformat(timespec="minutes"))
    await page.fill("#rc-end", start.isoformat(timespec="minutes"))
    await page.fill("#rc-reason", "Verkeerd om ingevuld door de coordinator.")
    await page.click("form[aria-label='Roosterwijziging'] button")
    await page.locator("[role=alert]").wait_for()
    fields = ("kind", "who", "start", "end", "reason")
    assert [await page.input_value(f"#rc-{f}") for f in fields] == [
        "absent", "sp-tilburg-7", end.isoformat(timespec="minutes"),
        start.isoformat(timespec="minutes"), "Verkeerd om ingevuld door de coordinator.",
    ]  # fmt: skip
    await change("extra", "Extra dienst wegens drukte in de wijk.")
    assert await duty.count() == 1
    await change("absent", "Ziek gemeld bij de coordinator.")
    assert await duty.count() == 0
    # today's column shows the absence, marked apart from any shift the day holds besides
    today = page.locator("tr[data-specialist='sp-tilburg-7'] td").first
    assert (await today.locator(".away").inner_text()).startswith("afwezig")

    # The coordinator's own work does not reload for every change in the gebied.
    await page.goto(f"{console.base}/mijn-werk")
    await page.locator("#live-status", has_text="Live").wait_for()
    await page.evaluate("window.kept = true")
    made = await console.post(melding_body(source="politie"), who="desk")
    assert made["gebied"] == "tilburg"  # a werkvoorraad event for the gebied
    await page.wait_for_timeout(1000)
    assert await page.evaluate("window.kept === true")
    await page.context.close()


async def test_a_case_is_worked_in_the_console(console: Console) -> None:
    """The desk gives a melding to a specialist by hand and moves another to a gebied;
    the lead marks a milestone, hands the case over warmly, the colleague takes it over,
    and the desk closes it."""
    desk = await console.page_as("operator-1")
    made = await console.post(melding_body(source="politie"), who="desk")
    await desk.goto(f"{console.base}/meldingen/{made['melding_id']}")
    await desk.select_option("#reassign-to", "sp-tilburg-1")
    await desk.fill("#reassign-reason", "Zij kent het gezin van eerder.")
    await desk.click("form[aria-label='Toewijzen'] button")
    await desk.wait_for_url("**gedaan=toegewezen")
    assert "Gerrit Uphus" in await desk.inner_text("#h-aanbod + .table-wrap table")
    moving = await console.post(melding_body(source="politie"), who="desk")
    await desk.goto(f"{console.base}/meldingen/{moving['melding_id']}")
    await desk.select_option("#move-gebied", "oost")
    await desk.fill("#move-reason", "Gezin woont sinds kort in Oosterhout.")
    await desk.click("form[aria-label='Ander gebied'] button")
    await desk.wait_for_url("**gedaan=naar*")
    moved = await console.runtime.pool.fetchval(
        "SELECT gebied FROM meldingen WHERE id = $1", uuid.UUID(moving["melding_id"])
    )
    assert moved == "oost"

    lead = await console.page_as("sp-tilburg-1")
    offer = lead.locator(f"#offers li[data-melding-id='{made['melding_id']}']")
    await offer.locator("button", has_text="Aannemen").click()
    await lead.wait_for_url("**gedaan=aangenomen")
    await lead.locator(f"#accepted li[data-melding-id='{made['melding_id']}'] button").click()
    await lead.wait_for_url("**gedaan=contact")
    mine = lead.locator(f"#my-cases li[data-case-id='{made['case_id']}'] a")
    address = await _address_of(console, made["melding_id"])
    number = f"{address['huisnummer']}{address.get('toevoeging', '')}"
    assert f"{number}, {address['postcode']}" in await mine.inner_text()  # whose case it is
    await mine.click()
    await lead.wait_for_url(f"**/casussen/{made['case_id']}")
    await console.accessible(lead, "casus van de regie")
    await lead.fill("#ms-note-plan", "Plan met moeder opgesteld.")
    await lead.click("tr[data-milestone='plan'] button")
    await lead.wait_for_url("**gedaan=mijlpaal")
    assert "Plan met moeder opgesteld." in await lead.inner_text("tr[data-milestone='plan']")
    await lead.fill("#note-text", "Afspraak met moeder en wijkteam donderdag.")
    await lead.click("form[aria-label='Notitie toevoegen'] button")
    await lead.wait_for_url("**gedaan=notitie")
    assert "Afspraak met moeder" in await lead.inner_text("ul.notes")

    async def propose() -> None:
        await lead.select_option("#handover-to", "sp-tilburg-2")
        await lead.fill("#handover-reason", "Ik ga met verlof; Amelia neemt het over.")
        await lead.click("form[aria-label='Overdracht voorstellen'] button")
        await lead.wait_for_url("**gedaan=overdracht*")

    await propose()
    colleague = await console.page_as("sp-tilburg-2")
    # Not now: the colleague declines it from their work; the lead may propose again.
    await colleague.goto(f"{console.base}/mijn-werk")
    card = colleague.locator(f"#handovers li[data-case-id='{made['case_id']}']")
    await card.locator("input[name=reason]").fill("Deze week niet; morgen wel.")
    await card.locator("button", has_text="Niet overnemen").click()
    await colleague.wait_for_url("**/mijn-werk?gedaan=overdracht*")
    assert await colleague.locator(f"#handovers li[data-case-id='{made['case_id']}']").count() == 0
    await lead.goto(f"{console.base}/casussen/{made['case_id']}")
    await propose()
    # Mijn werk, still open, reads itself anew when the proposal comes: wait for that,
    # or its reload aborts the navigation below (net::ERR_ABORTED on a slow machine).
    await colleague.locator(f"#handovers li[data-case-id='{made['case_id']}']").wait_for()
    await colleague.goto(
        f"{console.base}/casussen/{made['case_id']}",
    )
    await colleague.click("button:has-text('Casusregie overnemen')")
    await colleague.wait_for_url("**gedaan=casusregie*")
    assert (
        await console.runtime.pool.fetchval(
            "SELECT lead FROM cases WHERE id = $1", uuid.UUID(made["case_id"])
        )
        == "sp-tilburg-2"
    )

    await desk.goto(f"{console.base}/casussen/{made['case_id']}")
    # The case keeps who led it when: the declined proposal and the one taken over.
    handed = await desk.inner_text("ul.handovers")
    assert "niet doorgegaan (Amelia van de Wal" in handed
    assert "Deze week niet; morgen wel." in handed
    assert "naar Amelia van de Wal, overgenomen" in handed
    await desk.fill("#close-reason", "Hulp loopt via het wijkteam; crisis voorbij.")
    await desk.click("form[aria-label='Casus sluiten'] button")
    await desk.wait_for_url("**gedaan=gesloten")
    assert "gesloten" in await desk.inner_text("dl.facts")
    for page in (desk, lead, colleague):
        await page.context.close()


async def test_the_admin_manages_sources_and_people(console: Console) -> None:
    """A source's token is shown once and works; a new one replaces it; a person added
    and disabled can no longer log in; each change is audited with the admin."""
    page = await console.page_as("admin-1")
    assert page.url.endswith("/beheer")
    await console.accessible(page, "beheer")
    await page.fill("#c-name", "politie-midden")
    await page.select_option("#c-source", "politie")
    await page.click("form[aria-label='Bron toevoegen'] button")
    token = await page.locator("#issued code").inner_text()
    headers = {"Authorization": f"Bearer {token}"}
    async with console.http.post(f"{console.base}/api/v1/meldingen", json=melding_body(),
                                 headers=headers) as resp:  # fmt: skip
        assert resp.status == 201, await resp.text()
    await page.goto(f"{console.base}/beheer")
    await page.click("tr[data-client='politie-midden'] button:has-text('Nieuwe token')")
    renewed = await page.locator("#issued code").inner_text()
    assert renewed != token
    async with console.http.post(f"{console.base}/api/v1/meldingen", json=melding_body(),
                                 headers=headers) as resp:  # fmt: skip
        assert resp.status == 401

    await page.goto(f"{console.base}/beheer")
    await page.fill("#u-name", "operator-tijdelijk")
    await page.select_option("#u-role", "operator")
    await page.fill("#u-password", PASSWORD)
    await page.click("form[aria-label='Gebruiker toevoegen'] button")
    await page.wait_for_url("**gedaan=gebruiker+aangemaakt")
    signed_in = await console.page_as("operator-tijdelijk")  # asserts the login works
    await signed_in.context.close()
    await page.click("tr[data-username='operator-tijdelijk'] button")
    await page.wait_for_url("**gedaan=gebruiker+uitgeschakeld")
    other = await console.browser.new_context()
    login = await other.new_page()
    await login.goto(f"{console.base}/login")
    await login.fill("#username", "operator-tijdelijk")
    await login.fill("#password", PASSWORD)
    await login.click("form.stack button[type=submit]")
    assert "/login" in login.url
    await other.close()

    # Back, with a new password; then a new token instead (shown once, and it works).
    await page.select_option("#r-name", "operator-tijdelijk")
    await page.fill("#r-password", PASSWORD + " nieuw")
    await page.click("form[aria-label='Toegang vernieuwen'] button")
    await page.wait_for_url("**gedaan=toegang+vernieuwd")
    again = await console.page_as("operator-tijdelijk", password=PASSWORD + " nieuw")
    await again.context.close()
    await page.select_option("#r-name", "operator-tijdelijk")
    await page.click("form[aria-label='Toegang vernieuwen'] button")
    issued = await page.locator("#issued code").inner_text()
    async with console.http.get(f"{console.base}/api/v1/meldingen",
                                headers={"Authorization": f"Bearer {issued}"}) as resp:  # fmt: skip
        assert resp.status == 200, await resp.text()
    actions = await console.runtime.pool.fetch(
        "SELECT action, detail FROM audit_log WHERE action LIKE 'client.%' "
        "OR action LIKE 'account.%' ORDER BY id"
    )
    assert [(a["action"], a["detail"]) for a in actions if a["detail"]] == [
        ("client.create", {"client": "politie-midden"}),
        ("client.rotate", {"client": "politie-midden"}),
        ("account.create", {"username": "operator-tijdelijk", "role": "operator"}),
        ("account.disable", {"username": "operator-tijdelijk"}),
        ("account.renew", {"username": "operator-tijdelijk", "way_in": "password"}),
        ("account.renew", {"username": "operator-tijdelijk", "way_in": "token"}),
    ]
    await page.context.close()


async def test_the_main_flow_works_by_keyboard_alone(console: Console) -> None:
    made = await console.post(melding_body(source="politie"))
    context = await console.browser.new_context()
    page = await context.new_page()
    await page.goto(f"{console.base}/")
    assert await page.evaluate("document.activeElement.id") == "username"  # autofocus
    await page.keyboard.type("operator-1")
    await page.keyboard.press("Tab")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{console.base}/")
    await page.keyboard.press("Tab")  # the skip link first, then the menu
    assert await page.evaluate("document.activeElement.className") == "skip"
    # Tab through the menu and filters to the melding's link
    await _tab_to(page, page.locator(f"tr[data-melding-id='{made['melding_id']}'] a"))
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"**/meldingen/{made['melding_id']}")
    await _tab_to(page, page.locator("#override-level"))
    await page.keyboard.press("ArrowUp")
    await page.keyboard.press("Tab")
    await page.keyboard.type("Per toetsenbord bijgesteld na terugbellen.")
    await page.keyboard.press("Enter")
    await page.wait_for_url("**gedaan=urgentie")
    await context.close()


async def _tab_to(page: Any, target: Any, presses: int = 80) -> None:
    """Press Tab until ``target`` has the focus, as a person without a mouse would."""
    for _ in range(presses):
        await page.keyboard.press("Tab")
        if await target.evaluate("el => el === document.activeElement"):
            return
    raise AssertionError(f"not reached by Tab: {target}")


async def test_the_specialist_works_an_offer_by_keyboard_alone(console: Console) -> None:
    """On a phone's width: accept an offer and record first contact, keys only."""
    made = await console.post(melding_body(source="politie"), who="desk")
    await console.give(made["melding_id"], "sp-tilburg-2", "Zij heeft vandaag ruimte.")
    page = await console.page_as("sp-tilburg-2", width=390)
    card = page.locator(f"#offers li[data-melding-id='{made['melding_id']}']")
    await _tab_to(page, card.locator("button", has_text="Aannemen"))
    await page.keyboard.press("Enter")
    await page.wait_for_url("**gedaan=aangenomen")
    accepted = page.locator(f"#accepted li[data-melding-id='{made['melding_id']}']")
    await _tab_to(page, accepted.locator("select[name=channel]"))
    channel = await accepted.locator("select[name=channel]").input_value()
    await page.keyboard.press("ArrowDown")  # another way of contact than the first
    chosen = await accepted.locator("select[name=channel]").input_value()
    assert chosen != channel
    await _tab_to(page, accepted.locator("input[name=note]"), presses=5)
    await page.keyboard.type("Telefonisch gesproken, huisbezoek morgen.")
    await page.keyboard.press("Enter")
    await page.wait_for_url("**gedaan=contact")
    async with console.http.get(f"{console.base}/api/v1/meldingen/{made['melding_id']}",
                                headers=console.api["desk"]) as resp:  # fmt: skip
        contacted = await resp.json()
    assert (contacted["status"], contacted["first_contact_channel"]) == ("contacted", chosen)
    await page.context.close()


#: Where ``make screenshots`` has the pages saved (docs/console); else a temporary folder.
SHOTS = os.environ.get("TRIAGE_SCREENSHOTS")


async def test_every_page_at_phone_and_desktop_width(
    console: Console, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Each page rendered at both widths, checked by axe-core, and saved as a picture:
    into docs/console by ``make screenshots``, for the README."""
    folder = SHOTS or str(tmp_path_factory.mktemp("screenshots"))
    os.makedirs(folder, exist_ok=True)
    earlier = await console.post(melding_body(source="politie"), who="desk")
    made = await console.post(melding_body(
        source="politie", signals=["geweld_nu", "kinderen_aanwezig"],
        address=(await _address_of(console, earlier["melding_id"])),
    ), who="desk")  # fmt: skip
    await console.give(made["melding_id"], "sp-tilburg-1", "Zij kent het gezin al.")
    pages = {
        "operator-1": [("werkvoorraad", "/"), ("nieuwe-melding", "/nieuwe-melding"),
                       ("melding", f"/meldingen/{made['melding_id']}"),
                       ("casus", f"/casussen/{made['case_id']}"), ("zoeken", "/zoeken")],
        "sp-tilburg-1": [("mijn-werk", "/mijn-werk")],
        "co-tilburg": [("gebied", "/gebied")],
        "admin-1": [("beheer", "/beheer")],
    }  # fmt: skip
    for width, kind in ((1280, "desktop"), (390, "telefoon")):
        context = await console.browser.new_context(viewport={"width": width, "height": 900})
        login = await context.new_page()
        await login.goto(f"{console.base}/login")
        await console.accessible(login, f"login ({kind})")
        await login.screenshot(path=f"{folder}/login-{kind}.png", full_page=True)
        await context.close()
        for user, visits in pages.items():
            page = await console.page_as(user, width=width)
            for name, path in visits:
                await page.goto(f"{console.base}{path}")
                assert page.url == f"{console.base}{path}", name  # not sent to the login
                await console.accessible(page, f"{name} ({kind})")
                # Nothing wider than the screen but inside a scrolling region of its own.
                wide = await page.evaluate(
                    "document.documentElement.scrollWidth - window.innerWidth"
                )
                assert wide <= 0, (name, kind, wide)
                await page.screenshot(path=f"{folder}/{name}-{kind}.png", full_page=True)
            if user == "operator-1":  # a refusal is a page too
                answer = await page.goto(f"{console.base}/meldingen/{uuid.uuid4()}")
                assert answer is not None
                assert answer.status == 404
                await console.accessible(page, f"foutpagina ({kind})")
            await page.context.close()
    saved = sorted(os.listdir(folder))
    assert len([s for s in saved if s.endswith(".png")]) == 18, saved


async def _address_of(console: Console, melding_id: str) -> dict[str, Any]:
    async with console.http.get(f"{console.base}/api/v1/meldingen/{melding_id}",
                                headers=console.api["desk"]) as resp:  # fmt: skip
        address: dict[str, Any] = (await resp.json())["address"]
    return {k: v for k, v in address.items() if v}


async def test_a_refused_decline_is_not_reloaded_away_by_a_new_offer(console: Console) -> None:
    """Mijn werk reloads itself on a new offer, but not over a refused form that came back
    as typed: the specialist sends it again, or reloads when they choose."""
    made = await console.post(melding_body(source="politie"), who="desk")
    await console.give(made["melding_id"], "sp-tilburg-2", "Zij kent de buurt goed.")
    page = await console.page_as("sp-tilburg-2")
    await page.goto(f"{console.base}/mijn-werk")
    card = page.locator(f"#offers li[data-melding-id='{made['melding_id']}']")
    await card.locator("input[name=reason]").fill("    x")  # five long, one of it words
    await card.locator("button", has_text="Afwijzen").click()
    await page.locator("[role=alert]").wait_for()
    await page.locator("#live-status", has_text="Live").wait_for()
    assert await card.locator("input[name=reason]").input_value() == "    x"
    await page.evaluate("window.kept = true")
    second = await console.post(melding_body(source="politie"), who="desk")
    await console.give(second["melding_id"], "sp-tilburg-2", "Zelfde wijk, zij heeft dienst.")
    await page.locator("#live-status", has_text="verstuur je formulier").wait_for(timeout=3000)
    assert await page.evaluate("window.kept === true")
    assert await card.locator("input[name=reason]").input_value() == "    x"
    await page.context.close()


async def test_an_offer_taken_away_says_why_on_mijn_werk(console: Console) -> None:
    """An offer that leaves "Mijn werk" (moved to another gebied here) leaves a word on
    the page read anew: the card alone would just be gone."""
    made = await console.post(melding_body(source="politie"), who="desk")
    await console.give(made["melding_id"], "sp-tilburg-2", "Zij heeft nu dienst.")
    page = await console.page_as("sp-tilburg-2")
    await page.goto(f"{console.base}/mijn-werk")
    await page.locator(f"#offers li[data-melding-id='{made['melding_id']}']").wait_for()
    await page.locator("#live-status", has_text="Live").wait_for()
    async with console.http.post(f"{console.base}/api/v1/meldingen/{made['melding_id']}/gebied",
                                 json={"gebied": "oost", "reason": "Woont in Oisterwijk."},
                                 headers=console.api["desk"]) as resp:  # fmt: skip
        assert resp.status == 200, await resp.text()
    note = page.locator("#gone")
    await note.wait_for(timeout=3000)
    assert await note.inner_text() == (
        "Een aanbod is ingetrokken: de melding is naar een ander gebied gegaan."
    )
    assert await page.locator(f"#offers li[data-melding-id='{made['melding_id']}']").count() == 0
    await page.reload()  # said once
    assert await page.locator("#gone").count() == 0
    await page.context.close()


async def test_a_specialist_accepts_an_offer_from_the_meldings_own_page(console: Console) -> None:
    """Read first, then answer where it was read: the melding's page carries the offer's
    answer time and its two answers for the one it is offered to."""
    made = await console.post(melding_body(source="politie"), who="desk")
    await console.give(made["melding_id"], "sp-tilburg-2", "Zij kent de school.")
    page = await console.page_as("sp-tilburg-2")
    await page.goto(f"{console.base}/meldingen/{made['melding_id']}")
    offer = page.locator("#mijn-aanbod")
    assert "Antwoord binnen" in await offer.inner_text()
    await console.accessible(page, "melding met aanbod")
    await offer.locator("button", has_text="Aannemen").click()
    await page.wait_for_url("**/mijn-werk?gedaan=aangenomen")
    assert await page.locator(f"#accepted li[data-melding-id='{made['melding_id']}']").count() == 1
    await page.goto(f"{console.base}/meldingen/{made['melding_id']}")
    assert await page.locator("#mijn-aanbod").count() == 0  # answered: nothing left to answer
    await page.context.close()
