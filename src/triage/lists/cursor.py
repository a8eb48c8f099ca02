"""Keyset cursors: where the next page starts.

A page ends at a row; the next one starts after that row's sort key (a time and an id),
so a page never repeats or skips a row when others arrive meanwhile, and reading page
1,000 costs what page 1 does (no OFFSET). The cursor is that key, written so that every
string of its shape (``PATTERN``) is a key: microseconds since 1970 and the id's hex. A
cursor that was made up pages from wherever it points; it cannot fail.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from uuid import UUID

from triage.problems import FieldError, invalid

#: The shape of a cursor, as the API document states it.
PATTERN = "^[0-9]{1,16}\\.[0-9a-f]{32}$"
_SHAPE = re.compile(PATTERN, re.ASCII)
#: A cursor of a list sorted by a rank first (the werkvoorraad: urgency): one digit more.
RANKED_PATTERN = "^[0-9]\\.[0-9]{1,16}\\.[0-9a-f]{32}$"
_RANKED = re.compile(RANKED_PATTERN, re.ASCII)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def encode(at: datetime, row_id: UUID) -> str:
    micros = (at - _EPOCH) // timedelta(microseconds=1)
    return f"{micros}.{row_id.hex}"


def encode_ranked(rank: int, at: datetime, row_id: UUID) -> str:
    return f"{rank}.{encode(at, row_id)}"


def decode_ranked(
    token: str | None, name: str = "after"
) -> tuple[int | None, datetime | None, UUID | None]:
    """The sort key a ranked cursor holds; (None, None, None) for the first page."""
    if token is None:
        return None, None, None
    if _RANKED.fullmatch(token) is None:
        raise invalid([FieldError(
            f"/{name}", "not a cursor: pass the 'next' of the page before, as given"
        )])  # fmt: skip
    rank, _, rest = token.partition(".")
    at, row_id = decode(rest, name)
    return int(rank), at, row_id


def decode(token: str | None, name: str = "after") -> tuple[datetime | None, UUID | None]:
    """The sort key a cursor holds; (None, None) for the first page; 422 for a string
    not of the cursor's shape."""
    if token is None:
        return None, None
    if _SHAPE.fullmatch(token) is None:
        raise invalid([FieldError(
            f"/{name}", "not a cursor: pass the 'next' of the page before, as given"
        )])  # fmt: skip
    micros, _, row_id = token.partition(".")
    return _EPOCH + timedelta(microseconds=int(micros)), UUID(hex=row_id)
