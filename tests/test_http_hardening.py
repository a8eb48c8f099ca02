"""What every answer carries and how the methods a path does not take are answered; the
health endpoints ignore credentials; a caller's request id is kept only when it is an id.
Tried as an attacker looking for a foothold would."""

from __future__ import annotations

import re
import uuid
from typing import Any

from aiohttp.test_utils import TestClient

from helpers import Tokens, melding_body

Client = TestClient[Any, Any]
SECURE = {
    "Server": "triage",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def _secure(headers: Any) -> None:
    assert {k: headers.get(k) for k in SECURE} == SECURE
    assert headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]


async def test_every_answer_carries_the_security_headers(client: Client, tokens: Tokens) -> None:
    answers = [
        await client.get("/api/v1/vocabulary/signals", headers=tokens.user("operator")),
        await client.post("/api/v1/meldingen", json=melding_body(),
                          headers=tokens.user("operator")),  # personal data in it
        await client.get("/api/v1/cases"),  # 401 (or 404/405: a problem all the same)
        await client.get("/no/such/path"),
        await client.get("/healthz"),
        await client.get("/api/openapi.json"),
    ]  # fmt: skip
    for resp in answers:
        _secure(resp.headers)  # Server names no aiohttp or Python version
    # A stream too: its headers go out before the first event.
    resp = await client.get("/api/v1/me/events", headers=tokens.user("operator"))
    try:
        assert resp.status == 200
        _secure(resp.headers)
    finally:
        resp.close()


async def test_the_documentation_page_runs_only_its_own_files(client: Client) -> None:
    resp = await client.get("/api/docs")
    html = await resp.text()
    policy = resp.headers["Content-Security-Policy"]
    # Scripts and styles are files of this service (tests/test_openapi_and_operations.py
    # fetches each), nothing inline, which the policy would refuse to run.
    scripts = re.findall(r"<script[^>]*>", html)
    assert scripts
    assert all(' src="/api/docs/' in tag for tag in scripts)
    assert "<style" not in html
    assert "script-src 'self';" in policy
    assert "style-src 'self';" in policy
    assert "unsafe-inline" not in policy
    assert "connect-src 'self'" in policy
    _secure(resp.headers)


async def test_head_options_and_other_methods_are_answered(client: Client, tokens: Tokens) -> None:
    head = await client.head("/api/v1/vocabulary/signals", headers=tokens.user("operator"))
    assert head.status == 200
    assert await head.read() == b""
    assert (await client.head("/healthz")).status == 200
    options = await client.options("/api/v1/meldingen")
    assert options.status == 204
    # The intake (POST) and the werkvoorraad (GET, and so HEAD) share the path.
    assert options.headers["Allow"] == "GET, HEAD, OPTIONS, POST"
    trace = await client.request("TRACE", "/api/v1/meldingen")
    assert trace.status == 405
    assert trace.headers["Allow"] == "GET, HEAD, OPTIONS, POST"
    assert trace.content_type == "application/problem+json"
    assert "this path takes GET, HEAD, OPTIONS, POST" in (await trace.json())["detail"]
    # The event stream takes no HEAD: it would stay open.
    assert (await client.head("/api/v1/me/events", headers=tokens.user("operator"))).status == 405


async def test_health_endpoints_ignore_credentials(client: Client) -> None:
    for path in ("/healthz", "/readyz"):
        for header in ("Bearer trg_stale_or_disabled", "Basic Zm9vOmJhcg==", "nonsense"):
            resp = await client.get(path, headers={"Authorization": header})
            assert resp.status == 200, (path, header, await resp.text())


async def test_a_request_id_is_kept_only_when_it_is_an_id(client: Client) -> None:
    given = str(uuid.uuid4())
    trace = uuid.uuid4().hex + uuid.uuid4().hex[:8]
    kept = {
        given: given,
        given.upper(): given,
        trace: trace,
    }
    for sent, expected in kept.items():
        resp = await client.get("/healthz", headers={"X-Request-ID": sent})
        assert resp.headers["X-Request-ID"] == expected
    for sent in ("384756293", "Jansen-1948", "abc", "x" * 40, "0" * 65):
        resp = await client.get("/healthz", headers={"X-Request-ID": sent})
        replaced = resp.headers["X-Request-ID"]
        assert replaced != sent
        assert re.fullmatch(r"[0-9a-f]{32}", replaced)
