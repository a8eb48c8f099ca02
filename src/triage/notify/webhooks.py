"""Webhooks per organisation: registered, recorded with the change, listed when dead.

An organisation of the networks registers an HTTPS endpoint (``triage webhooks add``)
and hears, in its own systems, about its own people: a new offer, a reassignment, an
escalation to its coordinator, a case milestone overdue. A delivery is an outbox row
written in the transaction of the change it reports (``record``), so a change is never
made without its delivery nor a delivery sent for a change that rolled back; the
deliverers (notify/deliver.py) send, sign and retry it. Deliveries that failed every
attempt are dead letters that ops list and replay (``GET /api/v1/webhooks/dead-letters``,
``POST .../replay``). Payloads hold ids, codes, times and links, never personal data.
"""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import asyncpg
from pydantic import BaseModel, Field

from triage.auth.principal import Principal
from triage.observability import metrics
from triage.problems import FieldError, forbidden, invalid
from triage.request_body import ID_MAX, RequestBody, WholeNumber
from triage.store.sql import load_queries

_Q = load_queries("triage.notify", "webhooks.sql")

#: What an organisation can hear about; a webhook takes all unless it names some.
EVENTS = ("offer", "reassigned", "escalation", "milestone_overdue")


class WebhookError(Exception):
    """A registration that cannot be made; the message says what to change."""


@dataclass(frozen=True, slots=True)
class Notice:
    """Something an organisation hears about: its event code and the ids and links."""

    organisation: str
    event: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Registered:
    id: int
    secret: str


def _checked_url(url: str) -> str:
    """HTTPS, or plain HTTP to this machine only (a local receiver, a test)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise WebhookError(f"{url!r} is not an http(s) URL with a host")
    if parts.scheme == "http":
        try:
            loopback = ipaddress.ip_address(parts.hostname).is_loopback
        except ValueError:
            loopback = parts.hostname == "localhost"
        if not loopback:
            raise WebhookError(
                "use https: payloads and signatures must not cross a network in the clear "
                "(plain http is allowed to this machine only)"
            )
    return url


async def add(
    conn: asyncpg.Connection,
    organisation: str,
    url: str,
    *,
    events: list[str] | None,
    organisations: set[str],
    now: datetime,
) -> Registered:
    """Register a webhook; its signing secret is returned here once and never again."""
    if organisation not in organisations:
        raise WebhookError(
            f"unknown organisation {organisation!r}; the networks have: "
            + ", ".join(sorted(organisations))
        )
    wanted = events or list(EVENTS)
    unknown = sorted(set(wanted) - set(EVENTS))
    if unknown:
        raise WebhookError(f"unknown event(s) {', '.join(unknown)}; known: {', '.join(EVENTS)}")
    secret = "whsec_" + secrets.token_urlsafe(32)
    webhook_id: int = await conn.fetchval(
        _Q["add"], organisation, _checked_url(url), secret, sorted(set(wanted)), now
    )
    return Registered(webhook_id, secret)


async def move(conn: asyncpg.Connection, webhook_id: int, url: str, now: datetime) -> None:
    """A receiver's new URL, in place: its pending deliveries and dead letters stay its
    own, to be delivered and replayed there (disabling it would make dead letters of what
    waits, and a disabled webhook's cannot be replayed)."""
    if await conn.fetchval(_Q["move"], webhook_id, _checked_url(url), now) is None:
        raise WebhookError(f"no active webhook with id {webhook_id}")


async def disable(conn: asyncpg.Connection, webhook_id: int, now: datetime) -> None:
    if await conn.fetchval(_Q["disable"], webhook_id, now) is None:
        raise WebhookError(f"no active webhook with id {webhook_id}")


async def listed(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return list(await conn.fetch(_Q["list"]))


async def record(conn: asyncpg.Connection, notices: list[Notice], now: datetime) -> None:
    """Write the deliveries of ``notices``: call inside the transaction of the change."""
    if not notices:
        return
    await conn.execute(_Q["record"], [n.organisation for n in notices],
                       [n.event for n in notices], [n.data for n in notices], now)  # fmt: skip


async def refresh_overdue(pool: asyncpg.Pool, now: datetime) -> None:
    """How long the oldest due delivery has waited for a deliverer (0 when none waits),
    set by the workers' timers: the deliverers cannot report that none of them runs."""
    oldest = await pool.fetchval(_Q["oldest_due"], now)
    waited = (now - oldest).total_seconds() if oldest is not None else 0.0
    metrics.WEBHOOK_OVERDUE.set(max(waited, 0.0))


# -- dead letters, for ops ------------------------------------------------------------


class DeadLetterOut(BaseModel):
    id: UUID = Field(description="The delivery's id (its Triage-Delivery header).")
    webhook_id: int
    organisation: str
    event: str
    payload: dict[str, Any] = Field(description="Ids, codes and links; no personal data.")
    created_at: datetime
    attempts: int
    last_status: int | None = Field(description="The receiver's last HTTP status, if any.")
    last_error: str | None
    dead_at: datetime
    replays: int = Field(description="How often it was replayed before.")


class DeadLettersOut(BaseModel):
    dead_letters: list[DeadLetterOut]


class ReplayIn(RequestBody):
    ids: list[UUID] | None = Field(
        default=None, min_length=1, max_length=1000,
        description="The dead letters to deliver again; or give webhook_id for all of one.",
    )  # fmt: skip
    webhook_id: WholeNumber | None = Field(
        default=None, ge=1, le=ID_MAX, description="Every dead letter of a webhook."
    )


class ReplayedOut(BaseModel):
    replayed: list[UUID]


def _ops_only(principal: Principal) -> None:
    if not principal.is_ops:
        raise forbidden("webhook dead letters are for the ops and admin roles")


async def dead_letters(
    conn: asyncpg.Connection, principal: Principal, webhook_id: int | None, limit: int
) -> DeadLettersOut:
    _ops_only(principal)
    rows = await conn.fetch(_Q["dead_letters"], webhook_id, limit)
    return DeadLettersOut(dead_letters=[DeadLetterOut(**dict(r)) for r in rows])


async def replay(
    conn: asyncpg.Connection,
    body: ReplayIn,
    principal: Principal,
    *,
    now: datetime,
    endpoint: str,
    request_id: str,
) -> ReplayedOut:
    """Dead letters back to the deliverers, from their first attempt."""
    _ops_only(principal)
    if (body.ids is None) == (body.webhook_id is None):
        raise invalid([FieldError("", "give either ids or webhook_id")])
    rows = await conn.fetch(
        _Q["replay"], body.ids, body.webhook_id, now, principal.id, principal.role, endpoint,
        request_id,
    )  # fmt: skip
    return ReplayedOut(replayed=[r["id"] for r in rows])


async def dead_by_organisation(conn: asyncpg.Connection | asyncpg.Pool) -> dict[str, int]:
    return {r["organisation"]: r["dead"] for r in await conn.fetch(_Q["dead_by_organisation"])}
