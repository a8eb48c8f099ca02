"""Schemathesis hooks for tests/test_schema_conformance.py: the three rules of an intake
body that JSON Schema cannot state, applied to the bodies it generates as valid, so that
they are valid for the service too (and reach recognition, scoring and the database).

- ``received_at`` lies within the last 30 days (and at most 5 minutes ahead): relative to
  now, which a schema cannot say. A generated date-time is moved to now.
- A BSN passes the elfproef (an arithmetic check over its digits): a generated BSN of the
  schema's shape becomes nine digits with the check digit that makes it pass.
- A birth date lies between 1900 and today: one outside becomes the nearest end.
  (The BSN and birth date of a household search likewise.)
- A source sends each melding with an id of its own (``external_id``): a generated one
  gets a unique suffix, or every body after the first would be a replay of another (409).
- An API client submits as its own source (``TRIAGE_SCHEMA_SOURCE``): that is
  authorisation, not shape; a body for another source would be a 403.

Only values of the right shape are touched: a generated invalid value (a negative case:
not a date-time, not nine digits) stays invalid, so the service must still refuse it.
"""

from __future__ import annotations

import os
import re
import uuid
from datetime import UTC, date, datetime
from typing import Any

import schemathesis
from hypothesis.internal import lambda_sources

from triage.vocabulary import Source

_describe_lambda = lambda_sources.lambda_description


def _lambda_description(f: Any) -> str:
    """Hypothesis names each filter by parsing its lambda's source for a repr. CPython 3.11
    sometimes fails inside that parse ("AST constructor recursion depth mismatch", an
    interpreter bug, seen in about one run in ten): the run then stops with a runtime
    error that says nothing about the service. A name is only a name: use a plain one."""
    try:
        return _describe_lambda(f)
    except SystemError:
        return "lambda: <unknown>"


lambda_sources.lambda_description = _lambda_description

_BSN = re.compile(r"[ .]*(?:[0-9][ .]*){8,9}")
_SOURCES = {s.value for s in Source}
_WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + ("\u2028\u2029\u202f\u205f\u3000")
)
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", re.IGNORECASE)


@schemathesis.hook
def before_call(ctx: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """Every case of every phase (the documented examples too) just before it is sent."""
    if case.method.upper() == "POST" and case.path == "/api/v1/meldingen":
        make_real(case.body)
    search = case.method.upper() == "POST" and case.path == "/api/v1/households/search"
    if search and isinstance(case.body, dict):  # its BSN and birth date: the rules below
        _real_person(case.body)


def make_real(body: Any) -> None:
    """The rules above, on a generated intake body, in place."""
    if not isinstance(body, dict):
        return
    if isinstance(body.get("received_at"), str) and _RFC3339.fullmatch(body["received_at"]):
        body["received_at"] = datetime.now(UTC).replace(microsecond=0).isoformat()
    external_id = body.get("external_id")
    valid_id = isinstance(external_id, str) and 1 <= len(_strip(external_id)) <= 128
    if valid_id and "\x00" not in external_id:  # and still valid: at most 128 characters
        body["external_id"] = f"{_strip(external_id)[:95]}-{uuid.uuid4().hex}"
    source = os.environ.get("TRIAGE_SCHEMA_SOURCE")
    if source and isinstance(body.get("source"), str) and body["source"] in _SOURCES:
        body["source"] = source
    persons = body.get("persons")
    for person in persons if isinstance(persons, list) else []:
        if isinstance(person, dict):
            _real_person(person)


def _real_person(person: dict[str, Any]) -> None:
    """A BSN that passes the elfproef, a birth date from 1900 to today (in place)."""
    bsn = person.get("bsn")
    if isinstance(bsn, str) and _BSN.fullmatch(_strip(bsn)):
        person["bsn"] = _passing(re.sub(r"[ .]", "", _strip(bsn)).zfill(9))
    born = person.get("geboortedatum")
    if isinstance(born, str):
        try:
            day = date.fromisoformat(born)
        except ValueError:
            return
        person["geboortedatum"] = min(max(day, date(1900, 1, 1)), date.today()).isoformat()


def _strip(text: str) -> str:
    """As the service strips (request_body.WHITESPACE), not as ``str.strip()`` does."""
    return text.strip(_WHITESPACE)


def _passing(bsn: str) -> str:
    """``bsn`` with its last digit changed so that it passes the elfproef, or its eighth
    too when no last digit can (the first eight give a remainder of 10)."""
    digits = [int(d) for d in bsn]
    for eighth in (digits[7], *range(10)):
        first = [*digits[:7], eighth]
        check = sum(d * w for d, w in zip(first, range(9, 1, -1), strict=True)) % 11
        if check < 10 and any(first):
            return "".join(map(str, first)) + str(check)
    return "111222333"
