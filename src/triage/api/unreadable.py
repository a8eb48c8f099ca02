"""Requests that cannot be read as HTTP, answered without repeating them.

aiohttp answers a request its parser refuses (a header with a control character, a
``Content-Encoding`` it cannot decode, a broken chunk, a method it does not know) itself,
before any middleware of ours runs: in text/plain, with the parser's message, which quotes
the offending line. A header that held a name and a BSN, or the bearer token after a
stray byte, came back in the body, without the headers every answer carries, and went
into the log with the traceback.

Here the same refusal is problem+json with a fixed text for its status, the headers every
answer carries (``api/headers.py``), and one log line with the status and the error's type
and frames, never its message. aiohttp has no setting for this: its request handler's
``handle_error`` is replaced once per process (``install``), and
``tests/test_bad_input.py`` checks that the replacement is what answers, so that an
aiohttp that renames it fails there.
"""

from __future__ import annotations

from http import HTTPStatus

import orjson
import structlog
from aiohttp import web, web_protocol
from aiohttp.http_exceptions import BadHttpMethod
from aiohttp.web_request import BaseRequest

from triage.api.headers import fix_headers

log = structlog.get_logger()

_DETAIL = {
    400: "the request could not be read as HTTP/1.1 (a header, the framing or the "
    "Content-Encoding); nothing was stored or changed. Send it again as plain UTF-8 headers, "
    "and a body without Content-Encoding or gzip'd",
    413: "the request's headers or body are too large; nothing was stored or changed",
    431: "the request's headers are too large; nothing was stored or changed",
    500: "the request failed before it was handled; nothing was stored or changed. Tell the "
    "service's operators, with the time",
}


def _answer(status: int) -> web.Response:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    detail = _DETAIL.get(status, _DETAIL[400] if status < 500 else _DETAIL[500])
    body = {"type": "about:blank", "title": phrase, "status": status, "detail": detail}
    response = web.Response(status=status, body=orjson.dumps(body),
                            content_type="application/problem+json")  # fmt: skip
    fix_headers(response)
    return response


def handle_error(
    self: web_protocol.RequestHandler,
    request: BaseRequest,
    status: int = 500,
    exc: BaseException | None = None,
    message: str | None = None,
) -> web.StreamResponse:
    """aiohttp's ``RequestHandler.handle_error``, without the request in the answer or
    the log. ``message`` is the parser's text (it quotes the request) and is not used."""
    del message
    # Not HTTP at all (a TLS hello, a scanner) on a connection's first request: noise.
    first = self._request_count == 1 and isinstance(exc, BadHttpMethod)
    # Its type and frames only: the log never takes an exception's message (logging.py).
    (log.debug if first else log.warning)("request_unreadable", status=status, exc_info=exc)
    if request.writer.output_size > 0:  # part of an answer went out: the connection is lost
        raise ConnectionError("an answer was being sent; cannot send another")
    response = _answer(status)
    response.force_close()
    return response


def install() -> None:
    """Answer unreadable requests as above in this process (idempotent)."""
    web_protocol.RequestHandler.handle_error = handle_error  # type: ignore[method-assign]
