"""Opaque bearer tokens, stored only as a hash.

Tokens are 256 random bits, so a plain SHA-256 is enough to make a stolen table useless:
there is nothing to brute-force (a password hash such as argon2 is for low-entropy secrets
and would cost milliseconds on every request). A source system's verified token is
cached briefly so its requests, hundreds a second, need no extra database round trip;
``auth_cache_seconds`` bounds how long a disabled client's token may keep working. A
person's token is looked up on every request (a person makes a few a minute): it stops
working the moment they are disabled or it expires. When a token's entry runs out, the
requests that carry it meanwhile share one lookup: a source sending a thousand meldingen
a second would otherwise send as many lookups to the database at that moment (measured:
the pool's connections taken from the intake for half a second).

OIDC fits beside this: another authenticator that verifies a JWT against the issuer's
JWKS and maps its ``sub`` to ``users.oidc_subject``, returning the same ``Principal``.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from typing import Protocol

import asyncpg

from triage.auth.principal import Principal
from triage.clock import Clock
from triage.store.sql import load_queries
from triage.vocabulary import Source

TOKEN_PREFIX = "trg_"  # noqa: S105 (a marker that makes leaked tokens easy to scan for)
_Q = load_queries("triage.auth", "auth.sql")
_CACHE_LIMIT = 10_000


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def credential_bytes(text: str) -> bytes:
    """A credential as sent (a token, a session cookie) in bytes, for its digest. A header
    or cookie that was not UTF-8 arrives with those bytes as lone surrogates (aiohttp
    decodes them so); such a credential is no one's and must come to "unknown" (401), not
    fail to encode (a 500)."""
    return text.encode("utf-8", "surrogatepass")


def hash_token(token: str) -> bytes:
    return hashlib.sha256(credential_bytes(token)).digest()


class Authenticator(Protocol):
    async def authenticate(self, credentials: str) -> Principal | None:
        """The principal for a bearer credential, or None when it is not valid."""
        ...

    def cached(self, credentials: str) -> Principal | None:
        """The principal when this process verified the credential recently (no lookup)."""
        ...

    def looking_up(self, credentials: str) -> bool:
        """Whether a lookup of this credential is under way in this process: an
        authenticate() now joins it and costs nothing more."""
        ...


class TokenAuthenticator:
    def __init__(self, pool: asyncpg.Pool, cache_seconds: float, clock: Clock) -> None:
        self._pool = pool
        self._ttl = cache_seconds
        self._clock = clock
        self._cache: dict[bytes, tuple[float, Principal]] = {}
        self._lookups: dict[bytes, asyncio.Future[Principal | None]] = {}

    def cached(self, credentials: str) -> Principal | None:
        hit = self._cache.get(hash_token(credentials))
        return hit[1] if hit is not None and hit[0] > time.monotonic() else None

    def looking_up(self, credentials: str) -> bool:
        return hash_token(credentials) in self._lookups

    async def authenticate(self, credentials: str) -> Principal | None:
        if not credentials.startswith(TOKEN_PREFIX) or len(credentials) > 100:
            return None
        digest = hash_token(credentials)
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        lookup = self._lookups.get(digest)
        if lookup is None:
            lookup = asyncio.ensure_future(self._look_up(digest))
            self._lookups[digest] = lookup
            lookup.add_done_callback(lambda _: self._lookups.pop(digest, None))
        # shield: one caller going away (a client hanging up) does not cancel the others'
        return await asyncio.shield(lookup)

    async def _look_up(self, digest: bytes) -> Principal | None:
        now = time.monotonic()
        row = await self._pool.fetchrow(_Q["principal_by_token_hash"], digest, self._clock.now())
        if row is None:
            self._cache.pop(digest, None)
            return None
        principal = Principal(
            kind=row["kind"],
            id=row["id"],
            name=row["name"],
            role=row["role"],
            source=Source(row["source"]) if row["source"] else None,
            gebied=row["gebied"],
        )
        if self._ttl > 0 and principal.kind == "client":  # a person's: never (docstring)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[digest] = (now + self._ttl, principal)
        return principal
