"""What a request tells the audit about itself: where it came from (origin) and, for a
source system acting for a person of its own, on whose behalf (NEN 7513).

The origin is the keyed digest of the caller's address (the rate limiter's, never the
address itself). On whose behalf comes from the ``Triage-On-Behalf-Of`` header: the id
of the person the caller acts for: for a source system, the person at the source (a
staff number or account name); for a person using the service, a colleague they act for
(a desk operator entering what a specialist phoned in, say), by their account name.

``tell`` gives both to the request's connection as session settings with the request
id; the audit table's trigger copies them into each entry of that request (migration
0025), so that every statement that audits need not pass them on.
"""

from __future__ import annotations

import re

import asyncpg

from triage.households.normalise import bsn_is_valid
from triage.problems import FieldError, invalid

ON_BEHALF_HEADER = "Triage-On-Behalf-Of"
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@:-]{0,63}")
_TELL = (
    "SELECT set_config('triage.request_id', $1, false), set_config('triage.origin', $2, false),"
    " set_config('triage.on_behalf_of', $3, false)"
)


def on_behalf_of(given: str) -> str:
    """The header's value, checked (422 naming the header, without echoing it)."""
    if not _ID.fullmatch(given) or bsn_is_valid(given):
        why = ("the id of the person acted for: 1 to 64 letters, digits and . _ @ : - "
               "(never a name or a BSN)")  # fmt: skip
        raise invalid([FieldError(f"header {ON_BEHALF_HEADER}", why)])
    return given


async def tell(
    conn: asyncpg.Connection, request_id: str, origin: str | None, behalf: str | None
) -> None:
    """Give the request's origin and on whose behalf to its connection (see above)."""
    await conn.execute(_TELL, request_id, origin or "", behalf or "")
