"""Every access to personal data is audited; no personal data reaches a log line."""

from __future__ import annotations

import io
import json
import logging
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
import structlog
from aiohttp.test_utils import TestClient
from structlog.testing import capture_logs

from helpers import Tokens, count, melding_body
from triage.auth.principal import Principal
from triage.dispatch.answers import answer, first_contact
from triage.dispatch.offer import offer
from triage.dispatch.worker import worker_for
from triage.notify import webhooks
from triage.notify.deliver import Deliverer, Policy
from triage.notify.webhooks import Notice
from triage.observability.logging import configure
from triage.routing.roster import on_duty
from triage.runtime import Runtime
from triage.vocabulary import Source, UserRole

Client = TestClient[Any, Any]

PII = {
    "voornaam": "Wilhelmina",
    "achternaam": "Zwanenburg-Oosterhuis",
    "bsn": "111222333",
    "postcode": "5037 XK",
    "straat": "Hoefstraat",
    "summary": "Buurvrouw hoort mevrouw Zwanenburg schreeuwen om hulp bij de achterdeur.",
}


def pii_melding(**overrides: Any) -> dict[str, Any]:
    return melding_body(
        summary=PII["summary"],
        address={"postcode": PII["postcode"], "huisnummer": "41", "straat": PII["straat"],
                 "woonplaats": "Tilburg"},
        persons=[{"role": "slachtoffer", "bsn": PII["bsn"], "voornaam": PII["voornaam"],
                  "achternaam": PII["achternaam"], "geboortedatum": "1948-02-29"}],
        **overrides,
    )  # fmt: skip


async def test_create_and_read_are_audited(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    created = await (await client.post("/api/v1/meldingen", json=melding_body(),
                                       headers=tokens.client(Source.politie))).json()  # fmt: skip
    melding_id = created["melding_id"]
    rows = await runtime.pool.fetch(
        "SELECT actor_kind, actor_role, action, case_id, endpoint, request_id "
        "FROM audit_log WHERE melding_id = $1 ORDER BY id",
        melding_id,
    )
    assert [(r["actor_kind"], r["action"]) for r in rows] == [("client", "melding.create")]
    case_id = rows[0]["case_id"]
    assert case_id is not None
    assert rows[0]["endpoint"] == "POST /api/v1/meldingen"
    assert rows[0]["request_id"]

    await client.get(f"/api/v1/meldingen/{melding_id}", headers=tokens.user("operator"))
    await client.get(f"/api/v1/cases/{case_id}", headers=tokens.user("cit"))
    # A read outside the reader's scope returns nothing: the attempt is audited as denied.
    await client.get(f"/api/v1/meldingen/{melding_id}", headers=tokens.user("specialist-zuid"))
    reads = await runtime.pool.fetch(
        "SELECT actor_role, action FROM audit_log "
        "WHERE (melding_id = $1 OR case_id = $2) AND action LIKE '%.read' ORDER BY id",
        melding_id,
        case_id,
    )
    assert [(r["actor_role"], r["action"]) for r in reads] == [
        ("operator", "melding.read"),
        ("cit", "case.read"),
    ]
    tried = await runtime.pool.fetch(
        "SELECT actor_role, action, result, origin, endpoint FROM audit_log "
        "WHERE melding_id = $1 AND result = 'denied'", melding_id,
    )  # fmt: skip
    assert [(r["actor_role"], r["action"], r["endpoint"]) for r in tried] == [
        ("specialist", "access.denied.404", "GET /api/v1/meldingen/{melding_id}")
    ]
    assert tried[0]["origin"] is not None
    assert "127.0.0.1" not in tried[0]["origin"]  # a keyed digest, not the address


async def test_refusals_are_audited_with_who_tried_and_which_id(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    tried = uuid4()
    url = f"/api/v1/meldingen/{tried}"
    assert (await client.get(url, headers={"Authorization": "Bearer trg_guess"})).status == 401
    case_url = f"/api/v1/cases/{uuid4()}"
    assert (await client.get(case_url, headers=tokens.client(Source.politie))).status == 403
    rows = await runtime.pool.fetch(
        "SELECT actor_kind, actor_role, action, melding_id, case_id, result FROM audit_log "
        "WHERE result = 'denied' AND (melding_id = $1 OR case_id = $2) ORDER BY id",
        tried, UUID(case_url.rsplit("/", 1)[1]),
    )  # fmt: skip
    assert [(r["actor_kind"], r["actor_role"], r["action"]) for r in rows] == [
        ("anonymous", "none", "access.denied.401"),
        ("client", "client", "access.denied.403"),
    ]
    assert rows[0]["melding_id"] == tried


async def test_a_refused_melding_leaves_no_audit_entry(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    before = await count(runtime.pool, "SELECT count(*) FROM audit_log")
    body = melding_body(category="geen_categorie")
    assert (
        await client.post("/api/v1/meldingen", json=body, headers=tokens.client(Source.politie))
    ).status == 422
    assert await count(runtime.pool, "SELECT count(*) FROM audit_log") == before


async def test_the_audit_log_is_append_only(runtime: Runtime) -> None:
    async with runtime.pool.acquire() as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("UPDATE audit_log SET action = 'x'")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DELETE FROM audit_log")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("TRUNCATE audit_log")


async def test_no_personal_data_in_any_log_line(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    stream = io.StringIO()
    configure("json", "debug", stream=stream)
    try:
        headers = tokens.client(Source.politie)
        created = await (
            await client.post("/api/v1/meldingen", json=pii_melding(), headers=headers)
        ).json()
        # The paths that log most: a read, a replay, a validation error, a conflict.
        read = await client.get(
            f"/api/v1/meldingen/{created['melding_id']}", headers=tokens.user("operator")
        )
        as_read = await read.json()
        case_id, gebied = as_read["case_id"], as_read["gebied"]
        await client.get(f"/api/v1/cases/{case_id}", headers=tokens.user("operator"))
        bad = pii_melding(category="onbekend")
        bad["persons"][0]["bsn"] = "123456789"
        await client.post("/api/v1/meldingen", json=bad, headers=headers)
        dup = pii_melding()
        await client.post("/api/v1/meldingen", json=dup, headers=headers)
        await client.post(
            "/api/v1/meldingen", json={**dup, "summary": PII["summary"] + "!"}, headers=headers
        )
        # Dispatch: this melding offered, accepted and contacted (so that no offer of it
        # is left for other tests' timers), the timers, and a webhook delivery that fails
        # for good.
        await _offered_accepted_contacted(runtime, gebied, UUID(created["melding_id"]),
                                          UserRole.specialist)  # fmt: skip
        await worker_for(runtime).timers()
        async with runtime.pool.acquire() as conn:
            hook = await webhooks.add(conn, "MEE", "http://127.0.0.1:9/hook", events=None,
                                      organisations={"MEE"}, now=runtime.clock.now())  # fmt: skip
            await webhooks.record(conn, [Notice("MEE", "offer", {"melding_id": "x"})],
                                  runtime.clock.now())  # fmt: skip
            async with Deliverer(runtime.pool, runtime.clock, Policy(max_attempts=1)) as d:
                await d.round()
            await webhooks.disable(conn, hook.id, runtime.clock.now())
        # Code that logs a field by mistake is caught by the redaction processor.
        logging.getLogger("triage.test").warning(
            "careless %s", PII["bsn"], extra={"postcode": PII["postcode"]}
        )
    finally:
        configure("console", "warning")
    output = stream.getvalue()
    lines = [json.loads(line) for line in output.splitlines()]
    assert any(line.get("event") == "request" for line in lines)  # logs were captured
    events = {line.get("event") for line in lines}
    assert {"melding_offered", "webhook_dead_letter"} <= events  # the dispatch paths ran
    for value in [*PII.values(), "123456789", "5037XK", "Wilhelmina", "Zwanenburg"]:
        assert value not in output, f"personal data in the logs: {value!r}"


async def _offered_accepted_contacted(
    runtime: Runtime, gebied: str, melding_id: UUID, role: UserRole
) -> Principal:
    """The melding offered by the dispatch, accepted and contacted by whom it went to,
    acting in ``role`` (no offer of it is left for other tests' timers)."""
    now = runtime.clock.now()
    done = await offer(runtime.pool, runtime.network, [(gebied, melding_id)],
                       now, on_duty(runtime.network, now))  # fmt: skip
    [made] = done.offered
    await runtime.enqueuer.withdraw(gebied, melding_id)
    them = Principal(kind="user", id=uuid4(), name=made.choice.specialist, role=role,
                     gebied=gebied)  # fmt: skip
    context = {"now": now, "endpoint": "test", "request_id": "test"}
    async with runtime.pool.acquire() as conn:
        await answer(conn, made.assignment_id, them, decline=None, **context)
        await first_contact(conn, melding_id, them, **context)
    return them


async def test_answers_are_audited_with_the_role_of_who_gave_them(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    """A coordinator answers the offers made to them (the chain reaches them): the audit
    says coordinator, not the specialist every answer used to be recorded as."""
    created = await (await client.post("/api/v1/meldingen", json=melding_body(),
                                       headers=tokens.user("operator"))).json()  # fmt: skip
    melding_id = UUID(created["melding_id"])
    them = await _offered_accepted_contacted(runtime, created["gebied"], melding_id,
                                             UserRole.coordinator)  # fmt: skip
    roles = await runtime.pool.fetch(
        "SELECT action, actor_role FROM audit_log WHERE melding_id = $1 AND actor_id = $2"
        " ORDER BY id", melding_id, them.id,
    )  # fmt: skip
    assert [(r["action"], r["actor_role"]) for r in roles] == [
        ("assignment.accept", "coordinator"),
        ("melding.first_contact", "coordinator"),
    ]


def test_a_logger_used_before_a_reconfiguration_follows_it() -> None:
    """Loggers are cached on first use; one cached before ``configure`` is called again
    (a test that captures the output, a CLI command) must write with the new settings and be
    seen by ``capture_logs``, not keep the old processors: a stop's warning went missing so."""
    log = structlog.get_logger("triage.test.reconfigured")
    log.warning("first_use")  # cached here, under the session's configuration
    stream = io.StringIO()
    configure("json", "debug", stream=stream)
    try:
        log.info("after_reconfiguration")
        with capture_logs() as captured:
            log.warning("captured")
    finally:
        configure("console", "warning")
    assert [json.loads(line)["event"] for line in stream.getvalue().splitlines()] == [
        "after_reconfiguration"
    ]
    assert [e["event"] for e in captured] == ["captured"]
