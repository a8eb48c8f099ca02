"""The API documentation page (/api/docs) in a real browser: Chromium (Debian's package)
driven by Playwright. Swagger UI renders every operation from the service's own files,
under the page's policy (no inline script, fetches to this origin only), without an
error or a blocked load; the table of contents leads to each section; and Try it out
works with a bearer token given under Authorize, and with the session of a person who
logged in, a change (a POST) included.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp.test_utils import TestClient

from helpers import CHROMIUM, FLAGS, TEST_CLOCK, Tokens, need_chromium
from triage.api.openapi import TAGS
from triage.api.operations import OPERATIONS
from triage.auth.accounts import add_user
from triage.runtime import Runtime
from triage.vocabulary import UserRole

playwright_api = pytest.importorskip("playwright.async_api")

need_chromium()

PASSWORD = "een zin voor de documentatie"
#: How long Swagger UI may take to fetch and render the document.
RENDERED_MS = 30_000


class Watched:
    """A page and what went wrong on it: console errors (Chromium reports a load or a
    script the policy refused there), uncaught errors, and requests to elsewhere."""

    def __init__(self, page: Any, origin: str) -> None:
        self.page = page
        self.problems: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.problems.append(m.text))
        page.on("pageerror", lambda e: self.problems.append(f"uncaught: {e}"))

        def request(req: Any) -> None:
            if urlsplit(req.url).netloc != origin and not req.url.startswith("data:"):
                self.problems.append(f"request to elsewhere: {req.url}")

        page.on("request", request)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield launched
        finally:
            await launched.close()


async def _docs(browser: Any, client: TestClient[Any, Any]) -> Watched:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    base = str(client.make_url("/"))
    watched = Watched(await context.new_page(), urlsplit(base).netloc)
    await watched.page.goto(str(client.make_url("/api/docs")))
    await watched.page.locator(".opblock").nth(len(OPERATIONS) - 1).wait_for(timeout=RENDERED_MS)
    return watched


async def _try(page: Any, block_id: str) -> str:
    """Try it out on one operation with what the page fills in (the example body), and
    the status its answer shows."""
    block = page.locator(f"#{block_id}")
    if not await block.locator(".try-out").is_visible():
        await block.locator(".opblock-summary-control").click()
    await block.locator(".try-out__btn").click()
    await block.locator(".execute").click()
    status = block.locator(".live-responses-table .response .response-col_status")
    await status.wait_for(timeout=RENDERED_MS)
    return (await status.inner_text()).strip()


async def test_the_page_renders_every_operation_under_its_policy(
    browser: Any, client: TestClient[Any, Any]
) -> None:
    watched = await _docs(browser, client)
    page = watched.page
    assert await page.locator(".opblock").count() == len(OPERATIONS)
    assert await page.locator(".opblock-tag-section").count() == len(TAGS)
    # Each tag with its description, as the sidebar's groups.
    for name, text in TAGS:
        section = page.locator(f"#operations-tag-{name}")
        assert text[:40] in await section.inner_text()
    # An operation's own error texts, as its table of answers shows them.
    link = page.locator("#operations-cases-post_link")
    await link.locator(".opblock-summary-control").click()
    assert "The melding is in this case already" in await link.inner_text()
    # The table of contents leads to a section further down.
    privacy = page.locator("#operations-tag-privacy")
    await playwright_api.expect(privacy).not_to_be_in_viewport()
    await page.click("nav.docs-contents a[href='#operations-tag-privacy']")
    await playwright_api.expect(privacy).to_be_in_viewport()
    assert watched.problems == []
    await page.context.close()


async def test_try_it_out_with_a_bearer_token(
    browser: Any, client: TestClient[Any, Any], tokens: Tokens
) -> None:
    watched = await _docs(browser, client)
    page = watched.page
    token = tokens.user("operator")["Authorization"].removeprefix("Bearer ")
    await page.click(".auth-wrapper .authorize")
    bearer = page.locator(".auth-container", has_text="bearer")
    await bearer.locator("input").fill(token)
    await bearer.locator("button.authorize").click()
    await page.click(".auth-btn-wrapper .btn-done")
    assert await _try(page, "operations-reference-get_gebieden") == "200"
    assert watched.problems == []
    await page.context.close()


async def test_try_it_out_in_a_session(
    browser: Any, client: TestClient[Any, Any], runtime: Runtime
) -> None:
    username = f"docs-desk-{uuid.uuid4().hex[:6]}"
    async with runtime.pool.acquire() as conn:
        await add_user(conn, username, UserRole.operator, TEST_CLOCK.now(), password=PASSWORD)
    watched = await _docs(browser, client)
    page = watched.page
    # Logged in on this page: POST /auth/login, tried out with the person's form fields.
    login = page.locator("#operations-auth-post_login")
    await login.locator(".opblock-summary-control").click()
    await login.locator(".try-out__btn").click()
    await login.locator("tr[data-property-name='username'] input").fill(username)
    await login.locator("tr[data-property-name='password'] input").fill(PASSWORD)
    await login.locator(".execute").click()
    status = login.locator(".live-responses-table .response .response-col_status")
    await status.wait_for(timeout=RENDERED_MS)
    assert (await status.inner_text()).strip() == "200"
    # The browser now sends the session with every try: a read, and a change (a search
    # is a POST, which a session may make from this service's own pages only).
    assert await _try(page, "operations-reference-get_vocabulary") == "200"
    assert await _try(page, "operations-cases-post_household_search") == "200"
    assert watched.problems == []
    await page.context.close()
