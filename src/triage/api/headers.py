"""What every answer carries whatever it is, and what the methods a path does not take get.

Every response, streams included (``on_response_prepare`` runs for those too): no caching
(answers hold personal data, and a shared computer's browser or a proxy must not keep
them), no MIME sniffing, no referrer, no framing, a content security policy that lets a
JSON answer do nothing in a browser, and a ``Server`` without versions (an attacker's
first look is for a known hole in a given aiohttp). Pages set their own policy and
referrer policy: the console's and the API documentation's script and style from this
origin only (console/render.py, api/docs.py), the printable inzage its inline style by
hash (``page_policy``).
"""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import urlsplit

from aiohttp import web

_API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
_FIXED = {
    "Server": "triage",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
_INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)


def page_policy(html: str) -> str:
    """The policy for a page of ours: its inline scripts and styles, by hash, and nothing
    else of elsewhere."""
    hashes: dict[str, list[str]] = {"script": [], "style": []}
    for kind, text in _INLINE.findall(html):
        digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
        hashes[kind].append(f"'sha256-{digest}'")
    script = " ".join(hashes["script"]) or "'none'"
    style = " ".join(hashes["style"]) or "'none'"
    return (f"default-src 'none'; script-src {script}; style-src {style}; connect-src 'self'; "
            "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")  # fmt: skip


async def secure(_request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: the headers above, on every response."""
    fix_headers(response)


def fix_headers(response: web.StreamResponse) -> None:
    """The headers above, on ``response`` (also where no application answers: a request
    that could not be read, ``api/unreadable.py``)."""
    headers = response.headers
    headers.update(_FIXED)
    headers.setdefault("Cache-Control", "no-store")
    # The console's pages say same-origin: with no-referrer, a browser posts their forms
    # with "Origin: null", which the CSRF check must refuse.
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Content-Security-Policy", _API_POLICY)


def allowed(request: web.Request) -> frozenset[str] | None:
    """The methods the request's path takes, when it matched a path but not its method."""
    problem = getattr(request.match_info, "http_exception", None)
    if isinstance(problem, web.HTTPMethodNotAllowed):
        return frozenset(problem.allowed_methods) | {"OPTIONS"}
    return None


def options(methods: frozenset[str]) -> web.Response:
    """The answer to OPTIONS on a path: which methods it takes (no CORS: the console is
    served from the same origin)."""
    return web.Response(status=204, headers={"Allow": ", ".join(sorted(methods))})


def from_elsewhere(request: web.Request) -> bool:
    """Whether a browser sent this request from another site's page: a form or script
    there that would act with the person's cookie (or log them in as someone else:
    login CSRF). Browsers say where a request comes from (``Sec-Fetch-Site``, and
    ``Origin`` on a POST); a script that sends neither is not a browser's page."""
    fetched_from = request.headers.get("Sec-Fetch-Site", "same-origin")
    origin = request.headers.get("Origin")
    if fetched_from not in ("same-origin", "none"):
        return True
    if origin is None:
        return False
    try:
        return urlsplit(origin).netloc.lower() != request.host.lower()
    except ValueError:  # no URL at all ("http://[x"): not one of our pages
        return True
