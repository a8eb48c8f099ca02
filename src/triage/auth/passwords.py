"""People's passwords: argon2id (argon2-cffi's defaults, RFC 9106's second profile:
64 MiB, 3 passes), about 0.1 s of one core per hash, so hashing runs in a thread and never
on the event loop. An unknown user costs the same time as a wrong password (a hash of a
password nobody has is checked instead), so the answer's time does not tell which
usernames exist."""

from __future__ import annotations

import asyncio
import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
MAX_LENGTH = 1024  # a longer one is not a password but an attempt to cost us time
_HASHER = PasswordHasher()


@functools.cache
def _nobody() -> str:
    """A hash of a password nobody has, made at the first login (not when the module is
    imported: that would cost each process a hash's time at start, logins or not)."""
    return _HASHER.hash("no user has this password; it only costs the same time")


class WeakPassword(ValueError):
    """A password the rules refuse: the English for the command line, the Dutch
    (``tekst``) for the console's admin page."""

    def __init__(self, detail: str, tekst: str) -> None:
        super().__init__(detail)
        self.tekst = tekst


def check(password: str) -> None:
    """Raise WeakPassword with what is wrong: too short, too long, only spaces, or a
    character no login form can send (NUL: the login refuses it, as the database would)."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH or not password.strip():
        raise WeakPassword(
            f"a password has {MIN_LENGTH} to {MAX_LENGTH} characters; a sentence of a few "
            "words is easy to remember and hard to guess",
            f"een wachtwoord heeft {MIN_LENGTH} tot {MAX_LENGTH} tekens; een zin van een "
            "paar woorden is makkelijk te onthouden en moeilijk te raden",
        )
    if "\x00" in password:
        raise WeakPassword(
            "a password cannot contain a NUL character: nobody could log in with it",
            "een wachtwoord kan geen NUL-teken bevatten: niemand kan ermee inloggen",
        )


async def hash_password(password: str) -> str:
    check(password)
    return await asyncio.to_thread(_HASHER.hash, password)


async def verify(stored: str | None, password: str) -> bool:
    """Whether ``password`` is the one ``stored`` was made from (None: the user has no
    password; the same time is spent)."""
    if len(password) > MAX_LENGTH:
        return False
    return await asyncio.to_thread(_verify, stored, password)


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(stored or _nobody(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False
