"""Refused requests, in the audit log: who tried what, from where, and which id.

An auditor asks who tried to read a family's file and was refused, as much as who read
it (NEN 7513). The pipeline calls ``record`` for an answer of 401 or 403, and for a 404 on
a path that names an id (a melding, case or assignment outside the caller's scope looks
like one that does not exist, and that is the point: the attempt is still recorded). The
origin is the keyed digest the rate limiter uses, never the address itself. A failure to
write it (the database down) does not change the answer: that is a 503 of its own.
"""

from __future__ import annotations

import contextlib
from uuid import UUID

from aiohttp import web

from triage.api.keys import ON_BEHALF_OF, PRINCIPAL, REQUEST_ID, RUNTIME
from triage.store.sql import load_queries

_Q = load_queries("triage.audit", "denied.sql")
#: Answers that are a refusal; a 404 only where the path names an id (the melding's or
#: case's is kept; the audit has no column for an assignment's).
_REFUSED = frozenset({401, 403})
_IDS = ("melding_id", "case_id", "assignment_id")


def refused(request: web.Request, status: int) -> bool:
    if status in _REFUSED:
        return True
    return status == 404 and any(name in request.match_info for name in _IDS)


async def record(request: web.Request, route: str, status: int) -> None:
    runtime = request.app[RUNTIME]
    principal = request.get(PRINCIPAL)
    with contextlib.suppress(Exception):
        origin = await runtime.throttle.origin(runtime.throttle.address(request))
        await runtime.pool.execute(
            _Q["denied"], runtime.clock.now(),
            principal.kind if principal else "anonymous",
            principal.id if principal else None,
            principal.role if principal else "none",
            f"access.denied.{status}", _uuid(request.match_info.get("melding_id")),
            _uuid(request.match_info.get("case_id")),
            f"{request.method} {route}", request[REQUEST_ID], origin,
            request.get(ON_BEHALF_OF),
        )  # fmt: skip


def _uuid(value: str | None) -> UUID | None:
    try:
        return UUID(value) if value else None
    except ValueError:  # not an id at all: nothing of it is kept
        return None
