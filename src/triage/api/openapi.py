"""The OpenAPI 3.1 document, generated from the operation table and the pydantic models."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import (
    GenerateJsonSchema,
    JsonSchemaMode,
    JsonSchemaValue,
    models_json_schema,
)
from pydantic_core import core_schema

from triage import __version__
from triage.api.examples import request_examples
from triage.api.operations import ID_NUMBER, OPERATIONS, Operation
from triage.auth.policy import CALLERS
from triage.auth.sessions import COOKIE as SESSION_COOKIE
from triage.intake.models import MeldingIn
from triage.region import REGIONAL_POOL
from triage.request_body import SHAPED, VOCABULARY, text_pattern

_REF = "#/components/schemas/{model}"
#: A vocabulary kind with this suffix: a comma-separated list of its codes (a query).
LIST_OF = "_list"
#: The operations' tags, in the order the documentation page lists them, each with what
#: it groups (the page's table of contents).
TAGS: tuple[tuple[str, str], ...] = (
    ("auth", "Logging in and out. A password login or the region's identity provider "
     "starts a browser session (a cookie, sent with every request from then on); source "
     "systems and people with an API token send it as a bearer token instead."),
    ("meldingen", "Meldingen and adviesvragen: intake from source systems and the desk, "
     "the werkvoorraad, reading one with its personal data, and its urgency set by hand."),
    ("cases", "Households' cases: finding one, linking and unlinking meldingen, settling "
     "possible duplicates, merging, closing, milestones, the lead's handover, and the reads "
     "that took a stated reason (break the glass)."),
    ("dispatch", "Who takes a melding up: offers and their answers, first contact, "
     "reassigning, moving to another gebied, who is on duty, the queues, roster changes "
     "and escalations."),
    ("reference", "The codes a melding may carry: signals and gebieden."),
    ("reporting", "The process indicators per gebied: counts and shares, no personal data."),
    ("privacy", "The rights of the people in the meldingen (AVG): everything held about "
     "one person (inzage), and corrections."),
    ("operations", "For those who run the service: health, readiness, metrics, and "
     "webhook deliveries that failed."),
)  # fmt: skip
_ERROR_TEXT = {
    400: "Malformed JSON (RFC 8259 in UTF-8; no NaN or Infinity)",
    401: "Missing, unknown, expired or disabled credentials (a bearer token, a JWT of the "
    "identity provider, or a session)",
    403: "The caller may not do this",
    404: "Not found, or not within the caller's scope",
    409: "The idempotency key was used for a different melding",
    413: "Body larger than 64 KiB",
    415: "Body is not application/json",
    422: "Invalid fields, each named by JSON pointer (also a key given twice in its object, "
    "or text with a NUL character or an unpaired surrogate), or a query parameter given "
    "twice or not taken here; nothing was changed",
    429: "Too many requests, or too many failed logins or token checks; see Retry-After",
    503: "A dependency is unreachable; nothing was stored; see Retry-After",
}


def _shaped_texts(op: Operation) -> dict[int, str]:
    """The general texts that depend on what the operation reads: no body (only its path
    and query), form fields, or the intake's JSON body (which the database may refuse)."""
    if op.form:
        return {
            415: "Body is not form fields (application/x-www-form-urlencoded)",
            422: "Invalid form fields, each named by pointer (/username, ...); nothing was changed",
        }
    if op.request is None:
        return {422: "A path or query parameter is invalid, named by pointer (/limit, ...); "
                "nothing was changed"}  # fmt: skip
    if op.request is MeldingIn:
        return {422: _ERROR_TEXT[422].removesuffix("; nothing was changed") + ", or a "
                "melding with a value the database refused (type .../unstorable, no "
                "errors); nothing was stored"}  # fmt: skip
    return {}


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri-reference"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["pointer", "detail"],
                "properties": {
                    "pointer": {"type": "string", "description": "RFC 6901 JSON pointer"},
                    "detail": {"type": "string"},
                },
            },
        },
    },
}


def _models(
    answer: type[BaseModel] | tuple[type[BaseModel], ...] | None,
) -> tuple[type[BaseModel], ...]:
    if answer is None:
        return ()
    return answer if isinstance(answer, tuple) else (answer,)


class _Schema(GenerateJsonSchema):
    """Request strings say what the service takes: a string without a shape of its own
    (a pattern, a format, a list of values) gets the pattern of text the database can
    store, with its least length counted as the service counts it, after stripping."""

    def str_schema(self, schema: core_schema.StringSchema) -> JsonSchemaValue:
        found = super().str_schema(schema)
        if self.mode == "validation" and not {"pattern", "format", "enum", "const"} & found.keys():
            found["pattern"] = text_pattern(schema.get("min_length") or 0, schema.get("max_length"))
            found.pop("maxLength", None)  # in the pattern, counted after stripping
        return found


def _finish_strings(node: Any, lists: dict[str, list[str]]) -> None:
    """Give each string marked with VOCABULARY the configuration's codes as its enum; and
    drop the maxLength of a shaped string, whose pattern bounds what the service counts
    (the stripped value), as a maxLength would count surrounding whitespace too."""
    if isinstance(node, dict):
        if str(node.get("pattern", "")).startswith(SHAPED):
            node.pop("maxLength", None)
        kind = node.pop(VOCABULARY, None)
        if kind is not None and kind.endswith(LIST_OF):  # codes separated by commas
            codes = lists[kind.removesuffix(LIST_OF)]
            one = "(?:" + "|".join(map(re.escape, codes)) + ")"
            node["pattern"] = f"^{one}(?:,{one}){{0,{len(codes) - 1}}}$"
        elif kind is not None:  # on the string itself, or beside the null it may also be
            strings = [b for b in node.get("anyOf", []) if b.get("type") == "string"] or [node]
            for string in strings:
                string["enum"] = lists[kind]
                string.pop("pattern", None)
        for value in node.values():
            _finish_strings(value, lists)
    elif isinstance(node, list):
        for value in node:
            _finish_strings(value, lists)


def build_openapi(
    *, signals: list[str], gebieden: list[str], now: datetime | None = None
) -> dict[str, Any]:
    """The document for a configuration's signal codes and gebieden; ``now`` (the
    service's clock) dates the examples of bodies that must be recent."""
    examples = request_examples(signals=signals, gebieden=gebieden,
                                now=now or datetime.now(UTC))  # fmt: skip
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = []
    for op in OPERATIONS:
        if op.request is not None:
            models.append((op.request, "validation"))
        models += [(m, "serialization") for answer in op.responses.values()
                   for m in _models(answer)]  # fmt: skip
    keys, defs = models_json_schema(
        list(dict.fromkeys(models)), ref_template=_REF, schema_generator=_Schema
    )
    schemas: dict[str, Any] = dict(defs.get("$defs", {}))
    schemas["Problem"] = PROBLEM_SCHEMA

    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        responses: dict[str, Any] = {}
        for status, answer in op.responses.items():
            # Several models when the answer depends on who asks: anyOf, not oneOf, as
            # the answer models are open (a MeldingOut is a MeldingAsSent too).
            schemas_of = [keys[(m, "serialization")] for m in _models(answer)]
            content = (
                {"application/json": {"schema": schemas_of[0] if len(schemas_of) == 1
                                      else {"anyOf": schemas_of}}}
                if schemas_of
                else {"text/event-stream" if op.stream else "text/plain":
                      {"schema": {"type": "string"}}}
            )  # fmt: skip
            if op.page:
                content = {"text/html": {"schema": {"type": "string"}}}
            if status == 302:
                responses["302"] = {
                    "description": "To the place in Location",
                    "headers": {"Location": {"schema": {"type": "string"}}},
                }
                continue
            responses[str(status)] = {
                "description": " or ".join(m.__name__ for m in _models(answer)) or "OK",
                **({} if status == 204 else {"content": content}),
            }
        texts = {**_ERROR_TEXT, **_shaped_texts(op), **dict(op.error_texts)}
        # Any caller may be told to slow down (throttle.py), and that a query parameter is
        # one the operation does not take or is given twice (app.py), public ones aside.
        for status in (*op.errors, *(() if op.public else (422, 429))):
            responses.setdefault(
                str(status),
                {
                    "description": texts[status],
                    "content": {
                        "application/problem+json": {
                            "schema": {"$ref": _REF.format(model="Problem")}
                        }
                    },
                },
            )
        entry: dict[str, Any] = {
            "summary": op.summary,
            "tags": [op.tag],
            "operationId": op.handler.__name__,
            "responses": responses,
        }
        if op.policy is not None:
            entry["description"] = f"Who may call it: {op.policy.describe()}"
            entry["x-callers"] = [c for c in CALLERS if c in op.policy.callers]
        params = [seg[1:-1] for seg in op.path.split("/") if seg.startswith("{")]
        parameters: list[dict[str, Any]] = [
            {"name": p, "in": "path", "required": True,
             "schema": {"type": "string"} if p in op.code_params
             else ID_NUMBER if p in op.number_params
             else {"type": "string", "format": "uuid"}}
            for p in params
        ] + [
            {"name": name, "in": "query", "required": False, "description": text,
             "schema": schema}
            for name, text, schema in op.query
        ] + [
            {"name": name, "in": "header", "required": False, "description": text,
             "schema": schema}
            for name, text, schema in op.headers
        ]  # fmt: skip
        if parameters:
            entry["parameters"] = parameters
        if op.request is not None:
            media = "application/x-www-form-urlencoded" if op.form else "application/json"
            entry["requestBody"] = {
                "required": not op.request_optional,
                "content": {media: {"schema": keys[(op.request, "validation")]}},
            }
            example = examples.get(op.request)
            if example is not None:
                entry["requestBody"]["content"][media]["example"] = example
        if op.public:
            entry["security"] = []
        paths.setdefault(op.path, {})[op.method.lower()] = entry

    lists = {"signals": signals, "gebieden": gebieden,
             "gebieden_and_pool": [*gebieden, REGIONAL_POOL]}  # fmt: skip
    _finish_strings(schemas, lists)
    _finish_strings(paths, lists)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "triage",
            "version": __version__,
            "description": "Triage and dispatch of meldingen for crisis intake desks.",
        },
        "tags": [{"name": name, "description": text} for name, text in TAGS],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A source system's token, a person's API token (both "
                    "trg_...), or a person's JWT from the identity provider.",
                },
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": SESSION_COOKIE,
                    "description": "A person's browser session: the cookie that POST "
                    "/auth/login or the identity provider's login sets. A change made "
                    "through it must come from this service's own pages. On the "
                    "documentation page (/api/docs), log in first (POST /auth/login, or "
                    "the console): the browser then sends the cookie with every try; "
                    "there is nothing to fill in here.",
                },
            },
        },
        "security": [{"bearer": []}, {"session": []}],
    }
