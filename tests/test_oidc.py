"""People log in through an OpenID provider: a real one (oidc-provider-mock, from PyPI),
started by these tests on a port of their own. A browser takes the Authorization Code
flow with PKCE; a script brings a JWT as its bearer token. Role and gebied come from the
claims; the account here stays the one that can be disabled at once.

The provider checks no PKCE itself, so the tests put a guard in front of it that does
what a provider must (RFC 7636, 4.6): the code's verifier must hash to the challenge the
authorization request carried, or the token endpoint refuses.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import io
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
import werkzeug.serving
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from joserfc import jwt
from joserfc.jwk import RSAKey
from oidc_provider_mock import app as provider_app
from pydantic import SecretStr

from helpers import TEST_CLOCK, own_runtime
from triage.app import create_app
from triage.auth.accounts import add_user, disable_user
from triage.auth.oidc import FLOW_COOKIE, Provider
from triage.auth.sessions import COOKIE
from triage.config import Settings
from triage.runtime import Runtime
from triage.vocabulary import UserRole

Client = TestClient[Any, Any]
CLIENT_ID = "triage-console"
GROUPS = {"crisisdienst-desk": "operator", "crisisdienst-specialist": "specialist",
          "crisisdienst-coordinator": "coordinator", "crisisdienst-beheer": "admin"}  # fmt: skip


class PkceGuard:
    """WSGI middleware: remembers each code's challenge and refuses a token request
    whose verifier does not fit it."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self.challenges: dict[str, tuple[str, str]] = {}
        self.authorize_queries: list[dict[str, list[str]]] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ["PATH_INFO"]
        if path == "/oauth2/token":
            size = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(size)
            form = parse_qs(body.decode())
            code = form.get("code", [""])[0]
            verifier = form.get("code_verifier", [""])[0]
            challenge, method = self.challenges.pop(code, ("", ""))
            hashed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            if method != "S256" or hashed.rstrip(b"=").decode() != challenge:
                start_response("400 Bad Request", [("Content-Type", "application/json")])
                return [b'{"error": "invalid_grant"}']
            environ["wsgi.input"] = io.BytesIO(body)
        if path != "/oauth2/authorize":
            return self.app(environ, start_response)
        query = parse_qs(environ.get("QUERY_STRING", ""))
        self.authorize_queries.append(query)

        def remember(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            location = dict(headers).get("Location", "")
            code = parse_qs(urlsplit(location).query).get("code")
            if code:
                asked = {name: values[0] for name, values in query.items()}
                self.challenges[code[0]] = (asked.get("code_challenge", ""),
                                            asked.get("code_challenge_method", ""))  # fmt: skip
            return start_response(status, headers, *rest)

        return self.app(environ, remember)


@pytest.fixture(scope="module")
def idp() -> Iterator[tuple[str, PkceGuard]]:
    guard = PkceGuard(provider_app(require_nonce=True))
    server = werkzeug.serving.make_server("localhost", 0, guard, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    try:
        yield f"http://localhost:{server.server_port}", guard
    finally:
        server.shutdown()
        thread.join(5)


@pytest.fixture(scope="module")
async def oidc_runtime(
    idp: tuple[str, PkceGuard], settings: Settings, database_url: str, redis_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Runtime]:  # fmt: skip
    issuer, _ = idp
    config = tmp_path_factory.mktemp("oidc") / "oidc.yaml"
    config.write_text(json.dumps({
        "issuer": issuer, "client_id": CLIENT_ID, "scopes": ["openid", "profile"],
        "role": {"claim": "groups", "values": GROUPS},
    }))  # fmt: skip
    own = settings.model_copy(update={"oidc_file": Path(config),
                                      "oidc_client_secret": SecretStr("geheim")})  # fmt: skip
    async with own_runtime(own, database_url, redis_url, "oidc") as runtime:
        yield runtime


@pytest.fixture(scope="module")
async def oidc_client(oidc_runtime: Runtime) -> AsyncIterator[Client]:
    app = create_app(oidc_runtime, background=False)
    app.cleanup_ctx.clear()
    async with TestClient(TestServer(app)) as client:
        yield client


async def _claims(issuer: str, sub: str, claims: dict[str, Any]) -> None:
    """What the provider says of this person from now on."""
    async with (
        aiohttp.ClientSession() as http,
        http.put(f"{issuer}/users/{sub}", json={"preferred_username": sub, **claims}) as resp,
    ):
        assert resp.status == 204


async def _authorize(authorize_url: str, sub: str) -> dict[str, str]:
    """The person logs in at the provider: the query it sends the browser back with."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(authorize_url, data={"sub": sub}, allow_redirects=False) as resp,
    ):
        assert resp.status == 302, await resp.text()
        back = urlsplit(resp.headers["Location"])
    return {k: v[0] for k, v in parse_qs(back.query).items()}


async def _browser_login(client: Client, sub: str) -> Any:
    """The whole flow in a browser, as far as the callback's answer."""
    start = await client.get("/auth/oidc/login", allow_redirects=False)
    assert start.status == 302, await start.text()
    back = await _authorize(start.headers["Location"], sub)
    client.session.cookie_jar.clear()
    return await client.get(
        "/auth/oidc/callback", params=back,
        headers={"Cookie": f"{FLOW_COOKIE}={start.cookies[FLOW_COOKIE].value}"},
    )  # fmt: skip


async def _id_token(issuer: str, sub: str, client_id: str = CLIENT_ID) -> str:
    """An ID token for ``sub`` from the provider, as a script of that person gets one."""
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    async with aiohttp.ClientSession() as http:
        back = await _authorize(
            f"{issuer}/oauth2/authorize?response_type=code&client_id={client_id}"
            f"&redirect_uri=http://localhost/cb&scope=openid+profile&nonce=n1"
            f"&code_challenge={challenge.rstrip(b'=').decode()}&code_challenge_method=S256",
            sub,
        )
        async with http.post(f"{issuer}/oauth2/token", data={
            "grant_type": "authorization_code", "code": back["code"],
            "redirect_uri": "http://localhost/cb", "code_verifier": verifier,
            "client_id": client_id, "client_secret": "x",
        }) as resp:  # fmt: skip
            assert resp.status == 200, await resp.text()
            token: str = (await resp.json())["id_token"]
    return token


def _part(token: str, index: int) -> dict[str, Any]:
    """A JWT's header (0) or claims (1), unchecked."""
    part = token.split(".")[index]
    found: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return found


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(claims: dict[str, Any]) -> str:
    """The same claims with alg "none" and no signature."""
    return f"{_b64(json.dumps({'alg': 'none'}).encode())}.{_b64(json.dumps(claims).encode())}."


def _hs256(claims: dict[str, Any], secret: bytes) -> str:
    """The same claims signed HMAC-SHA256 with a public value as the secret: the old
    trick of a verifier that lets the token choose its algorithm."""
    signing = f"{_b64(json.dumps({'alg': 'HS256'}).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing}.{_b64(hmac.new(secret, signing.encode(), hashlib.sha256).digest())}"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_specialist_logs_in_at_the_provider_with_pkce_into_a_session(
    oidc_client: Client, oidc_runtime: Runtime, idp: tuple[str, PkceGuard]
) -> None:
    issuer, guard = idp
    sub = "sp-zuid-4"  # in zuid's network in the network file
    await _claims(issuer, sub, {"groups": ["crisisdienst-specialist", "iedereen"],
                                "gebied": "zuid"})  # fmt: skip
    start = await oidc_client.get("/auth/oidc/login", allow_redirects=False)
    assert start.status == 302
    asked = parse_qs(urlsplit(start.headers["Location"]).query)
    assert asked["code_challenge_method"] == ["S256"]
    assert len(asked["code_challenge"][0]) == 43
    assert asked["nonce"]
    assert asked["state"]
    assert asked["redirect_uri"][0].endswith("/auth/oidc/callback")
    flow = start.cookies[FLOW_COOKIE]
    assert (flow["httponly"], flow["secure"], flow["samesite"]) == (True, True, "Lax")
    assert flow.value.split(".")[0] == asked["state"][0]  # state, verifier, nonce
    assert asked["prompt"] == ["login"]  # a shared desk: the provider asks again

    back = await _authorize(start.headers["Location"], sub)
    oidc_client.session.cookie_jar.clear()
    bound = {"Cookie": f"{FLOW_COOKIE}={flow.value}"}
    done = await oidc_client.get("/auth/oidc/callback", params=back, headers=bound)
    assert done.status == 200, await done.text()
    assert 'http-equiv="refresh"' in await done.text()
    session = done.cookies[COOKIE]
    assert (session["httponly"], session["secure"], session["samesite"]) == (
        True, True, "Strict"
    )  # fmt: skip
    assert guard.authorize_queries[-1]["code_challenge"] == asked["code_challenge"]

    mine = await oidc_client.get("/api/v1/me/assignments",
                                 headers={"Cookie": f"{COOKIE}={session.value}"})  # fmt: skip
    assert mine.status == 200, await mine.text()
    row = await oidc_runtime.pool.fetchrow(
        "SELECT id, role, gebied, oidc_subject, password_hash, token_hash FROM users "
        "WHERE username = $1", sub)  # fmt: skip
    assert row is not None
    assert (row["role"], row["gebied"]) == ("specialist", "zuid")
    assert row["oidc_subject"] == f"{issuer} {sub}"  # a sub is unique at one issuer only
    assert (row["password_hash"], row["token_hash"]) == (None, None)
    login = await oidc_runtime.pool.fetchrow(
        "SELECT action, endpoint, origin FROM audit_log WHERE actor_id = $1 ORDER BY id "
        "LIMIT 1", row["id"])  # fmt: skip
    assert login is not None
    assert (login["action"], login["endpoint"]) == ("auth.login", "GET /auth/oidc/callback")
    assert login["origin"] is not None

    again = await oidc_client.get("/auth/oidc/callback", params=back, headers=bound)
    assert again.status == 401  # a code is good once
    assert "start again" in (await again.json())["detail"]

    # Renamed at the provider to a colleague's name in the network file: still themself.
    await _claims(issuer, sub, {"preferred_username": "sp-zuid-1",
                                "groups": "crisisdienst-specialist", "gebied": "zuid"})  # fmt: skip
    renamed = await _browser_login(oidc_client, sub)
    assert renamed.status == 200, await renamed.text()
    assert "Ingelogd als sp-zuid-4." in await renamed.text()
    taken = await oidc_runtime.pool.fetchval(
        "SELECT count(*) FROM users WHERE username = 'sp-zuid-1' AND oidc_subject = $1",
        f"{issuer} {sub}")  # fmt: skip
    assert taken == 0


async def test_a_callback_not_started_in_this_browser_or_with_a_wrong_verifier_fails(
    oidc_client: Client, oidc_runtime: Runtime, idp: tuple[str, PkceGuard]
) -> None:
    issuer, _ = idp
    sub = f"desk-{uuid.uuid4().hex[:6]}"
    await _claims(issuer, sub, {"groups": "crisisdienst-desk"})
    start = await oidc_client.get("/auth/oidc/login", allow_redirects=False)
    back = await _authorize(start.headers["Location"], sub)
    oidc_client.session.cookie_jar.clear()
    # Login CSRF: another browser (an attacker's link) has no flow cookie, or another one.
    for cookie in ({}, {"Cookie": f"{FLOW_COOKIE}=een-andere-state"}):
        refused = await oidc_client.get("/auth/oidc/callback", params=back, headers=cookie)
        assert refused.status == 400
        assert COOKIE not in refused.cookies
    # The verifier in the flow's cookie is not the one its challenge was made from: the
    # provider refuses the code, and so does the service.
    state, _, nonce = start.cookies[FLOW_COOKIE].value.split(".")
    wrong = await oidc_client.get(
        "/auth/oidc/callback", params=back,
        headers={"Cookie": f"{FLOW_COOKIE}={state}.{'x' * 64}.{nonce}"},
    )  # fmt: skip
    assert wrong.status == 401
    assert COOKIE not in wrong.cookies
    assert await oidc_runtime.pool.fetchval("SELECT count(*) FROM users WHERE username = $1",
                                            sub) == 0  # fmt: skip


async def test_claims_that_name_nobody_of_the_service_are_refused(
    oidc_client: Client, oidc_runtime: Runtime, idp: tuple[str, PkceGuard]
) -> None:
    issuer, _ = idp
    local = f"desk-{uuid.uuid4().hex[:6]}"
    async with oidc_runtime.pool.acquire() as conn:
        await add_user(conn, local, UserRole.operator, TEST_CLOCK.now())
    cases = {
        "no role": {"groups": ["iedereen"]},
        "more than one role": {"groups": ["crisisdienst-desk", "crisisdienst-beheer"]},
        "works in one gebied": {"groups": "crisisdienst-specialist"},
        "is not in the network": {"groups": "crisisdienst-specialist", "gebied": "west"},
    }
    for expected, claims in cases.items():
        sub = "sp-zuid-5" if expected == "is not in the network" else f"x-{uuid.uuid4().hex[:6]}"
        await _claims(issuer, sub, claims)
        refused = await _browser_login(oidc_client, sub)
        assert refused.status == 403, (expected, await refused.text())
        assert expected in (await refused.json())["detail"]
    # A local account's username is not taken over by someone the provider names so.
    await _claims(issuer, f"other-{local}", {"preferred_username": local,
                                             "groups": "crisisdienst-desk"})  # fmt: skip
    taken = await _browser_login(oidc_client, f"other-{local}")
    assert taken.status == 403
    assert "another account" in (await taken.json())["detail"]


async def test_a_script_brings_the_providers_jwt_and_is_checked_on_every_request(
    oidc_client: Client, oidc_runtime: Runtime, idp: tuple[str, PkceGuard],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    issuer, _ = idp
    sub = "co-zuid"
    subject = f"{issuer} {sub}"
    await _claims(issuer, sub, {"groups": ["crisisdienst-coordinator"], "gebied": "zuid"})
    token = await _id_token(issuer, sub)
    queue = await oidc_client.get("/api/v1/gebieden/zuid/queue", headers=_bearer(token))
    assert queue.status == 200, await queue.text()
    row = await oidc_runtime.pool.fetchrow(
        "SELECT role, gebied FROM users WHERE oidc_subject = $1", subject)  # fmt: skip
    assert row is not None
    assert (row["role"], row["gebied"]) == ("coordinator", "zuid")

    # Another audience (a token the provider made for another application), expired,
    # signed with another key, or with a shared secret or none: refused, each saying why.
    other = await _id_token(issuer, sub, client_id="een-andere-applicatie")
    answer = await oidc_client.get("/api/v1/gebieden/zuid/queue", headers=_bearer(other))
    assert answer.status == 401
    assert "aud" in (await answer.json())["detail"]
    claims = _part(token, 1)
    forged_key = RSAKey.generate_key(2048, parameters={"kid": _part(token, 0).get("kid", "k")})
    forged = jwt.encode({"alg": "RS256", "kid": forged_key.kid}, claims, forged_key)
    async with aiohttp.ClientSession() as http, http.get(f"{issuer}/jwks") as resp:
        published = await resp.read()
    for bad in (forged, _unsigned(claims), _hs256(claims, published)):
        refused = await oidc_client.get("/api/v1/gebieden/zuid/queue", headers=_bearer(bad))
        assert refused.status == 401, await refused.text()
    provider = oidc_runtime.oidc
    assert isinstance(provider, Provider)
    monkeypatch.setattr(provider, "_wall", lambda: time.time() + 2 * 3600)
    expired = await oidc_client.get("/api/v1/gebieden/zuid/queue", headers=_bearer(token))
    assert expired.status == 401
    assert "expired" in (await expired.json())["detail"]
    monkeypatch.undo()

    # The provider moves them: the next token's claims change the account, end its
    # sessions (what they may see changed), and are audited. The older token, valid
    # still, does not set it back.
    browser = await _browser_login(oidc_client, sub)
    session = {"Cookie": f"{COOKIE}={browser.cookies[COOKIE].value}"}
    assert (await oidc_client.get("/api/v1/escalations", headers=session)).status == 200
    await asyncio.sleep(1.1)  # claims are ordered by their iat, in whole seconds
    await _claims(issuer, sub, {"groups": ["crisisdienst-desk"]})
    moved = await _id_token(issuer, sub)
    for bearer in (moved, token):
        answer = await oidc_client.get("/api/v1/gebieden/zuid/queue", headers=_bearer(bearer))
        assert answer.status == 200, await answer.text()
        row = await oidc_runtime.pool.fetchrow(
            "SELECT id, role, gebied FROM users WHERE oidc_subject = $1", subject)  # fmt: skip
        assert row is not None
        assert (row["role"], row["gebied"]) == ("operator", None)
    assert (await oidc_client.get("/api/v1/escalations", headers=session)).status == 401
    changes = await oidc_runtime.pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE actor_id = $1 "
        "AND action = 'account.provider_change'", row["id"])  # fmt: skip
    assert changes == 1

    # Disabled here: refused at once, whatever the provider's token says.
    async with oidc_runtime.pool.acquire() as conn:
        await disable_user(conn, sub, TEST_CLOCK.now())
    gone = await oidc_client.get("/api/v1/gebieden/zuid/queue", headers=_bearer(moved))
    assert gone.status == 403
    assert "disabled" in (await gone.json())["detail"]


async def test_odd_input_at_the_callback_is_refused_not_a_500(oidc_client: Client) -> None:
    for state in ("é", "x" * 5000):
        answer = await oidc_client.get(
            "/auth/oidc/callback", params={"state": state, "code": "c"},
            headers={"Cookie": f"{FLOW_COOKIE}=a.b.c"},
        )  # fmt: skip
        assert answer.status == 400, await answer.text()


async def test_a_provider_that_answers_wrongly_is_a_503_and_is_not_asked_again_at_once(
    settings: Settings, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    """A provider whose key set is broken (no "keys"): 503 with Retry-After, and the next
    requests within half a minute do not go to it (each would wait for it in turn)."""
    asked: list[str] = []

    async def discovery(request: web.Request) -> web.Response:
        asked.append(request.path)
        base = f"http://localhost:{request.url.port}"
        return web.json_response({
            "issuer": base, "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token", "jwks_uri": f"{base}/jwks",
        })  # fmt: skip

    async def jwks(request: web.Request) -> web.Response:
        asked.append(request.path)
        return web.json_response({"sleutels": []})

    app = web.Application()
    app.router.add_get("/.well-known/openid-configuration", discovery)
    app.router.add_get("/jwks", jwks)
    async with TestServer(app, host="localhost") as broken:
        config = tmp_path / "oidc.yaml"
        config.write_text(json.dumps({
            "issuer": f"http://localhost:{broken.port}", "client_id": CLIENT_ID,
            "role": {"values": GROUPS},
        }))  # fmt: skip
        own = settings.model_copy(update={"oidc_file": config})
        async with own_runtime(own, database_url, redis_url, "oidc-broken") as runtime:
            service = create_app(runtime, background=False)
            service.cleanup_ctx.clear()
            async with TestClient(TestServer(service)) as client:
                token = _b64(b'{"alg":"RS256","kid":"k"}') + "." + _b64(b"{}") + ".c2ln"
                for _ in range(3):
                    answer = await client.get("/api/v1/escalations", headers=_bearer(token))
                    assert answer.status == 503, await answer.text()
                    assert answer.headers["Retry-After"]
    assert asked == ["/.well-known/openid-configuration", "/jwks"]
