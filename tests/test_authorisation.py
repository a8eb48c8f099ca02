"""Who may call what, as the operation table declares it (``auth/policy.py``), checked by
calling every operation as every kind of caller. Generated from the table: an operation
added to it is checked too.

A caller outside an operation's policy gets 403 before its body is read (the body sent
here is empty and invalid, so a 422 would mean validation came first) and the refusal is
audited. A caller inside it is never refused for who it is: it may get 404, 409 or 422
for what it asked, not 403."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from helpers import Tokens, count
from triage.api.operations import OPERATIONS, Operation
from triage.auth.policy import CALLERS, CLIENT
from triage.runtime import Runtime
from triage.vocabulary import Source

#: The caller of each kind (conftest's tokens), and its gebied where it has one.
_TOKENS = {
    CLIENT: ("client", None), "operator": ("operator", None), "cit": ("cit", None),
    "coordinator": ("coordinator-tilburg", "tilburg"), "specialist": ("specialist-zuid", "zuid"),
    "ops": ("ops", None), "admin": ("admin", None),
}  # fmt: skip
_GUARDED = [op for op in OPERATIONS if op.policy is not None]


def test_every_operation_but_the_public_ones_declares_who_may_call_it() -> None:
    assert set(_TOKENS) == set(CALLERS)
    assert {op.path for op in OPERATIONS if op.policy is None} == {op.path for op in OPERATIONS
                                                                  if op.public}  # fmt: skip
    assert len(_GUARDED) >= 30


def _path(op: Operation, gebied: str | None) -> str:
    path = op.path
    while "{" in path:
        name = path[path.index("{") + 1 : path.index("}")]
        if name == "gebied":
            value = gebied or "tilburg"
        elif name == "kind":
            value = "plan"
        elif name in op.number_params:
            value = "1"
        else:
            value = str(uuid.uuid4())
        path = path.replace("{" + name + "}", value, 1)
    return path


def _headers(tokens: Tokens, caller: str) -> dict[str, str]:
    key, _ = _TOKENS[caller]
    return tokens.client(Source.politie) if caller == CLIENT else tokens.user(key)


@pytest.mark.parametrize("op", _GUARDED, ids=lambda op: f"{op.method} {op.path}")
async def test_each_caller_is_refused_or_let_through_as_declared(
    op: Operation, client: TestClient[Any, Any], tokens: Tokens, runtime: Runtime
) -> None:
    assert op.policy is not None
    for caller in CALLERS:
        path = _path(op, _TOKENS[caller][1])
        denied_before = await count(
            runtime.pool, "SELECT count(*) FROM audit_log WHERE action = 'access.denied.403'"
        )
        async with client.request(
            op.method, path, headers=_headers(tokens, caller),
            **({"json": {}} if op.method in ("POST", "PATCH") else {}),
        ) as resp:  # fmt: skip
            status = resp.status
            body = await resp.json() if status == 403 else None
        if caller in op.policy.callers:
            assert status not in (401, 403), f"{caller} was refused {op.method} {path}: {status}"
        else:
            assert status == 403, f"{caller} got {status} on {op.method} {path}"
            assert body is not None
            assert body["detail"].startswith(f"this is for {op.policy.who()}")
            denied_after = await count(
                runtime.pool, "SELECT count(*) FROM audit_log WHERE action = 'access.denied.403'"
            )
            assert denied_after == denied_before + 1
