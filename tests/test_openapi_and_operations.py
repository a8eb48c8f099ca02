"""The published contract, health endpoints and metrics."""

from __future__ import annotations

import uuid
from html.parser import HTMLParser
from typing import Any

import orjson
from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator

from helpers import Tokens, melding_body
from triage import app as application
from triage.api.docs import PATHS as DOCS_PATHS
from triage.api.operations import OPERATIONS
from triage.console.routes import PAGES
from triage.intake.models import IntakeContext, MeldingIn
from triage.runtime import Runtime
from triage.vocabulary import Source

Client = TestClient[Any, Any]


async def test_openapi_is_generated_from_the_models(client: Client) -> None:
    resp = await client.get("/api/openapi.json")
    assert resp.status == 200
    doc = await resp.json()
    assert doc["openapi"].startswith("3.1")
    post = doc["paths"]["/api/v1/meldingen"]["post"]
    ref = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = doc["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert {"source", "external_id", "received_at", "kind", "category"} <= set(schema["required"])
    assert {"201", "200", "409", "413", "415", "422", "503"} <= set(post["responses"])
    assert doc["paths"]["/healthz"]["get"]["security"] == []
    [limit] = doc["paths"]["/api/v1/reviews"]["get"]["parameters"]
    assert (limit["name"], limit["in"], limit["schema"]["maximum"]) == ("limit", "query", 500)
    merge = doc["paths"]["/api/v1/cases/{case_id}/merge"]["post"]
    assert merge["parameters"][0]["name"] == "case_id"
    assert "409" in merge["responses"]
    page = await client.get("/api/docs")
    assert page.status == 200
    assert "/api/openapi.json" in await page.text()


async def test_every_request_body_has_an_example_its_model_and_schema_take(
    client: Client, runtime: Runtime
) -> None:
    doc = await (await client.get("/api/openapi.json")).json()
    intake = IntakeContext(signals=frozenset(runtime.rules.signals),
                           gebieden=tuple(runtime.region.gebied_codes),
                           now=runtime.clock.now())  # fmt: skip
    with_body = [op for op in OPERATIONS if op.request is not None]
    assert with_body
    for op in with_body:
        assert op.request is not None
        body = doc["paths"][op.path][op.method.lower()]["requestBody"]
        [(media, content)] = body["content"].items()
        assert "example" in content, f"{op.method} {op.path} has no example"
        example = content["example"]
        # The document's schema takes it (its enums are this configuration's codes)...
        schema = {**content["schema"], "components": doc["components"]}
        checker = Draft202012Validator.FORMAT_CHECKER
        errors = [f"{e.json_path}: {e.message}"
                  for e in Draft202012Validator(schema, format_checker=checker)
                  .iter_errors(example)]  # fmt: skip
        assert not errors, (op.method, op.path, errors)
        # ...and so does the model, as the service reads the body: JSON or form fields,
        # a melding with the service's vocabulary, region and clock (received recently).
        if media == "application/x-www-form-urlencoded":
            op.request.model_validate(example)
        else:
            context = intake if op.request is MeldingIn else None
            op.request.model_validate_json(orjson.dumps(example), context=context)


async def test_the_documented_examples_are_taken(client: Client, tokens: Tokens) -> None:
    """Sent as they are by someone who may: a search answers, and a merge into a case
    that does not exist here is not found (the example's ids exist nowhere)."""
    doc = await (await client.get("/api/openapi.json")).json()
    paths = doc["paths"]
    search = paths["/api/v1/households/search"]["post"]["requestBody"]["content"]
    resp = await client.post("/api/v1/households/search",
                             json=search["application/json"]["example"],
                             headers=tokens.user("operator"))  # fmt: skip
    assert resp.status == 200, await resp.text()
    merge = paths["/api/v1/cases/{case_id}/merge"]["post"]["requestBody"]["content"]
    resp = await client.post(f"/api/v1/cases/{uuid.uuid4()}/merge",
                             json=merge["application/json"]["example"],
                             headers=tokens.user("operator"))  # fmt: skip
    assert resp.status == 404, await resp.text()


async def test_tags_group_every_operation_with_a_description(client: Client) -> None:
    doc = await (await client.get("/api/openapi.json")).json()
    tags = {tag["name"]: tag["description"] for tag in doc["tags"]}
    assert set(tags) == {op.tag for op in OPERATIONS}
    assert all(len(text) > 20 for text in tags.values())
    for methods in doc["paths"].values():
        for entry in methods.values():
            assert len(entry["tags"]) == 1
            assert entry["tags"][0] in tags


async def test_each_operation_says_what_its_errors_mean_there(client: Client) -> None:
    doc = await (await client.get("/api/openapi.json")).json()
    for op in OPERATIONS:
        responses = doc["paths"][op.path][op.method.lower()]["responses"]
        for status, text in op.error_texts:
            assert responses[str(status)]["description"] == text, (op.method, op.path, status)
        for status in op.errors:
            assert responses[str(status)]["description"], (op.method, op.path, status)
    link = doc["paths"]["/api/v1/meldingen/{melding_id}/link"]["post"]["responses"]
    assert link["409"]["description"].startswith("The melding is in this case already")
    assert link["404"]["description"] == "Not found, or not within the caller's scope"
    # The general texts follow what the operation reads: only the intake's body can be
    # refused by the database; a list without a body has parameters, not fields; the
    # login reads form fields, not JSON.
    for op in OPERATIONS:
        text = doc["paths"][op.path][op.method.lower()]["responses"].get("422", {})
        if "unstorable" in text.get("description", ""):
            assert op.path == "/api/v1/meldingen", op.path
    cases = doc["paths"]["/api/v1/cases"]["get"]["responses"]["422"]["description"]
    assert cases.startswith("A path or query parameter is invalid")
    login = doc["paths"]["/auth/login"]["post"]["responses"]
    assert "form fields" in login["415"]["description"]
    assert "JSON" not in login["422"]["description"]
    intake = doc["paths"]["/api/v1/meldingen"]["post"]["responses"]["422"]["description"]
    assert "unstorable" in intake


class _Page(HTMLParser):
    """What a page loads (scripts, stylesheets, its icon), where it links to, and its
    inline scripts and styles (there must be none)."""

    def __init__(self) -> None:
        super().__init__()
        self.files: list[str] = []
        self.inline: list[str] = []
        self.anchors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if "style" in found or any(name.startswith("on") for name in found):
            self.inline.append(tag)
        if tag == "script":
            (self.files if found.get("src") else self.inline).append(found.get("src", tag))
        elif tag == "style":
            self.inline.append(tag)
        elif tag == "link" and found.get("rel") in ("stylesheet", "icon"):
            self.files.append(found["href"])
        elif tag == "a" and found.get("href"):
            self.anchors.append(found["href"])


_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


async def test_the_documentation_page_loads_only_files_of_its_own(client: Client) -> None:
    page = await client.get("/api/docs")  # without credentials: public, as the document
    assert page.status == 200
    assert page.content_type == "text/html"
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy
    assert "style-src 'self';" in policy
    assert "connect-src 'self';" in policy
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    html = _Page()
    html.feed(await page.text())
    assert html.inline == []
    loaded = {url.partition("?")[0] for url in html.files}
    assert loaded == DOCS_PATHS - {"/api/docs"}
    for url in html.files:
        assert url.startswith("/api/docs/")  # from this service, never a CDN
        resp = await client.get(url)
        assert resp.status == 200, url
        path = url.partition("?")[0]
        assert resp.content_type == _TYPES[path[path.rfind(".") :]], url
        assert len(await resp.read()) > 100, url
        assert resp.headers["Cache-Control"] == "public, max-age=86400"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        again = await client.get(url, headers={"If-None-Match": resp.headers["ETag"]})
        assert again.status == 304, url
    # The table of contents: each tag, linked to its section of Swagger UI.
    for tag in {op.tag for op in OPERATIONS}:
        assert f"#operations-tag-{tag}" in html.anchors
    # Only the files the page uses are public: any other path asks for credentials.
    assert (await client.get("/api/docs/swagger-ui.js")).status == 401


def test_every_route_is_an_operation_a_page_or_public(client: Client) -> None:
    """The pipeline authenticates every route that is not public; one that is neither an
    operation nor a page would have no policy to say who may call it."""
    operations = {(op.method, op.path) for op in OPERATIONS}
    pages = {(page.method, page.path) for page in PAGES}
    assert DOCS_PATHS <= application._PUBLIC
    for route in client.app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        method = "GET" if route.method == "HEAD" else route.method
        assert (method, path) in operations | pages or path in application._PUBLIC, (
            route.method,
            path,
        )


async def test_vocabulary_and_gebieden_are_published(client: Client, tokens: Tokens) -> None:
    headers = tokens.client(Source.wijkteam)
    vocab = await (await client.get("/api/v1/vocabulary/signals", headers=headers)).json()
    codes = {s["code"] for s in vocab["signals"]}
    assert {"geweld_nu", "wurging", "weinig_informatie", "dakloos_vorst"} <= codes
    assert all(s["label"] and s["description"] for s in vocab["signals"])
    gebieden = await (await client.get("/api/v1/gebieden", headers=headers)).json()
    assert [g["code"] for g in gebieden["gebieden"]] == [
        "tilburg",
        "langstraat",
        "oost",
        "west",
        "zuid",
    ]


async def test_health_and_readiness(client: Client) -> None:
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200
    assert await ready.json() == {"status": "ready", "postgres": "ok", "redis": "ok"}


def _sample(text: str, name: str, labels: str) -> float:
    prefix = f"{name}{{{labels}}} "
    lines = [line for line in text.splitlines() if line.startswith(prefix)]
    return float(lines[0][len(prefix) :]) if lines else 0.0


def _count(text: str, name: str) -> float:
    """An unlabelled sample (0 before its first observation)."""
    return next((float(line.split()[1]) for line in text.splitlines()
                 if line.startswith(f"{name} ")), 0.0)  # fmt: skip


async def test_metrics_need_the_ops_role_and_count_intake(client: Client, tokens: Tokens) -> None:
    assert (await client.get("/metrics")).status == 401
    assert (await client.get("/metrics", headers=tokens.user("operator"))).status == 403
    name, labels = "triage_meldingen_stored_total", 'kind="melding",source="ggz"'
    first = await (await client.get("/metrics", headers=tokens.user("ops"))).text()
    before = _sample(first, name, labels)
    recognised = _count(first, "triage_intake_recognition_seconds_count")
    bodies = [melding_body(source="ggz") for _ in range(3)]
    for body in bodies:
        await client.post("/api/v1/meldingen", json=body, headers=tokens.client(Source.ggz))
    text = await (await client.get("/metrics", headers=tokens.user("ops"))).text()
    assert _sample(text, name, labels) == before + 3
    # What recognition and scoring add to each melding's intake is measured, per melding.
    assert _count(text, "triage_intake_recognition_seconds_count") >= recognised + 3
    assert (
        'triage_http_request_duration_seconds_bucket{le="0.01",method="POST",'
        'route="/api/v1/meldingen"}' in text
    )
    for body in bodies:  # metrics carry codes and counts, never personal data
        assert body["persons"][0]["achternaam"] not in text
    # The other methods HTTP knows (WebDAV's, some thirty) count under one label.
    webdav = await client.request("PROPFIND", "/api/v1/meldingen")
    assert webdav.status == 405
    text = await (await client.get("/metrics", headers=tokens.user("ops"))).text()
    assert 'method="other"' in text
    assert "PROPFIND" not in text
