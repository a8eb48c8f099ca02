"""Demo credentials for ``make run``: created once, kept under the data directory.

Each demo person has a password (to log in in a browser, ``POST /auth/login``) and a
token (for the ``curl`` examples); the police's demo client a token. Both are stored in
the database only as hashes, so to show them again on the next ``make run`` they are
also written to ``demo-credentials.json`` (mode 0600) in the local data directory. This
is for a developer's machine only; real accounts are made with ``triage clients add``
and ``triage users add``, which print a token once or take a password from stdin.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from triage.auth.accounts import add_client, add_user, rotate_client
from triage.auth.passwords import verify
from triage.auth.tokens import hash_token
from triage.clock import Clock
from triage.store.sql import load_queries
from triage.vocabulary import Source, UserRole

_Q = load_queries("triage.auth", "auth.sql")


@dataclass(frozen=True)
class DemoAccount:
    key: str
    description: str
    role: UserRole | None = None
    source: Source | None = None
    gebied: str | None = None


#: One person per role (a specialist and a coordinator of tilburg's network in the
#: demo network file, so that need-to-know and offers work for them) and the police.
DEMO_ACCOUNTS = (
    DemoAccount("demo-politie", "API client of the police (source politie)", source=Source.politie),
    DemoAccount("demo-operator", "crisis desk operator (reads all)", role=UserRole.operator),
    DemoAccount("demo-cit", "CIT (reads all, links calls to cases)", role=UserRole.cit),
    DemoAccount("sp-tilburg-1", "specialist in tilburg's network", role=UserRole.specialist,
                gebied="tilburg"),
    DemoAccount("co-tilburg", "coordinator of gebied tilburg", role=UserRole.coordinator,
                gebied="tilburg"),
    DemoAccount("demo-ops", "ops (metrics)", role=UserRole.ops),
    DemoAccount("demo-admin", "admin (users, inzage, corrections)", role=UserRole.admin),
)  # fmt: skip


@dataclass(frozen=True)
class DemoCredentials:
    tokens: dict[str, str]
    passwords: dict[str, str]  # the people's; the police's client has none


async def ensure_demo_credentials(
    conn: asyncpg.Connection, data_dir: Path, clock: Clock
) -> DemoCredentials:
    """Tokens and passwords for the demo accounts, reusing stored ones that still work."""
    path = data_dir / "demo-credentials.json"
    # Small local files, read once at start-up before serving: blocking I/O is fine here.
    stored = json.loads(path.read_text()) if path.exists() else {}
    known = DemoCredentials(stored.get("tokens", {}), stored.get("passwords", {}))
    found = DemoCredentials({}, {})
    for account in DEMO_ACCOUNTS:
        found.tokens[account.key] = await _token(conn, account, known.tokens.get(account.key),
                                                 clock)  # fmt: skip
        if account.role is not None:
            found.passwords[account.key] = await _password(
                conn, account, known.passwords.get(account.key), clock
            )
    data_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"tokens": found.tokens, "passwords": found.passwords}, handle, indent=2)
    return found


async def _token(conn: asyncpg.Connection, account: DemoAccount, token: str | None,
                 clock: Clock) -> str:  # fmt: skip
    """The stored token while it works; else a new one (a person's expire)."""
    if token and await conn.fetchrow(_Q["principal_by_token_hash"], hash_token(token),
                                     clock.now()):  # fmt: skip
        return token
    if account.source is not None:
        exists = await conn.fetchval(_Q["client_exists"], account.key)
        issued = (
            await rotate_client(conn, account.key)
            if exists
            else await add_client(conn, account.key, account.source, clock.now())
        )
    else:
        assert account.role is not None
        issued = await add_user(conn, account.key, account.role, clock.now(),
                                gebied=account.gebied)  # fmt: skip
    assert issued.token is not None  # issued without a password: a token
    return issued.token


async def _password(conn: asyncpg.Connection, account: DemoAccount, password: str | None,
                    clock: Clock) -> str:  # fmt: skip
    """The stored password while it is the account's; else a new one (its token stays)."""
    held = await conn.fetchval(_Q["password_of"], account.key)
    if password and await verify(held, password):
        return password
    password = secrets.token_urlsafe(12)  # 16 characters, 96 bits
    assert account.role is not None
    await add_user(conn, account.key, account.role, clock.now(), gebied=account.gebied,
                   password=password)  # fmt: skip
    return password


#: Pasted into a shell as printed: no placeholders, nothing for the shell to misread.
_TRY_IT = r"""
Post the example melding as the police, received now, and read it back as the operator
(paste into a shell in this directory):
  NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  sed -e "s/\"received_at\": \"[^\"]*\"/\"received_at\": \"$NOW\"/" \
      -e "s/\"external_id\": \"[^\"]*\"/\"external_id\": \"BVH-$NOW\"/" \
      {example} > {sent}
  MELDING_ID=$(curl -s -X POST {base}/api/v1/meldingen \
      -H 'Authorization: Bearer {police}' -H 'Content-Type: application/json' \
      -d @{sent} | sed -n 's/.*"melding_id":"\([^"]*\)".*/\1/p')
  curl -s {base}/api/v1/meldingen/$MELDING_ID \
      -H 'Authorization: Bearer {operator}'
Posting {sent} again answers 200 with the first answer (a replay)."""


def _example() -> Path | None:
    """examples/melding.json: from the directory ``make run`` runs in, else the checkout's."""
    here = Path("examples/melding.json")
    if here.exists():
        return here
    checkout = Path(__file__).resolve().parents[2] / "examples" / "melding.json"
    return checkout if checkout.exists() else None


def try_it(base: str, credentials: DemoCredentials, data_dir: Path) -> list[str]:
    """The banner's lines that post the example melding and read it back. A source system
    sends the moment it received a melding and an id of its own, so the example goes out
    received now under a new external_id, from a copy in the data directory (posting the
    copy again is a replay)."""
    example = _example()
    if example is None:
        return []
    return _TRY_IT.format(
        example=shlex.quote(str(example)), sent=shlex.quote(str(data_dir / "melding.json")),
        base=base, police=credentials.tokens["demo-politie"],
        operator=credentials.tokens["demo-operator"],
    ).splitlines()  # fmt: skip
