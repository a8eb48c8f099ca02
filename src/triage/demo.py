"""Demo credentials for ``make run``: created once, kept under the data directory.

Tokens are stored in the database only as hashes, so to show them again on the next
``make run`` they are also written to ``demo-credentials.json`` (mode 0600) in the local
data directory. This is for a developer's machine only; real accounts are made with
``triage clients add`` and ``triage users add``, which print the token once.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from triage.auth.accounts import add_client, add_user, rotate_client
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


DEMO_ACCOUNTS = (
    DemoAccount("demo-politie", "API client of the police (source politie)", source=Source.politie),
    DemoAccount("demo-operator", "crisis desk operator (reads all)", role=UserRole.operator),
    DemoAccount(
        "demo-coordinator", "coordinator of gebied tilburg", role=UserRole.coordinator,
        gebied="tilburg",
    ),
    DemoAccount("demo-ops", "ops (metrics)", role=UserRole.ops),
)  # fmt: skip


async def ensure_demo_credentials(
    conn: asyncpg.Connection, data_dir: Path, clock: Clock
) -> dict[str, str]:
    """Tokens for the demo accounts, reusing stored ones that still work."""
    path = data_dir / "demo-credentials.json"
    # Small local files, read once at start-up before serving: blocking I/O is fine here.
    stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    tokens: dict[str, str] = {}
    for account in DEMO_ACCOUNTS:
        token = stored.get(account.key)
        if token and await conn.fetchrow(_Q["principal_by_token_hash"], hash_token(token)):
            tokens[account.key] = token
            continue
        if account.source is not None:
            exists = await conn.fetchval(_Q["client_exists"], account.key)
            issued = (
                await rotate_client(conn, account.key)
                if exists
                else await add_client(conn, account.key, account.source, clock.now())
            )
        else:
            assert account.role is not None
            issued = await add_user(
                conn, account.key, account.role, clock.now(), gebied=account.gebied
            )
        tokens[account.key] = issued.token
    data_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(tokens, handle, indent=2)
    return tokens
