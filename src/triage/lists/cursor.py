"""Keyset cursors: where the next page starts, as an opaque token.

A page ends at a row; the next one starts after that row's sort key (a time and an id),
so a page never repeats or skips a row when others arrive meanwhile, and reading page
1,000 costs what page 1 does (no OFFSET).
"""

from __future__ import annotations

import base64
from datetime import datetime
from uuid import UUID

from triage.problems import FieldError, invalid


def encode(at: datetime, row_id: UUID) -> str:
    raw = f"{at.isoformat()}|{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str | None, name: str = "after") -> tuple[datetime | None, UUID | None]:
    """The sort key a token holds; (None, None) for the first page."""
    if token is None:
        return None, None
    try:
        if len(token) > 120 or not token.isascii():
            raise ValueError(token)
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        at, _, row_id = raw.partition("|")
        when = datetime.fromisoformat(at)
        if when.tzinfo is None:
            raise ValueError(at)
        return when, UUID(row_id)
    except ValueError:
        raise invalid([FieldError(
            f"/{name}", "not a cursor of this list: pass the 'next' of the page before, as given"
        )]) from None  # fmt: skip
