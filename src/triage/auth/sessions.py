"""Sessions for people in a browser: ``POST /auth/login`` with a username and password
starts one, an HttpOnly, SameSite=Strict, Secure cookie carries its id, ``POST
/auth/logout`` ends it. The id is 256 random bits, stored as its SHA-256 (as tokens are).

A session ends at logout, the moment its person is disabled, after ``idle`` without a
request, and at ``lasts`` after login, whichever comes first; each is checked in the one
lookup a request makes (no cache: a person makes a few requests a minute). Its last use
is written at most once a minute.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg
from pydantic import BaseModel, Field

from triage.auth.passwords import MAX_LENGTH, verify
from triage.auth.principal import Principal, person
from triage.auth.tokens import hash_token
from triage.store.sql import load_queries

#: ``__Host-``: only this host can set it, with Secure and Path=/ (not a sibling
#: subdomain, which could otherwise plant a session of its choosing).
COOKIE = "__Host-triage_session"
_Q = load_queries("triage.auth", "sessions.sql")
_TOUCH_EVERY = timedelta(minutes=1)
#: (endpoint, request id, origin) of the request, for its audit entry.
Audit = tuple[str, str, str | None]


class LoginIn(BaseModel):
    """Form fields of ``POST /auth/login``."""

    # The examples fill the documentation page's form (Swagger UI takes a form field's
    # example from its property, not from the body's).
    username: str = Field(min_length=1, max_length=100, examples=["desk-anna"])
    password: str = Field(min_length=1, max_length=MAX_LENGTH,
                          examples=["een lange zin als wachtwoord"])  # fmt: skip
    # A NUL in either is refused by the form's reader (handlers.form_of), as in every body.


class SessionOut(BaseModel):
    username: str
    role: str
    gebied: str | None
    expires_at: datetime = Field(description="The session ends then at the latest.")


@dataclass(frozen=True, slots=True)
class Started:
    cookie: str  # the session id, for the cookie only
    principal: Principal
    expires_at: datetime


def _digest(session_id: str) -> bytes:
    return hash_token(session_id)  # a session id is a credential as a token is


async def log_in(
    pool: asyncpg.Pool, given: LoginIn, now: datetime, lasts: timedelta, *, audit: Audit
) -> Started | None:
    """A new session when the password is the user's; None otherwise (an unknown user,
    a disabled one, one without a password: the same answer, in the same time)."""
    row = await pool.fetchrow(_Q["login_user"], given.username)
    if not await verify(row["password_hash"] if row else None, given.password) or row is None:
        return None
    return await start(pool, person(row), now, lasts, audit=audit)


async def start(
    pool: asyncpg.Pool, principal: Principal, now: datetime, lasts: timedelta, *, audit: Audit
) -> Started:
    """A session for a person who proved who they are (a password, the identity
    provider), audited as a login."""
    session_id = secrets.token_urlsafe(32)
    expires_at = now + lasts
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(_Q["start"], _digest(session_id), principal.id, now, expires_at)
        await audited(conn, now, principal.id, "auth.login", audit)
    return Started(session_id, principal, expires_at)


async def principal_of(
    pool: asyncpg.Pool, session_id: str, now: datetime, *, idle: timedelta
) -> Principal | None:
    """The person of a live session, or None."""
    digest = _digest(session_id)
    row = await pool.fetchrow(_Q["principal"], digest, now, idle)
    if row is None:
        return None
    if now - row["last_seen_at"] >= _TOUCH_EVERY:
        await pool.execute(_Q["touch"], digest, now)
    return person(row)


async def log_out(pool: asyncpg.Pool, session_id: str, now: datetime, *, audit: Audit) -> None:
    async with pool.acquire() as conn, conn.transaction():
        user_id = await conn.fetchval(_Q["end"], _digest(session_id), now)
        if user_id is not None:
            await audited(conn, now, user_id, "auth.logout", audit)


async def end_all(conn: asyncpg.Connection, user_id: UUID, now: datetime) -> None:
    """Every open session of the person ends (what they may see has changed)."""
    await conn.execute(_Q["end_all"], user_id, now)


async def audited(
    conn: asyncpg.Connection, now: datetime, user_id: UUID, action: str, audit: Audit
) -> None:
    """An entry for something done to or by a person's account: a login, a logout, a
    change that the identity provider's claims made."""
    await conn.execute(_Q["audit"], now, user_id, action, *audit)
