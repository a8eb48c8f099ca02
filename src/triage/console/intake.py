"""The desk's phone: a new melding typed in while the caller is on the line.

The form becomes the same JSON body a source system sends and goes through the same
parse and intake (``runtime.intake``): the same checks, the same recognition and scoring,
the same audit. The form carries an external id made when it was opened, so sending it
twice (a double click, a reload) stores one melding, as a source's retry does. Field
errors come back beside the fields the API names.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import uuid4

import orjson
from aiohttp import web
from pydantic import ValidationError

from triage.api import handlers as h
from triage.api import strict_json
from triage.api.keys import ORIGIN, PRINCIPAL, REQUEST_ID, RUNTIME
from triage.auth.principal import Principal
from triage.console.pages import form_fields, see_other
from triage.console.render import page
from triage.problems import FieldError, Problem
from triage.problems_nl import said
from triage.region import REGIONAL_POOL
from triage.routing.gebied import OUTSIDE
from triage.vocabulary import Category, Kind, PersonRole, Source, UserRole

#: Person rows on the form; an empty row is left out. Six: both parents and four
#: children, the households a desk most often types in whole (four left out a fifth).
PERSON_ROWS = 6
_PERSON_FIELDS = ("role", "voornaam", "tussenvoegsel", "achternaam", "geboortedatum", "bsn")
_ADDRESS_FIELDS = ("postcode", "huisnummer", "toevoeging", "straat", "woonplaats")


def own_source(me: Principal) -> Source:
    """The desk's own source: CIT takes calls as the CIT, the desk as the meldpunt."""
    return Source.cit if me.role == UserRole.cit else Source.meldpunt


def _form_page(
    request: web.Request,
    given: dict[str, str],
    errors: list[FieldError],
    status: int = 200,
    checked: list[str] | None = None,
) -> web.Response:
    runtime = request.app[RUNTIME]
    rules = runtime.rules
    by_field: dict[str, str] = {}
    for error in errors:
        by_field.setdefault(error.pointer.strip("/").replace("/", "."), error.tekst or error.detail)
    local = runtime.network.local(runtime.clock.now())
    return page(
        request, "nieuwe_melding.html", status, echo=False, given=given, errors=by_field,
        problems=errors, external_id=given.get("external_id") or f"TEL-{uuid4().hex[:16]}",
        received_at=given.get("received_at") or local.strftime("%Y-%m-%dT%H:%M"),
        own=own_source(request[PRINCIPAL]).value,
        kinds=list(Kind), categories=[(c.value, rules.categories[c].label) for c in Category],
        signals=[(code, s.label, s.description) for code, s in rules.signals.items()],
        roles=list(PersonRole), rows=range(PERSON_ROWS), checked=checked or [],
    )  # fmt: skip


async def get_new(request: web.Request) -> web.Response:
    return _form_page(request, {}, [])


def _body(
    fields: dict[str, str], signals: list[str], zone: Any, source: Source
) -> tuple[dict[str, Any], list[int]]:
    """The API's body from the form's fields (empty ones left out), as ``source``: the
    desk's own, whatever the form sent (a call taken here is the desk's melding, and
    another source's external ids are that source's to give); with the form's row of
    each person sent (an empty row is left out, so the n-th person need not be row n)."""
    given = {k: v.strip() for k, v in fields.items()}
    received = given.get("received_at", "")
    try:  # the form's local time (datetime-local) with the region's offset
        at = datetime.fromisoformat(received)
        received = (at if at.tzinfo else at.replace(tzinfo=zone)).isoformat()
    except ValueError:
        pass  # the parse names the field
    address = {k: given[k] for k in _ADDRESS_FIELDS if given.get(k)}
    persons, rows = [], []
    for row in range(PERSON_ROWS):
        person = {k: given.get(f"p{row}_{k}", "") for k in _PERSON_FIELDS}
        if any(person[k] for k in _PERSON_FIELDS if k != "role"):
            persons.append({k: v for k, v in person.items() if v})
            rows.append(row)
    return {
        "source": source.value, "external_id": given.get("external_id", ""),
        "received_at": received, "kind": given.get("kind", ""),
        "category": given.get("category", ""), "signals": signals,
        "summary": given.get("summary", ""), "address": address or None, "persons": persons,
    }, rows  # fmt: skip


def _form_pointer(error: FieldError, rows: list[int]) -> FieldError:
    """``/persons/1/bsn`` is the field ``p{row}_bsn`` of the form row the second person
    sent was typed in; ``/address/x`` is ``x``."""
    parts = error.pointer.strip("/").split("/")
    if len(parts) >= 3 and parts[0] == "persons" and parts[1].isdigit():
        index = int(parts[1])
        row = rows[index] if index < len(rows) else index
        return replace(error, pointer=f"/p{row}_{parts[2]}")
    if len(parts) >= 2 and parts[0] == "address":
        return replace(error, pointer=f"/{parts[1]}")
    return error


#: What the desk's form asks beyond the API: the call's own words. A source system may
#: send signals alone; a call taken here without a word of what was said is a mistake.
_NO_SUMMARY = FieldError("/summary", "say what was reported", "beschrijf wat er gemeld is")


async def post_new(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    fields = await form_fields(request, repeated=frozenset({"signals"}))
    signals = fields.repeated["signals"]
    body, rows = _body(fields, signals, runtime.network.zone, own_source(request[PRINCIPAL]))
    asked = [] if body["summary"] else [_NO_SUMMARY]
    raw = orjson.dumps(body)
    try:
        strict_json.check(raw)
        runtime.intake.admit()
        melding = runtime.intake.parse(raw)
    except ValidationError as exc:
        errors = [_form_pointer(e, rows) for e in h.field_errors(exc)]
        return _form_page(request, fields, [*errors, *asked], 422, signals)
    except Problem as problem:
        if problem.status >= 500 and problem.status != 503:
            raise
        errors = [_form_pointer(e, rows) for e in problem.errors]
        whole_form = FieldError("", problem.detail, said(problem))
        return _form_page(request, fields, errors or [whole_form], problem.status, signals)
    if asked:
        return _form_page(request, fields, asked, 422, signals)
    submitted = await runtime.intake.submit(
        melding, request[PRINCIPAL], request_id=request[REQUEST_ID],
        endpoint=h.endpoint_of(request), origin=request.get(ORIGIN), on_behalf_of=None,
    )  # fmt: skip
    done = "opgeslagen" if submitted.created else "al eerder opgeslagen"
    return see_other(f"/meldingen/{submitted.accepted.melding_id}?gedaan={done.replace(' ', '+')}")


_PC4 = re.compile(r"[1-9][0-9]{3}")


async def get_gebied_hint(request: web.Request) -> web.Response:
    """The gebied a postcode's four digits (else a woonplaats) put a melding in, for the
    form as it is typed. Only the digits are sent: the query is in the address, which
    proxies log, and the whole postcode with the number nearly names the household."""
    region = request.app[RUNTIME].region
    pc4 = request.query.get("pc4", "")
    place = request.query.get("woonplaats", "").strip()
    if _PC4.fullmatch(pc4):
        found = region.gebied_for_postcode(pc4)
        answer = {"gebied": found or REGIONAL_POOL, "note": None if found else OUTSIDE}
        answer["naam"] = region.names[answer["gebied"] or REGIONAL_POOL]
    elif place:
        found = region.gebied_for_place(place)
        answer = {
            "gebied": found,
            "note": None if found else "Woonplaats niet bekend in de regio.",
            "naam": region.names[found] if found else None,
        }
    else:
        answer = {"gebied": None, "note": None, "naam": None}
    return web.Response(body=orjson.dumps(answer), content_type="application/json")
