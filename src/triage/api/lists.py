"""The list and search endpoints: their query parameters read, one function called.

The console's pages read the same parameters with the same functions (``filter_of``,
``cases_query``), so a filter in the address bar of a page works as it does on the API.
A parameter given must have a value (the document's patterns say so); a page drops the
empty fields its form sends ("alle") before reading them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

from aiohttp import web

from triage.api.handlers import (
    connection,
    dated,
    endpoint_of,
    json_body,
    json_response,
    principal_of,
    whole_number,
)
from triage.api.keys import REQUEST_ID, RUNTIME
from triage.lists import cases as case_list
from triage.lists import households, werkvoorraad
from triage.lists.werkvoorraad import Filter
from triage.problems import FieldError, invalid
from triage.region import REGIONAL_POOL
from triage.vocabulary import WAITING, Level, Source

#: The earliest and latest time a window's bound takes.
_TIMES = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2999, 12, 31, tzinfo=UTC))
#: A staff id as the network file writes them (routing/network.py, StaffId).
STAFF_ID = "^[a-z][a-z0-9.-]{1,63}$"
_STAFF_ID = re.compile(STAFF_ID, re.ASCII)
#: Page sizes: what a page shows unless asked, and the most it shows.
PAGE, MOST = 50, 200


def codes(query: Mapping[str, str], name: str, allowed: list[str]) -> tuple[str, ...] | None:
    """A comma-separated list of codes (``level=crisis,acuut``); None when not given."""
    raw = query.get(name)
    if raw is None:
        return None
    given = tuple(dict.fromkeys(x.strip() for x in raw.split(",")))
    unknown = [x for x in given if x not in allowed]
    if unknown or len(given) > len(allowed):
        raise invalid([FieldError(f"/{name}", "one or more of " + ", ".join(allowed)
                                  + ", separated by commas",
                                  "kies uit " + ", ".join(allowed))])  # fmt: skip
    return given


def moment(query: Mapping[str, str], name: str) -> datetime | None:
    """A time with its offset (RFC 3339), from 2000 to 2999; None when not given."""
    raw = query.get(name)
    if raw is None:
        return None
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        raise invalid([FieldError(f"/{name}", "a time with its offset, such as "
                                  "2026-11-28T09:00:00+01:00",
                                  "geef een datum en tijd")])  # fmt: skip
    # Nothing lies outside these years: a bound beyond them is the same as them (and a
    # time near year 1 or 9999 would not survive the conversion to UTC).
    return min(max(at, _TIMES[0]), _TIMES[1])


def limit_of(query: Mapping[str, str]) -> int:
    raw = query.get("limit")
    return PAGE if raw is None else whole_number(raw, "limit", most=MOST)


def filter_of(query: Mapping[str, str], gebieden: list[str]) -> Filter:
    """The werkvoorraad's filter from query parameters (API and console alike)."""
    review = query.get("review")
    if review not in (None, "true", "false"):
        raise invalid([FieldError("/review", "true (only those a review waits for) or false")])
    order = query.get("order", "urgency")
    if order not in ("urgency", "deadline"):
        raise invalid([FieldError("/order", "urgency (most urgent first, then nearest "
                                  "deadline) or deadline (nearest deadline first)")])  # fmt: skip
    # A window that ends before it starts holds nothing (not an error: a list).
    received_from, received_until = moment(query, "received_from"), moment(query, "received_until")
    return Filter(
        statuses=codes(query, "status", list(WAITING)) or WAITING,
        gebieden=codes(query, "gebied", [*gebieden, REGIONAL_POOL]),
        levels=cast("tuple[Level, ...] | None",
                    codes(query, "level", [x.value for x in Level if x != Level.advies])),
        sources=cast("tuple[Source, ...] | None", codes(query, "source", list(Source))),
        received_from=received_from, received_until=received_until,
        review=review == "true", by_urgency=order == "urgency",
    )  # fmt: skip


def cases_query(query: Mapping[str, str], gebieden: list[str]) -> dict[str, Any]:
    """The cases list's parameters, as keyword arguments of ``lists.cases.cases``."""
    gebied = codes(query, "gebied", [*gebieden, REGIONAL_POOL])
    if gebied is not None and len(gebied) > 1:
        raise invalid([FieldError("/gebied", "one gebied")])
    status = codes(query, "status", ["open", "closed"])
    if status is not None and len(status) > 1:
        raise invalid([FieldError("/status", "open or closed")])
    lead = query.get("lead")
    if lead is not None and _STAFF_ID.fullmatch(lead) is None:
        raise invalid([FieldError("/lead", "a staff id of the network file, such as "
                                  "sp-tilburg-1")])  # fmt: skip
    return {
        "gebied": gebied[0] if gebied else None, "status": status[0] if status else None,
        "lead": lead, "after": query.get("after"),
    }  # fmt: skip


async def get_meldingen(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    wanted = filter_of(request.query, runtime.region.gebied_codes)
    async with connection(request) as conn:
        found = await werkvoorraad.werkvoorraad(
            conn, principal_of(request), wanted, after=request.query.get("after"),
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
    search = await json_body(request, dated(request, households.HouseholdSearchIn))
    async with connection(request) as conn:
        found = await households.search_households(
            conn, principal_of(request), search, now=runtime.clock.now(),
            endpoint=endpoint_of(request), request_id=request[REQUEST_ID],
        )  # fmt: skip
    return json_response(found)
