"""Need-to-know that follows the work: a specialist reads the meldingen and cases they are
offered, assigned or lead. Another of their gebied takes a stated reason (break the
glass), audited with it and listed for the gebied's coordinator; one outside their gebied
is as if it did not exist. The scope follows a reassignment both ways, and a case follows
its meldingen to another gebied."""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

from aiohttp.test_utils import TestClient
from prometheus_client import REGISTRY

from helpers import TEST_CLOCK, Tokens, melding_body
from triage.auth.accounts import add_user
from triage.cases.read import ACCESS_REASON_HEADER
from triage.runtime import Runtime
from triage.vocabulary import UserRole

Client = TestClient[Any, Any]
GEBIED = "langstraat"  # other test modules leave it alone
REASON = "De moeder belde de crisisdienst; ik ben de enige die nu dienst heeft."


def _glass_count() -> float:
    value = REGISTRY.get_sample_value("triage_break_glass_reads_total", {"gebied": GEBIED})
    return value or 0.0


def _auth(token: str, reason: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}",
            **({ACCESS_REASON_HEADER: reason} if reason else {})}  # fmt: skip


async def _people(runtime: Runtime) -> dict[str, str]:
    """Tokens of two specialists and the coordinator of the gebied, and a specialist of
    another gebied, by their ids in the network file."""
    people = {"sp-langstraat-5": (UserRole.specialist, GEBIED),
              "sp-langstraat-6": (UserRole.specialist, GEBIED),
              "co-langstraat": (UserRole.coordinator, GEBIED),
              "sp-west-6": (UserRole.specialist, "west")}  # fmt: skip
    async with runtime.pool.acquire() as conn:
        return {
            name: (await add_user(conn, name, role, TEST_CLOCK.now(), gebied=gebied)).token
            for name, (role, gebied) in people.items()
        }


async def _melding(client: Client, tokens: Tokens) -> dict[str, Any]:
    body = melding_body(source="cit", address={"woonplaats": "Kaatsheuvel"})
    resp = await client.post("/api/v1/meldingen", json=body, headers=tokens.user("operator"))
    assert resp.status == 201, await resp.text()
    melding: dict[str, Any] = await resp.json()
    assert melding["gebied"] == GEBIED
    return melding


async def _reassign(client: Client, tokens: Tokens, melding_id: str, to: str) -> None:
    resp = await client.post(f"/api/v1/meldingen/{melding_id}/reassign",
                             json={"to": to, "reason": "Kent het gezin al."},
                             headers=tokens.user("operator"))  # fmt: skip
    assert resp.status == 200, await resp.text()


async def test_a_specialist_reads_their_work_and_the_rest_of_the_gebied_with_a_reason(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    people = await _people(runtime)
    melding = await _melding(client, tokens)
    melding_url = f"/api/v1/meldingen/{melding['melding_id']}"
    case_url = f"/api/v1/cases/{melding['case_id']}"
    mine, colleague = people["sp-langstraat-5"], people["sp-langstraat-6"]

    # Nobody's work yet: the gebied's specialists are told how, the coordinator reads it.
    for url in (melding_url, case_url):
        refused = await client.get(url, headers=_auth(mine))
        assert refused.status == 403
        assert ACCESS_REASON_HEADER in (await refused.json())["detail"]
        assert (await client.get(url, headers=_auth(people["co-langstraat"]))).status == 200
        # Of another gebied: as if there were none, reason or not.
        for reason in (None, REASON):
            assert (await client.get(url, headers=_auth(people["sp-west-6"], reason))).status == 404

    # Offered to one of them: theirs to read, without a reason; not the colleague's.
    await _reassign(client, tokens, melding["melding_id"], "sp-langstraat-5")
    for url in (melding_url, case_url):
        assert (await client.get(url, headers=_auth(mine))).status == 200
        assert (await client.get(url, headers=_auth(colleague))).status == 403

    # The colleague states why: read, audited as breaking the glass, with the reason, and
    # counted for the alert on many such reads in a gebied.
    counted = _glass_count()
    for url in (melding_url, case_url):
        assert (await client.get(url, headers=_auth(colleague, REASON))).status == 200
    assert _glass_count() == counted + 2
    rows = await runtime.pool.fetch(
        "SELECT action, reason FROM audit_log WHERE actor_id = (SELECT id FROM users"
        " WHERE username = 'sp-langstraat-6') AND (melding_id = $1 OR case_id = $2) ORDER BY id",
        UUID(melding["melding_id"]), UUID(melding["case_id"]),
    )  # fmt: skip
    assert [(r["action"], r["reason"]) for r in rows if r["reason"]] == [
        ("melding.read.break_glass", REASON), ("case.read.break_glass", REASON),
    ]  # fmt: skip
    # A reason that says nothing is refused, naming the header.
    for empty in ("want", "aaaaaaaaaaaa", "\u2800" * 12):  # nothing said, or blank
        short = await client.get(melding_url, headers=_auth(colleague, empty))
        assert short.status == 422
        assert ACCESS_REASON_HEADER in await short.text()

    # The coordinator sees who read what, when and why; another gebied's does not.
    listed = await client.get("/api/v1/break-glass", headers=_auth(people["co-langstraat"]))
    assert listed.status == 200
    reads = [r for r in (await listed.json())["reads"] if r["actor"] == "sp-langstraat-6"]
    assert {(r["action"], r["reason"]) for r in reads} >= {
        ("melding.read.break_glass", REASON), ("case.read.break_glass", REASON),
    }  # fmt: skip
    # Page by page, newest first: no read is buried under a thousand others.
    first = await client.get("/api/v1/break-glass?limit=1", headers=_auth(people["co-langstraat"]))
    [newest] = (await first.json())["reads"]
    rest = await client.get(f"/api/v1/break-glass?limit=1000&before={newest['id']}",
                            headers=_auth(people["co-langstraat"]))  # fmt: skip
    older = (await rest.json())["reads"]
    assert all(r["id"] < newest["id"] for r in older)
    assert {r["id"] for r in reads} <= {newest["id"], *(r["id"] for r in older)}
    other = await client.get("/api/v1/break-glass", headers=tokens.user("coordinator-tilburg"))
    assert all(r["actor"] != "sp-langstraat-6" for r in (await other.json())["reads"])

    # Reassigned to the colleague: the scope moves with the work, both ways.
    await _reassign(client, tokens, melding["melding_id"], "sp-langstraat-6")
    for url in (melding_url, case_url):
        assert (await client.get(url, headers=_auth(colleague))).status == 200
        assert (await client.get(url, headers=_auth(mine))).status == 403

    # Accepted, the colleague leads the case; given back by hand, they no longer read it.
    offers = await (await client.get("/api/v1/me/assignments", headers=_auth(colleague))).json()
    [offer] = [a for a in offers["assignments"] if a["melding_id"] == melding["melding_id"]]
    accept = f"/api/v1/assignments/{offer['assignment_id']}/accept"
    assert (await client.post(accept, headers=_auth(colleague))).status == 200
    await _reassign(client, tokens, melding["melding_id"], "sp-langstraat-5")
    for url in (melding_url, case_url):
        assert (await client.get(url, headers=_auth(mine))).status == 200
        assert (await client.get(url, headers=_auth(colleague))).status == 403


async def test_a_case_follows_its_meldingen_to_another_gebied(
    client: Client, tokens: Tokens, runtime: Runtime
) -> None:
    people = await _people(runtime)
    melding = await _melding(client, tokens)
    case_url = f"/api/v1/cases/{melding['case_id']}"
    async with runtime.pool.acquire() as conn:
        tilburg = (await add_user(conn, f"co-tilburg-{uuid.uuid4().hex[:6]}",
                                  UserRole.coordinator, TEST_CLOCK.now(),
                                  gebied="tilburg")).token  # fmt: skip
    assert (await client.get(case_url, headers=_auth(people["co-langstraat"]))).status == 200
    assert (await client.get(case_url, headers=_auth(tilburg))).status == 404
    reader = _auth(people["sp-langstraat-5"], REASON)
    assert (await client.get(case_url, headers=reader)).status == 200
    moved = await client.post(f"/api/v1/meldingen/{melding['melding_id']}/gebied",
                              json={"gebied": "tilburg", "reason": "Woont sinds kort in Tilburg."},
                              headers=tokens.user("operator"))  # fmt: skip
    assert moved.status == 200, await moved.text()
    assert (await client.get(case_url, headers=_auth(tilburg))).status == 200
    assert (await client.get(case_url, headers=_auth(people["co-langstraat"]))).status == 404
    # and so does who may change it (its only melding left Langstraat)
    case_gebied = await runtime.pool.fetchval(
        "SELECT gebied FROM cases WHERE id = $1", UUID(melding["case_id"])
    )
    assert case_gebied == "tilburg"

    # The glass was broken in Langstraat: listed there, whatever became of the case since.
    def read_of(listing: dict[str, Any]) -> list[dict[str, Any]]:
        return [r for r in listing["reads"] if r["case_id"] == melding["case_id"]]

    here = await client.get("/api/v1/break-glass", headers=_auth(people["co-langstraat"]))
    assert [r["reason"] for r in read_of(await here.json())] == [REASON]
    there = await client.get("/api/v1/break-glass", headers=_auth(tilburg))
    assert read_of(await there.json()) == []
