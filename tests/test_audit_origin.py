"""Each audit entry of a request holds its origin (the keyed digest of the caller's
address) and, for a source system acting for a person of its own, on whose behalf
(NEN 7513), whichever statement wrote it; a pooled connection passes neither on to the
next request or to the service's own work."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp.test_utils import TestClient

from helpers import Tokens, melding_body
from triage.audit.context import ON_BEHALF_HEADER, tell
from triage.runtime import Runtime
from triage.vocabulary import Source

Client = TestClient[Any, Any]
URL = "/api/v1/meldingen"


async def _entries(runtime: Runtime, melding_id: str) -> list[tuple[str, str | None, str | None]]:
    rows = await runtime.pool.fetch(
        "SELECT action, origin, on_behalf_of FROM audit_log WHERE melding_id = $1 ORDER BY id",
        uuid.UUID(melding_id),
    )
    return [(r["action"], r["origin"], r["on_behalf_of"]) for r in rows]


async def test_entries_say_where_a_request_came_from_and_for_whom(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    police = tokens.client(Source.politie)
    body = melding_body()
    sent = await client.post(URL, json=body, headers={**police, ON_BEHALF_HEADER: "agent-4711"})
    assert sent.status == 201, await sent.text()
    melding_id = (await sent.json())["melding_id"]
    again = await client.post(URL, json=body, headers={**police, ON_BEHALF_HEADER: "agent.2"})
    assert again.status == 200
    read = await client.get(f"{URL}/{melding_id}",
                            headers={**police, ON_BEHALF_HEADER: "HV-0042@politie"})  # fmt: skip
    assert read.status == 200
    assert (await client.get(f"{URL}/{melding_id}", headers=tokens.user("operator"))).status == 200
    for_colleague = {**tokens.user("operator"), ON_BEHALF_HEADER: "sp-tilburg-1"}
    assert (await client.get(f"{URL}/{melding_id}", headers=for_colleague)).status == 200

    entries = await _entries(runtime, melding_id)
    assert [(action, behalf) for action, _, behalf in entries] == [
        ("melding.create", "agent-4711"), ("melding.replay", "agent.2"),
        ("melding.read", "HV-0042@politie"), ("melding.read", None),
        ("melding.read", "sp-tilburg-1"),
    ]  # fmt: skip
    origins = {origin for _, origin, _ in entries}
    assert len(origins) == 1  # one address here, as its keyed digest, never the address
    (origin,) = origins
    assert origin is not None
    assert len(origin) == 32
    assert "127.0.0.1" not in origin


async def test_the_header_names_an_id_never_a_name_or_a_bsn(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    police = tokens.client(Source.politie)
    cases = [
        (police, "111222333", "never a name or a BSN"),  # passes the elfproef
        (police, "Jan de Vries", "never a name or a BSN"),
        (police, "x" * 65, "1 to 64"),
    ]
    for auth, value, said in cases:
        body = melding_body(source="politie")
        refused = await client.post(URL, json=body, headers={**auth, ON_BEHALF_HEADER: value})
        assert refused.status == 422, value
        problem = await refused.json()
        assert [e["pointer"] for e in problem["errors"]] == [f"header {ON_BEHALF_HEADER}"]
        assert said in problem["errors"][0]["detail"]
        assert value not in await refused.text()
        assert await runtime.pool.fetchval(
            "SELECT count(*) FROM meldingen WHERE external_id = $1", body["external_id"]
        ) == 0  # fmt: skip


async def test_a_connection_passes_nothing_on_to_its_next_user(runtime: Runtime) -> None:
    """What a request told its connection is taken only by entries of that request: the
    same pooled connection serves another request or the worker next."""
    insert = (
        "INSERT INTO audit_log (at, actor_kind, actor_role, action, endpoint, request_id) "
        "VALUES (now(), 'system', 'test', 'test.context', 'test', $1) "
        "RETURNING origin, on_behalf_of"
    )
    async with runtime.pool.acquire() as conn:
        rolled_back = conn.transaction()  # nothing of this stays in the audit
        await rolled_back.start()
        try:
            await tell(conn, "request-a", "0123456789abcdef0123456789abcdef", "agent-1")
            mine = await conn.fetchrow(insert, "request-a")
            other = await conn.fetchrow(insert, "request-b")
            system = await conn.fetchrow(insert, None)
            await tell(conn, "request-c", None, None)
            later = await conn.fetchrow(insert, "request-a")
        finally:
            await rolled_back.rollback()
    assert (mine["origin"], mine["on_behalf_of"]) == (
        "0123456789abcdef0123456789abcdef", "agent-1")  # fmt: skip
    for row in (other, system, later):
        assert (row["origin"], row["on_behalf_of"]) == (None, None)
