"""The list and search endpoints: their query parameters read, one function called.

The console's pages read the same parameters with the same functions (``filter_of``,
``cases_query``), so a filter in the address bar of a page works as it does on the API.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

from aiohttp import web

from triage.api.handlers import (
    connection,
    endpoint_of,
    json_body,
    json_response,
    principal_of,
    whole_number,
)
from triage.api.keys import REQUEST_ID, RUNTIME
from triage.lists import cases as case_list
from triage.lists import households, werkvoorraad
from triage.lists.werkvoorraad import WAITING, Filter
from triage.problems import FieldError, invalid
from triage.region import REGIONAL_POOL
from triage.vocabulary import Level, Source

#: The earliest and latest time a window may name (beyond, the arithmetic on it fails).
_TIMES = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2999, 12, 31, tzinfo=UTC))
#: Page sizes: what a page shows unless asked, and the most it shows.
PAGE, MOST = 50, 200


def codes(query: Mapping[str, str], name: str, allowed: list[str]) -> tuple[str, ...] | None:
    """A comma-separated list of codes (``level=crisis,acuut``); None when not given."""
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    given = tuple(dict.fromkeys(x.strip() for x in raw.split(",")))
    unknown = [x for x in given if x not in allowed]
    if unknown or len(given) > len(allowed):
        raise invalid([FieldError(f"/{name}", "one or more of " + ", ".join(allowed)
                                  + ", separated by commas")])  # fmt: skip
    return given


def moment(query: Mapping[str, str], name: str) -> datetime | None:
    """A time with its offset (RFC 3339), from 2000 to 2999; None when not given."""
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        at = None
    if at is None or at.tzinfo is None or not _TIMES[0] <= at <= _TIMES[1]:
        raise invalid([FieldError(f"/{name}", "a time with its offset, such as "
                                  "2026-11-28T09:00:00+01:00, from 2000 to 2999")])  # fmt: skip
    return at


def limit_of(query: Mapping[str, str]) -> int:
    raw = query.get("limit")
    return PAGE if raw is None else whole_number(raw, "limit", most=MOST)


def filter_of(query: Mapping[str, str], gebieden: list[str]) -> Filter:
    """The werkvoorraad's filter from query parameters (API and console alike)."""
    review = query.get("review")
    if review not in (None, "", "true", "false"):
        raise invalid([FieldError("/review", "true (only those a review waits for) or false")])
    received_from, received_until = moment(query, "received_from"), moment(query, "received_until")
    if received_from and received_until and received_until <= received_from:
        raise invalid([FieldError("/received_until", "after received_from")])
    return Filter(
        statuses=codes(query, "status", list(WAITING)) or WAITING,
        gebieden=codes(query, "gebied", [*gebieden, REGIONAL_POOL]),
        levels=cast("tuple[Level, ...] | None",
                    codes(query, "level", [x.value for x in Level if x != Level.advies])),
        sources=cast("tuple[Source, ...] | None", codes(query, "source", list(Source))),
        received_from=received_from, received_until=received_until,
        review=review == "true",
    )  # fmt: skip


def cases_query(query: Mapping[str, str], gebieden: list[str]) -> dict[str, Any]:
    """The cases list's parameters, as keyword arguments of ``lists.cases.cases``."""
    gebied = codes(query, "gebied", [*gebieden, REGIONAL_POOL])
    if gebied is not None and len(gebied) > 1:
        raise invalid([FieldError("/gebied", "one gebied")])
    status = codes(query, "status", ["open", "closed"])
    if status is not None and len(status) > 1:
        raise invalid([FieldError("/status", "open or closed")])
    lead = query.get("lead") or None
    if lead is not None and (len(lead) > 64 or not lead.isprintable()):
        raise invalid([FieldError("/lead", "a staff id of the network file")])
    return {
        "gebied": gebied[0] if gebied else None, "status": status[0] if status else None,
        "lead": lead, "after": query.get("after") or None,
    }  # fmt: skip


async def get_meldingen(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    wanted = filter_of(request.query, runtime.region.gebied_codes)
    async with connection(request) as conn:
        found = await werkvoorraad.werkvoorraad(
            conn, principal_of(request), wanted, after=request.query.get("after") or None,
            limit=limit_of(request.query),
        )  # fmt: skip
    return json_response(found)


async def get_cases(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    asked = cases_query(request.query, runtime.region.gebied_codes)
    async with connection(request) as conn:
        found = await case_list.cases(conn, principal_of(request), **asked,
                                      limit=limit_of(request.query))  # fmt: skip
    return json_response(found)


async def post_household_search(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    search = await json_body(request, households.HouseholdSearchIn.model_validate_json)
    async with connection(request) as conn:
        found = await households.search_households(
            conn, principal_of(request), search, now=runtime.clock.now(),
            endpoint=endpoint_of(request), request_id=request[REQUEST_ID],
        )  # fmt: skip
    return json_response(found)
