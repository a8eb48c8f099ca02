"""People log in with a password and work in a session: an HttpOnly, SameSite=Strict,
Secure cookie; ended by logout, by disabling the person, after the idle time and at the
absolute end; failed logins limited per address and per username; a change through a
session only from the service's own pages. Bearer tokens go on working beside it."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from helpers import TEST_CLOCK, Tokens, melding_body, own_runtime
from triage.app import create_app
from triage.auth.accounts import AccountError, add_user, disable_user, renew_user
from triage.auth.sessions import COOKIE
from triage.config import Settings
from triage.runtime import Runtime
from triage.vocabulary import Source, UserRole

Client = TestClient[Any, Any]
PASSWORD = "een zin die niemand raadt"


async def _person(runtime: Runtime, role: UserRole = UserRole.operator) -> str:
    username = f"desk-{uuid.uuid4().hex[:8]}"
    async with runtime.pool.acquire() as conn:
        issued = await add_user(conn, username, role, TEST_CLOCK.now(), password=PASSWORD)
    assert issued.token is None  # a password, no token
    return username


async def _login(client: Client, username: str, password: str = PASSWORD) -> Any:
    return await client.post("/auth/login", data={"username": username, "password": password})


def _session(resp: Any) -> dict[str, str]:
    return {"Cookie": f"{COOKIE}={resp.cookies[COOKIE].value}"}


async def test_a_person_logs_in_works_and_logs_out(client: Client, runtime: Runtime) -> None:
    username = await _person(runtime)
    resp = await _login(client, username)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["role"] == "operator"
    morsel = resp.cookies[COOKIE]
    assert (morsel["httponly"], morsel["secure"]) == (True, True)
    assert (morsel["samesite"], morsel["path"]) == ("Strict", "/")
    client.session.cookie_jar.clear()  # the test sends the cookie itself
    cookie = _session(resp)

    posted = await client.post("/api/v1/meldingen", json=melding_body(source="cit"),
                               headers=cookie)  # fmt: skip
    assert posted.status == 201, await posted.text()
    melding_id = (await posted.json())["melding_id"]
    assert (await client.get(f"/api/v1/meldingen/{melding_id}", headers=cookie)).status == 200
    actions = await runtime.pool.fetch(
        "SELECT a.action FROM audit_log a JOIN users u ON u.id = a.actor_id "
        "WHERE u.username = $1 ORDER BY a.id", username)  # fmt: skip
    assert [r["action"] for r in actions] == ["auth.login", "melding.create", "melding.read"]

    assert (await client.post("/auth/logout", headers=cookie)).status == 204
    origins = await runtime.pool.fetch(
        "SELECT a.action, a.origin FROM audit_log a JOIN users u ON u.id = a.actor_id "
        "WHERE u.username = $1 AND a.action LIKE 'auth.%' ORDER BY a.id", username)  # fmt: skip
    assert [r["action"] for r in origins] == ["auth.login", "auth.logout"]
    assert all(r["origin"] and len(r["origin"]) == 32 for r in origins)  # keyed digests
    ended = await client.get(f"/api/v1/meldingen/{melding_id}", headers=cookie)
    assert ended.status == 401
    assert "log in again" in (await ended.json())["detail"]


async def test_wrong_unknown_and_tokenless_logins_look_the_same(
    client: Client, runtime: Runtime
) -> None:
    username = await _person(runtime)
    answers = [
        await _login(client, username, "niet het goede wachtwoord"),
        await _login(client, f"nobody-{uuid.uuid4().hex[:6]}"),
    ]
    bodies = [await r.json() for r in answers]
    assert [r.status for r in answers] == [401, 401]
    assert bodies[0]["detail"] == bodies[1]["detail"]
    assert COOKIE not in answers[0].cookies
    json_login = await client.post("/auth/login", json={"username": username, "password": PASSWORD})
    assert json_login.status == 415
    missing = await client.post("/auth/login", data={"username": username})
    assert [e["pointer"] for e in (await missing.json())["errors"]] == ["/password"]


async def test_failed_logins_are_limited_per_address_and_username(
    settings: Settings, database_url: str, redis_url: str
) -> None:
    limit = 3  # the session's runtime allows many, for the other tests' sake
    strict = settings.model_copy(update={"auth_failures_per_minute": limit})
    async with own_runtime(strict, database_url, redis_url, "logins") as runtime:
        app = create_app(runtime, background=False)
        app.cleanup_ctx.clear()  # own_runtime closes the runtime
        async with TestClient(TestServer(app)) as client:
            username = await _person(runtime)
            statuses = [(await _login(client, username, f"fout wachtwoord {i}")).status
                        for i in range(limit + 1)]  # fmt: skip
            assert statuses == [401] * limit + [429]
            # Even the right password waits out the minute: a guesser learns nothing.
            refused = await _login(client, username)
            assert refused.status == 429
            assert "Retry-After" in refused.headers


async def test_a_session_ends_when_idle_at_its_end_and_when_disabled(
    client: Client, runtime: Runtime
) -> None:
    settings = runtime.settings
    idle = timedelta(minutes=settings.session_idle_minutes)
    # Idle too long.
    cookie = _session(await _login(client, await _person(runtime)))
    client.session.cookie_jar.clear()
    assert (await client.get("/api/v1/escalations", headers=cookie)).status == 200
    with TEST_CLOCK.at(TEST_CLOCK.now() + idle + timedelta(minutes=1)):
        assert (await client.get("/api/v1/escalations", headers=cookie)).status == 401
    # Disabled: at once.
    username = await _person(runtime)
    cookie = _session(await _login(client, username))
    client.session.cookie_jar.clear()
    async with runtime.pool.acquire() as conn:
        await disable_user(conn, username, TEST_CLOCK.now())
    assert (await client.get("/api/v1/escalations", headers=cookie)).status == 401
    # In use all the while, it still ends at its absolute end.
    cookie = _session(await _login(client, await _person(runtime)))
    client.session.cookie_jar.clear()
    start, step = TEST_CLOCK.now(), idle - timedelta(minutes=1)
    moved = step
    while moved < timedelta(hours=settings.session_hours):
        with TEST_CLOCK.at(start + moved):
            assert (await client.get("/api/v1/escalations", headers=cookie)).status == 200
        moved += step
    with TEST_CLOCK.at(start + timedelta(hours=settings.session_hours, minutes=1)):
        assert (await client.get("/api/v1/escalations", headers=cookie)).status == 401


async def test_a_change_through_a_session_only_from_the_services_own_pages(
    client: Client, runtime: Runtime, tokens: Tokens
) -> None:
    username = await _person(runtime)
    cookie = _session(await _login(client, username))
    client.session.cookie_jar.clear()
    body = melding_body(source="cit")
    for foreign in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        refused = await client.post("/api/v1/meldingen", json=body, headers={**cookie, **foreign})
        assert refused.status == 403, foreign
    own = {"Origin": f"http://{client.host}:{client.port}", "Sec-Fetch-Site": "same-origin"}
    assert (await client.post("/api/v1/meldingen", json=body,
                              headers={**cookie, **own})).status == 201  # fmt: skip
    # A bearer token is not a cookie: a source system's requests have no Origin rules.
    posted = await client.post("/api/v1/meldingen", json=melding_body(),
                               headers={**tokens.client(Source.politie),
                                        "Origin": "https://elsewhere.example"})  # fmt: skip
    assert posted.status == 201


async def test_a_weak_password_is_refused_with_what_to_do(runtime: Runtime) -> None:
    async with runtime.pool.acquire() as conn:
        for weak in ("kort", " " * 20):
            with pytest.raises(AccountError, match="12 to 1024 characters"):
                await add_user(conn, f"weak-{uuid.uuid4().hex[:6]}", UserRole.operator,
                               TEST_CLOCK.now(), password=weak)  # fmt: skip


async def test_a_bad_authorization_header_is_refused_even_beside_a_live_session(
    client: Client, runtime: Runtime
) -> None:
    """The credentials a caller sends are the ones checked: a wrong or empty bearer
    token is not passed over for a session cookie that came along."""
    resp = await _login(client, await _person(runtime))
    client.session.cookie_jar.clear()
    cookie = _session(resp)
    assert (await client.get("/api/v1/escalations", headers=cookie)).status == 200
    for header in ("", "Bearer trg_niet-geldig", "Basic eA=="):
        refused = await client.get("/api/v1/escalations",
                                   headers={**cookie, "Authorization": header})  # fmt: skip
        assert refused.status == 401, header


async def test_a_login_posted_from_another_site_is_refused(
    client: Client, runtime: Runtime
) -> None:
    """Login CSRF: another site's form would log the person's browser into an account of
    the attacker's choosing, where what they then enter is the attacker's to read."""
    username = await _person(runtime)
    form = {"username": username, "password": PASSWORD}
    for elsewhere in ({"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
                      {"Origin": "https://elders.example"}):  # fmt: skip
        refused = await client.post("/auth/login", data=form, headers=elsewhere)
        assert refused.status == 403, elsewhere
        assert COOKIE not in refused.cookies
    own_page = {"Sec-Fetch-Site": "same-origin", "Origin": f"http://{client.host}:{client.port}"}
    assert (await client.post("/auth/login", data=form, headers=own_page)).status == 200


async def test_an_origin_that_is_no_url_is_another_sites(client: Client, runtime: Runtime) -> None:
    form = {"username": await _person(runtime), "password": PASSWORD}
    for origin in ("http://[x", "null", "HTTP://elders.example"):
        answer = await client.post("/auth/login", data=form, headers={"Origin": origin})
        assert answer.status == 403, (origin, await answer.text())


async def test_an_account_renewed_after_it_was_disabled_has_only_its_new_way_in(
    client: Client, runtime: Runtime
) -> None:
    """Disabled (a token or a password exposed), then renewed: the new way in works, the
    one from before the disable does not come back. Renewed while active, the other way
    in stays (a person may use both)."""
    username = f"desk-{uuid.uuid4().hex[:8]}"
    async with runtime.pool.acquire() as conn:
        issued = await add_user(conn, username, UserRole.operator, TEST_CLOCK.now())
        old = {"Authorization": f"Bearer {issued.token}"}
        await renew_user(conn, username, TEST_CLOCK.now(), password=PASSWORD)
    assert (await client.get("/api/v1/escalations", headers=old)).status == 200  # active: kept
    assert (await _login(client, username)).status == 200
    async with runtime.pool.acquire() as conn:
        await disable_user(conn, username, TEST_CLOCK.now())
        await renew_user(conn, username, TEST_CLOCK.now(), password=PASSWORD + " nieuw")
    assert (await client.get("/api/v1/escalations", headers=old)).status == 401
    assert (await _login(client, username, PASSWORD + " nieuw")).status == 200
    async with runtime.pool.acquire() as conn:
        await disable_user(conn, username, TEST_CLOCK.now())
        fresh = await renew_user(conn, username, TEST_CLOCK.now())
    assert (await _login(client, username, PASSWORD + " nieuw")).status == 401
    new = {"Authorization": f"Bearer {fresh.token}"}
    assert (await client.get("/api/v1/escalations", headers=new)).status == 200
