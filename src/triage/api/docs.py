"""The API documentation page, ``/api/docs``: Swagger UI on the service's own OpenAPI
document, with a table of contents, an example of each request body and Try it out.

Swagger UI's files come from its Python package (swagger-ui-py, pinned in pyproject.toml),
read once at start and served by the service itself under ``/api/docs/``: no CDN, and a
strict policy for the page: scripts and styles of this origin only (files, nothing
inline), fetches to this origin only (the document, and the requests Try it out sends,
which carry the person's session cookie as any request of the page's own origin does, or
the bearer token given under Authorize). Images may also be ``data:`` URLs, as Swagger
UI's stylesheet draws its icons with them.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from html import escape
from importlib import resources
from string import Template

from aiohttp import web

from triage.api.openapi import TAGS
from triage.api.operations import OPERATIONS, Handler

PAGE = "/api/docs"
_PREFIX = "/api/docs/"
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
#: The files change only with the package (an upgrade changes their ``?v=``).
_CACHE = "public, max-age=86400"


@dataclass(frozen=True)
class _Asset:
    body: bytes
    content_type: str
    charset: str | None
    #: What the content is, for the page's links (``?v=``) and conditional requests.
    version: str


def _asset(package: str, name: str, content_type: str) -> _Asset:
    body = resources.files(package).joinpath(name).read_bytes()
    charset = None if content_type.startswith("image/") else "utf-8"
    return _Asset(body, content_type, charset, hashlib.sha256(body).hexdigest()[:16])


_ASSETS = {
    "swagger-ui.css": _asset("swagger_ui", "static/swagger-ui.css", "text/css"),
    "swagger-ui-bundle.js": _asset("swagger_ui", "static/swagger-ui-bundle.js",
                                   "text/javascript"),
    "favicon-32x32.png": _asset("swagger_ui", "static/favicon-32x32.png", "image/png"),
    "docs.css": _asset("triage.api", "docs.css", "text/css"),
    "init.js": _asset("triage.api", "docs.js", "text/javascript"),
}  # fmt: skip
#: The page and its files: public (app.py), as the document is.
PATHS = frozenset({PAGE, *(_PREFIX + name for name in _ASSETS)})


def _url(name: str) -> str:
    return f"{_PREFIX}{name}?v={_ASSETS[name].version}"


def _contents() -> str:
    """The table of contents: each tag, what it groups and how many operations, linked to
    its section of Swagger UI (whose id is ``operations-tag-`` and the tag)."""
    counts = Counter(op.tag for op in OPERATIONS)
    return "\n".join(
        f'<li><a href="#operations-tag-{escape(name)}">{escape(name)}</a> '
        f'<span class="docs-count">({counts[name]})</span>: {escape(text)}</li>'
        for name, text in TAGS
    )


_HTML = Template(resources.files("triage.api").joinpath("docs.html").read_text("utf-8"))
_PAGE = _HTML.substitute(
    contents=_contents(),
    icon=_url("favicon-32x32.png"),
    swagger_css=_url("swagger-ui.css"),
    docs_css=_url("docs.css"),
    swagger_js=_url("swagger-ui-bundle.js"),
    init_js=_url("init.js"),
)


async def _page(_request: web.Request) -> web.Response:
    return web.Response(text=_PAGE, content_type="text/html",
                        headers={"Content-Security-Policy": POLICY})  # fmt: skip


def _serve(asset: _Asset) -> Handler:
    etag = f'"{asset.version}"'
    headers = {"Cache-Control": _CACHE, "ETag": etag}

    async def serve(request: web.Request) -> web.Response:
        if etag in request.headers.get("If-None-Match", ""):
            return web.Response(status=304, headers=headers)
        return web.Response(body=asset.body, content_type=asset.content_type,
                            charset=asset.charset, headers=headers)  # fmt: skip

    return serve


def add_routes(router: web.UrlDispatcher) -> None:
    """``GET`` (and ``HEAD``) of the page and of each of its files."""
    router.add_get(PAGE, _page)
    for name, asset in _ASSETS.items():
        router.add_get(_PREFIX + name, _serve(asset))
