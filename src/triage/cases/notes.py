"""Notes on a case: what happened and what was agreed, for the people working it.

Written by the region's editors (desk, CIT), a coordinator of the case's gebied, or its
lead; read with the case (``read.py``, audited there); erased with the case.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
from pydantic import BaseModel, Field

from triage.auth.principal import Principal
from triage.problems import forbidden, not_found
from triage.request_body import RequestBody
from triage.store.sql import load_queries
from triage.vocabulary import UserRole

_Q = load_queries("triage.cases", "notes.sql")


class NoteIn(RequestBody):
    text: str = Field(min_length=1, max_length=2000, description="For colleagues.")


class NoteOut(BaseModel):
    id: int
    case_id: UUID
    at: datetime
    author: str = Field(description="Who wrote it (a username).")
    author_role: str
    text: str


async def add_note(
    conn: asyncpg.Connection,
    case_id: UUID,
    note: NoteIn,
    principal: Principal,
    *,
    now: datetime,
    endpoint: str,
    request_id: str,
) -> NoteOut:
    if principal.kind != "user" or principal.role in (UserRole.ops, UserRole.admin):
        raise forbidden("notes are written by the people working the case")
    scope = principal.change_scope()
    everything = scope is not None and scope.everything
    gebied = scope.gebied if scope is not None else None
    row = await conn.fetchrow(_Q["add_note"], case_id, now, note.text, principal.name,
                              principal.role, principal.id, everything, gebied, endpoint,
                              request_id)  # fmt: skip
    if row is None:
        raise not_found(
            "no open case with this id that you may write in",
            "deze casus is intussen gesloten of samengevoegd, of je mag er niet in schrijven",
        )
    return NoteOut.model_validate(dict(row))
