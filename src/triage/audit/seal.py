"""A hash chain over the audit log, so that an auditor can tell it was not altered.

The triggers on ``audit_log`` refuse UPDATE, DELETE and TRUNCATE, but the table's owner
can disable them and a superuser can do anything. So every audit row is sealed: its seal
holds ``chain = SHA-256(previous chain || the row's canonical form)``, the first starting
from 32 zero bytes. A row changed afterwards no longer hashes to its seal, a row deleted
leaves its seal without a row (or, with the seal deleted too, a gap in the sequence),
and ``triage audit verify`` names the first place where the chain does not hold.

Sealing runs after the fact, a pass every few seconds in the dispatch worker's timers,
one sealer in the deployment at a time (an advisory lock): the chain is a sequence, and
putting it on the path of each write would make every intake wait for the one before.
What a pass has not sealed yet is unprotected for those seconds; ``verify`` also reports
rows left unsealed longer than a minute (a sealer that stopped, or seals deleted).

The canonical form is built here, not by PostgreSQL's text output (which follows the
session's time zone): the row's columns with a value, by name, as sorted JSON, times in
UTC. A column added later with no value in old rows leaves their form as it was.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson

from triage.store.sql import load_queries

_Q = load_queries("triage.audit", "seal.sql")
GENESIS = bytes(32)
#: Rows per pass, and how far below the last sealed id a pass looks for rows that
#: committed late (see seal.sql, unsealed).
_BATCH = 1000
_REACH_BACK = 10_000
#: Unsealed longer than this, a row counts as a break in verify.
_SEAL_WITHIN = timedelta(minutes=1)
_SEAL_COLUMNS = frozenset({"seq", "audit_id", "chain"})


def canonical(row: asyncpg.Record | dict[str, Any]) -> bytes:
    """The audit row's form that the chain hashes (the module docstring says why so)."""
    values = {
        name: value.astimezone(UTC).isoformat() if isinstance(value, datetime) else value
        for name, value in dict(row).items()
        if value is not None and name not in _SEAL_COLUMNS
    }
    return orjson.dumps(values, option=orjson.OPT_SORT_KEYS, default=str)


def link(previous: bytes, row: asyncpg.Record | dict[str, Any]) -> bytes:
    return hashlib.sha256(previous + canonical(row)).digest()


async def seal(pool: asyncpg.Pool) -> int | None:
    """One sealing pass: seal what is unsealed, up to a batch. How many were sealed, or
    None when another process holds the pass."""
    async with pool.acquire() as conn, conn.transaction():
        if not await conn.fetchval(_Q["take_sealing"]):
            return None
        last = await conn.fetchrow(_Q["last_seal"])
        seq, chain = (last["seq"], bytes(last["chain"])) if last else (0, GENESIS)
        since = max(0, last["audit_id"] - _REACH_BACK) if last else 0
        rows = await conn.fetch(_Q["unsealed"], since, _BATCH)
        seqs, ids, chains = [], [], []
        for row in rows:
            seq += 1
            chain = link(chain, row)
            seqs.append(seq)
            ids.append(row["id"])
            chains.append(chain)
        if rows:
            await conn.execute(_Q["add_seals"], seqs, ids, chains)
        return len(rows)


@dataclass(frozen=True, slots=True)
class Break:
    """Where the chain stops holding, in words an auditor reads."""

    seq: int | None
    audit_id: int
    what: str

    def __str__(self) -> str:
        where = f"seal {self.seq}, " if self.seq is not None else ""
        return f"{where}audit row {self.audit_id}: {self.what}"


def _misfit(row: asyncpg.Record, previous: int) -> Break | None:
    """A seal missing before this one, or this seal's row missing."""
    if row["seq"] != previous + 1:
        return Break(row["seq"], row["audit_id"],
                     f"the seals before it from {previous + 1} are missing (deleted)")  # fmt: skip
    if row["id"] is None:
        return Break(row["seq"], row["audit_id"], "the row is missing (deleted)")
    return None


@dataclass(frozen=True, slots=True)
class Verified:
    sealed: int
    first_break: Break | None


async def verify(conn: asyncpg.Connection, now: datetime) -> Verified:
    """Walk the chain from its start; the first seal that does not fit, or else the first
    row left unsealed for longer than it should be."""
    seq, chain, checked = 0, GENESIS, 0
    while True:
        page = await conn.fetch(_Q["chain_page"], seq, 5000)
        if not page:
            break
        for row in page:
            broken = _misfit(row, seq)
            if broken is None:
                chain = link(chain, row)
                if chain != bytes(row["chain"]):
                    broken = Break(row["seq"], row["audit_id"],
                                   "the row was changed after it was sealed")  # fmt: skip
            if broken is not None:
                return Verified(checked, broken)
            seq, checked = row["seq"], checked + 1
    late = await conn.fetchval(_Q["unsealed_before"], now - _SEAL_WITHIN)
    if late is not None:
        return Verified(checked, Break(None, late, "not sealed (its seal was deleted, or "
                                       "no sealer has run since it was written)"))  # fmt: skip
    return Verified(checked, None)
