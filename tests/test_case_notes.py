"""Notes on a case: written by the desk, a coordinator of its gebied or its lead, read
with the case, audited; nobody else writes in it."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp.test_utils import TestClient

from helpers import TEST_CLOCK, Tokens, melding_body
from triage.auth.accounts import add_user
from triage.runtime import Runtime
from triage.vocabulary import UserRole

Client = TestClient[Any, Any]


async def test_notes_are_written_by_those_working_the_case(
    client: Client, runtime: Runtime, tokens: Tokens
) -> None:
    made = await client.post("/api/v1/meldingen", json=melding_body(),
                             headers=tokens.user("operator"))  # fmt: skip
    case_id = (await made.json())["case_id"]
    url = f"/api/v1/cases/{case_id}/notes"
    written = await client.post(url, json={"text": "Moeder gebeld, afspraak donderdag."},
                                headers=tokens.user("operator"))  # fmt: skip
    assert written.status == 201, await written.text()
    note = await written.json()
    assert (note["author_role"], note["text"]) == ("operator", "Moeder gebeld, afspraak donderdag.")

    async with runtime.pool.acquire() as conn:
        outsider = await add_user(
            conn,
            f"co-oost-{uuid.uuid4().hex[:4]}",
            UserRole.coordinator,
            TEST_CLOCK.now(),
            gebied="oost",
        )
    other = {"Authorization": f"Bearer {outsider.token}"}
    refused = await client.post(url, json={"text": "Niet mijn gebied."}, headers=other)
    assert refused.status == 404  # a case of another gebied: as if there were none
    for who, status in (("admin", 403), ("specialist-zuid", 404)):
        resp = await client.post(url, json={"text": "Mag niet."}, headers=tokens.user(who))
        assert resp.status == status, who
    assert (await client.post(url, json={"text": ""},
                              headers=tokens.user("operator"))).status == 422  # fmt: skip

    case = await (await client.get(f"/api/v1/cases/{case_id}",
                                   headers=tokens.user("cit"))).json()  # fmt: skip
    assert [n["text"] for n in case["notes"]] == ["Moeder gebeld, afspraak donderdag."]
    audited = await runtime.pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE case_id = $1 AND action = 'case.note'",
        uuid.UUID(case_id),
    )
    assert audited == 1
