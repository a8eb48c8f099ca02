"""The console's pages and forms, one handler each (routed by ``routes.py``).

A page reads through the functions the API calls (the werkvoorraad, the audited reads of
a melding and a case, the household search) and a form changes through the same commands
(urgency override, link, review, answers, first contact), whose effects go to the one
after-commit stage. A change answers 303 back to the page it came from, so a reload never
posts twice; a refusal shows the page again with the reason, in the status the API gives.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from typing import Any
from urllib.parse import quote, urlencode
from uuid import UUID

import asyncpg
import orjson
from aiohttp import web
from pydantic import ValidationError

from triage.api import handlers as h
from triage.api import lists as api_lists
from triage.api import strict_json
from triage.api.headers import from_elsewhere
from triage.api.keys import PRINCIPAL, RUNTIME
from triage.auth import sessions
from triage.auth.principal import Principal
from triage.cases import control, handover, milestones, notes
from triage.cases.read import (
    HandoverToMeOut,
    also_open,
    audit_trail,
    handovers_to,
    led_addresses,
    moved_by_hand,
    open_handover,
    past_handovers,
    read_case,
    read_melding,
    reason_is_valid,
)
from triage.console.render import SENT, check_csrf, fragment, page
from triage.dispatch import answers, manual, views
from triage.effects import Done
from triage.intake.models import AddressOut, CandidateOut, ContributionOut, DedupOut, MeldingOut
from triage.lists import cases as case_list
from triage.lists import households
from triage.lists.people import group
from triage.lists.werkvoorraad import werkvoorraad
from triage.problems import Problem, invalid, not_found
from triage.problems_nl import said
from triage.routing import roster_changes
from triage.routing.roster import absent_at, on_duty
from triage.scoring.override import UrgencyOverrideIn, override_urgency
from triage.vocabulary import Level, UserRole

U = UserRole


def _melding_id(request: web.Request) -> UUID:
    return h.id_param(request, "melding_id", "no melding with this id")


def _local(target: str | None) -> str:
    """Where to go after login: a path of this service only, never another site. Not
    "//host", not "/\\host", and no whitespace or control characters: browsers drop a
    tab or newline from a URL, and "/<tab>/host" would become "//host"."""
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and target.isprintable()
        and not any(c.isspace() for c in target)
    ):
        return target
    return "/"


def see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


async def form_fields(
    request: web.Request, *, repeated: frozenset[str] = frozenset()
) -> h.FormFields:
    fields = await h.form_of(request, "the form's fields", repeated=repeated)
    check_csrf(request, fields)
    request[SENT] = fields
    return fields


def _reason(fields: dict[str, str]) -> str:
    return fields.get("reason", "").strip()


# -- login and logout ---------------------------------------------------------------


#: Said on the login page when a form was sent after the session had ended.
ENDED = ("Je sessie was verlopen: wat je net verstuurde is niet opgeslagen. Log opnieuw in "
         "en verstuur het nog eens.")  # fmt: skip


async def get_login(request: web.Request) -> web.Response:
    ended = request.query.get("verlopen") == "1"
    return page(request, "login.html", next=_local(request.query.get("next")),
                error=ENDED if ended else None, username="")  # fmt: skip


async def get_session_alive(request: web.Request) -> web.Response:
    """204 while the session lasts: asked by a page while someone types in one of its
    forms (console.js), which counts as use of the session, so that a long call typed in
    does not find it ended when it is sent. A page nobody types in still ends."""
    return web.Response(status=204)


async def post_login(request: web.Request) -> web.Response:
    if from_elsewhere(request):
        return page(request, "login.html", 403, next="/", username="",
                    error="Log in op de inlogpagina van deze dienst zelf.")  # fmt: skip
    fields = await h.form_of(request, "username and password")
    target = _local(fields.get("next"))
    username = fields.get("username", "")
    try:
        given = sessions.LoginIn.model_validate(
            {k: fields.get(k) for k in ("username", "password")}
        )
        started = await h.log_in(request, given)
    except ValidationError:
        return page(request, "login.html", 422, next=target, username=username,
                    error="Vul je gebruikersnaam en wachtwoord in.")  # fmt: skip
    except Problem as problem:
        text = ("Gebruikersnaam of wachtwoord klopt niet." if problem.status == 401
                else "Te veel pogingen; wacht even en probeer het opnieuw."
                if problem.status == 429 else said(problem))  # fmt: skip
        return page(request, "login.html", problem.status, next=target, username=username,
                    error=text)  # fmt: skip
    response = see_other(target)
    h.set_session_cookie(response, started, request.app[RUNTIME].settings.session_hours)
    return response


async def post_logout(request: web.Request) -> web.Response:
    await form_fields(request)
    runtime = request.app[RUNTIME]
    session_id = request.cookies.get(sessions.COOKIE)
    if session_id:
        await sessions.log_out(runtime.pool, session_id, runtime.clock.now(),
                               audit=await h.session_audit(request))  # fmt: skip
    response = see_other("/login")
    response.del_cookie(sessions.COOKIE, path="/", secure=True, httponly=True,
                        samesite="Strict")  # fmt: skip
    return response


# -- start, werkvoorraad -------------------------------------------------------------


async def get_start(request: web.Request) -> web.Response:
    """The person's start page: the werkvoorraad at the desk, their own work for the
    network, beheer for ops and admin."""
    me: Principal = request[PRINCIPAL]
    if me.role == U.specialist:
        return await get_my_work(request)
    if me.role in (U.operator, U.cit, U.coordinator):
        return await get_werkvoorraad(request)
    return see_other("/beheer")  # ops and admin


#: The werkvoorraad page's "received within" choice: a window up to now (the API takes
#: received_from as a time; a desk thinks in "the last hours").
RECEIVED_WITHIN = {"1u": ("laatste uur", 1), "24u": ("laatste 24 uur", 24),
                   "7d": ("laatste 7 dagen", 24 * 7)}  # fmt: skip


async def _rows(request: web.Request) -> tuple[dict[str, Any], Problem | None]:
    runtime = request.app[RUNTIME]
    # A form sends every field, "alle" as an empty one: not given, for the API's reader.
    query: Mapping[str, str] = {k: v for k, v in request.query.items() if v}
    within = RECEIVED_WITHIN.get(query.get("ontvangen", ""))
    if within is not None:
        since = runtime.clock.now() - timedelta(hours=within[1])
        query = {**query, "received_from": since.isoformat()}
    try:
        wanted = api_lists.filter_of(query, runtime.region.gebied_codes)
        async with h.connection(request) as conn:
            found = await werkvoorraad(conn, request[PRINCIPAL], wanted,
                                       after=query.get("after"),
                                       limit=api_lists.limit_of(query))  # fmt: skip
    except Problem as problem:
        if problem.status not in (403, 422):
            raise
        return {"rows": [], "next": None}, problem
    more = None
    if found.next is not None:
        asked = request.query
        more = "?" + urlencode({**{k: v for k, v in asked.items() if k != "after"},
                                "after": found.next})  # fmt: skip
    return {
        "rows": found.meldingen,
        "next": more,
        "names": _names(request),
        "now": runtime.clock.now(),
    }, None


def _names(request: web.Request) -> dict[str, str]:
    network = request.app[RUNTIME].network
    return {s.id: s.naam for s in network.specialists}


async def get_werkvoorraad(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    listed, problem = await _rows(request)
    return page(
        request, "werkvoorraad.html", 200 if problem is None else problem.status,
        problem=problem, query=dict(request.query), gebieden=runtime.region.gebied_codes,
        levels=[x.value for x in Level if x != Level.advies], within=RECEIVED_WITHIN,
        **listed,
    )  # fmt: skip


async def get_werkvoorraad_rows(request: web.Request) -> web.Response:
    listed, problem = await _rows(request)
    if problem is not None:
        raise problem
    return fragment(request, "rows.html", **listed)


# -- a melding ---------------------------------------------------------------------


async def _melding_page(
    request: web.Request, melding_id: UUID, *, status: int = 200, error: str | None = None,
    hits: households.HouseholdSearchOut | None = None, reason: str | None = None,
) -> web.Response:  # fmt: skip
    """The melding; ``reason``: why a specialist reads one that is not their work (the
    matched case is read with it too), stated on the page ``reason_page`` shows them."""
    runtime = request.app[RUNTIME]
    me: Principal = request[PRINCIPAL]
    async with h.connection(request) as conn:
        melding = await read_melding(conn, melding_id, me, reason=reason,
                                     **h.request_context(request))  # fmt: skip
        if melding is None:
            raise not_found("no melding with this id that you may see")
        matched = None
        if melding.dedup.matched_case_id:  # the evidence beside what it was weighed against
            try:
                matched = await read_case(conn, melding.dedup.matched_case_id, me,
                                          reason=reason, **h.request_context(request))  # fmt: skip
            except Problem as refused:  # a specialist's: not theirs to read without reason
                if refused.status != 403:
                    raise
        trail = await audit_trail(conn, melding_id, TRAIL_SHOWN)
        moved = await moved_by_hand(conn, melding_id)
        split = await _also_open(conn, melding, runtime.intake.link_at, me)
    rules = runtime.rules
    weighed, evidence = _evidence(melding.dedup)
    return page(
        request, "melding.html", status, m=melding, matched=matched,
        weighed=weighed, evidence=evidence,
        unweighed=[c for c in melding.dedup.candidates if not c.contributions],
        matched_people=group(matched.persons) if matched else [],
        people=group(melding.persons), error=error, hits=hits,
        signal_labels={code: s.label for code, s in rules.signals.items()},
        names=_names(request), may_edit=me.change_scope() is not None,
        levels=[x.value for x in Level if x != Level.advies],
        purposes=households.PURPOSES, trail=trail, staff=await _staff_of(request, melding.gebied),
        close_outcomes=manual.CLOSE_OUTCOMES,
        gebieden=runtime.region.with_pool, split=split,
        link_at=runtime.intake.link_at,
        moved=moved, trail_shown=TRAIL_SHOWN,
    )  # fmt: skip


#: The audit entries a melding's page shows: the newest (each read is one).
TRAIL_SHOWN = 200


async def _also_open(
    conn: asyncpg.Connection, melding: MeldingOut, link_at: float, me: Principal
) -> list[tuple[CandidateOut, bool]]:
    """Other cases, open now, that recognition found as strongly as the one the melding
    linked to: one household in two cases (one melding not recognised once, another case
    opened for it). Its history is split and two people may be working it; the desk can
    merge them from the melding's page (True: this reader may). Only for a melding still
    in the case it linked to, and for those who may correct (the others see the
    candidates, not whether they are open now); not for a case a person took a melding
    out of into this one, or the other way round: they said it was another household."""
    scope = me.change_scope()
    if (scope is None or melding.dedup.decision != "linked"
            or melding.case_id != melding.dedup.matched_case_id):  # fmt: skip
        return []
    others = [c for c in melding.dedup.candidates
              if c.open and c.case_id != melding.case_id
              and c.score is not None and c.score >= link_at]  # fmt: skip
    if not others:
        return []
    live = await also_open(conn, melding.case_id, [c.case_id for c in others])
    if melding.case_id not in live:
        return []
    mine = scope.everything or live[melding.case_id] == scope.gebied
    return [(c, mine and (scope.everything or live[c.case_id] == scope.gebied))
            for c in others if c.case_id in live]  # fmt: skip


#: The compared fields' names on the page, in the order they are shown.
FIELD_LABELS = {
    "address": "Adres", "households_here": "Huishoudens op het adres", "bsn": "BSN",
    "born": "Geboortedatum", "surname": "Achternaam", "first": "Voornaam",
    "names": "Namen verwisseld", "other_persons": "Meer personen",
}  # fmt: skip

Evidence = list[tuple[str, list[ContributionOut | None]]]


def _evidence(dedup: DedupOut) -> tuple[list[CandidateOut], Evidence]:
    """The candidates kept with their waterfall, side by side: per compared field, what
    each one's comparison found and weighed (None where it compared nothing)."""
    weighed = [c for c in dedup.candidates if c.contributions]
    seen = {step.field for c in weighed for step in c.contributions}
    fields = [f for f in FIELD_LABELS if f in seen] + sorted(seen - FIELD_LABELS.keys())
    return weighed, [
        (FIELD_LABELS.get(f, f), [next((s for s in c.contributions if s.field == f), None)
                                  for c in weighed])
        for f in fields
    ]  # fmt: skip


async def _staff_of(request: web.Request, gebied: str) -> list[tuple[str, str]]:
    """Who a melding of ``gebied`` can be given to by hand (NetworkConfig.may_take), each
    with whether they are on duty or marked absent now: given to someone off duty, it
    waits with them."""
    runtime = request.app[RUNTIME]
    now, network = runtime.clock.now(), runtime.network
    extra = roster_changes.as_changes(await roster_changes.current(runtime.pool, now))
    on = {d.specialist for d in on_duty(network, now, extra)}
    away = absent_at(network, now, extra)
    names = _names(request)
    return [(i, names.get(i, i) + (" (afwezig)" if i in away else " (dienst)" if i in on
                                   else " (geen dienst)"))
            for i in network.may_take(gebied)]  # fmt: skip


async def get_melding(request: web.Request) -> web.Response:
    return await _melding_page(request, _melding_id(request))


#: What a reason to read outside one's work must be (cases.read.reason_is_valid).
_REASON_RULE = ("Schrijf in 10 tot 500 tekens, met minstens drie woorden, waarom je dit "
                "moet lezen.")  # fmt: skip


def reason_page(request: web.Request, *, status: int = 403, reason: str = "",
                error: str | None = None) -> web.Response:  # fmt: skip
    """A specialist asked for a melding or case of their gebied that is not their work
    (the read's problem ``reason-required``, on its page or a form of it): to read it all
    the same they state why (break the glass, as the API's Triage-Access-Reason header);
    the read is audited with the reason and listed for their coordinator. The reason is
    sent in a form's body, never in the address (which lands in the browser's history and
    in logs)."""
    if "melding_id" in request.match_info:
        what, action = "melding", f"/meldingen/{request.match_info['melding_id']}/inzien"
    else:
        what, action = "casus", f"/casussen/{request.match_info['case_id']}/inzien"
    return page(request, "inzien.html", status, echo=False, what=what, action=action, reason=reason,
                error=error)  # fmt: skip


async def _read_stating(
    request: web.Request, show: Callable[[str], Awaitable[web.Response]]
) -> web.Response:
    """``show`` the melding or case with the reason sent (white space folded, as the API's
    header), or the form again when the reason is not one."""
    given = (await form_fields(request)).get("reason", "")
    reason = " ".join(given.split())
    if not reason_is_valid(reason):
        return reason_page(request, status=422, reason=given, error=_REASON_RULE)
    return await show(reason)


async def post_read_melding(request: web.Request) -> web.Response:
    melding_id = _melding_id(request)
    return await _read_stating(
        request, lambda reason: _melding_page(request, melding_id, reason=reason)
    )


async def apply_change(
    request: web.Request,
    run: Callable[[Any], Awaitable[Done[Any]]],
    *,
    refused: Callable[[Problem], Awaitable[web.Response]],
    then: str,
) -> web.Response:
    """Run one change in a transaction of its own, hand its effects on, and go to
    ``then``; a refusal (4xx) shows the page ``refused`` makes with its reason."""
    try:
        async with h.connection(request) as conn:
            result = await run(conn)
    except Problem as problem:
        if problem.status >= 500:
            raise
        return await refused(problem)
    await request.app[RUNTIME].after_commit.apply(result.effects)
    return see_other(then)


async def _change(
    request: web.Request,
    melding_id: UUID,
    run: Callable[[Any], Awaitable[Done[Any]]],
    done: str,
) -> web.Response:
    """One change of a melding: back to the melding, or the melding with the refusal."""
    return await apply_change(
        request, run, then=f"/meldingen/{melding_id}?gedaan={quote(done)}",
        refused=lambda problem: _melding_page(request, melding_id, status=problem.status,
                                              error=said(problem)),
    )  # fmt: skip


def parsed(model: Any, data: dict[str, Any], context: dict[str, Any] | None = None) -> Any:
    """A form's fields read as the API reads the same body (JSON, strict; text the
    database cannot store, such as NUL, refused with the field named); ``context`` as the
    API gives it (``{"now": ...}`` where a birth date is read)."""
    raw = orjson.dumps(data)
    strict_json.check(raw)
    try:
        return model.model_validate_json(raw, context=context)
    except ValidationError as exc:
        raise invalid(h.field_errors(exc)) from None


def _context(request: web.Request) -> control.ChangeContext:
    return control.ChangeContext(principal=request[PRINCIPAL], rules=request.app[RUNTIME].rules,
                                 **h.request_context(request))  # fmt: skip


async def post_urgency(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    melding_id = _melding_id(request)
    fields = await form_fields(request)

    async def run(conn: Any) -> Done[Any]:
        change = parsed(UrgencyOverrideIn, {"level": fields.get("level", ""),
                                             "reason": _reason(fields)})  # fmt: skip
        done = await override_urgency(
            conn, runtime.rules, melding_id, change, request[PRINCIPAL],
            answer_within_minutes=runtime.network.answer_within_minutes,
            **h.request_context(request),
        )  # fmt: skip
        if done is None:
            raise not_found("no melding with this id that you may change")
        return done

    return await _change(request, melding_id, run, "urgentie")


async def _correction(
    request: web.Request, model: Any, body: Callable[[dict[str, str]], dict[str, Any]],
    command: Callable[..., Awaitable[Done[Any]]], done: str,
) -> web.Response:  # fmt: skip
    """A correction of the melding's case (link, unlink, review) from its form's fields."""
    melding_id = _melding_id(request)
    fields = await form_fields(request)

    async def run(conn: Any) -> Done[Any]:
        return await command(conn, melding_id, parsed(model, body(fields)), _context(request))

    return await _change(request, melding_id, run, done)


def _case_and_reason(fields: dict[str, str]) -> dict[str, Any]:
    """The fields of a form that names a case (to link to, to merge) with a reason."""
    return {"case_id": fields.get("case_id", ""), "reason": _reason(fields)}


async def post_link(request: web.Request) -> web.Response:
    return await _correction(request, control.LinkIn, _case_and_reason, control.link_melding,
                             "gekoppeld")  # fmt: skip


async def post_unlink(request: web.Request) -> web.Response:
    return await _correction(request, control.UnlinkIn, lambda f: {"reason": _reason(f)},
                             control.unlink_melding, "ontkoppeld")  # fmt: skip


async def post_merge(request: web.Request) -> web.Response:
    """Another open case joins the melding's (the notice of one household in two cases)."""
    return await _correction(request, control.MergeHereIn, _case_and_reason,
                             control.merge_into_case_of, "samengevoegd")  # fmt: skip


async def post_review(request: web.Request) -> web.Response:
    return await _correction(
        request, control.ReviewDecisionIn,
        lambda f: {"decision": f.get("decision", ""), "reason": _reason(f)},
        control.settle_review, "beoordeeld",
    )  # fmt: skip


async def post_reassign(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    melding_id = _melding_id(request)
    fields = await form_fields(request)

    async def run(conn: Any) -> Done[Any]:
        change = parsed(manual.ReassignIn, {"to": fields.get("to", ""),
                                            "reason": _reason(fields)})  # fmt: skip
        return await manual.reassign(conn, runtime.network, melding_id, change,
                                     request[PRINCIPAL], **h.request_context(request))  # fmt: skip

    return await _change(request, melding_id, run, "toegewezen")


async def post_move(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    melding_id = _melding_id(request)
    fields = await form_fields(request)

    async def run(conn: Any) -> Done[Any]:
        change = parsed(manual.GebiedIn, {"gebied": fields.get("gebied", ""),
                                          "reason": _reason(fields)})  # fmt: skip
        return await manual.move_gebied(conn, runtime.region.with_pool,
                                        melding_id, change, request[PRINCIPAL],
                                        **h.request_context(request))  # fmt: skip

    return await _change(request, melding_id, run, "naar ander gebied")


async def post_close_melding(request: web.Request) -> web.Response:
    melding_id = _melding_id(request)
    fields = await form_fields(request)

    async def run(conn: Any) -> Done[Any]:
        change = parsed(manual.CloseIn, {"outcome": fields.get("outcome", ""),
                                         "reason": _reason(fields)})  # fmt: skip
        return await manual.close_melding(conn, melding_id, change, request[PRINCIPAL],
                                          **h.request_context(request))  # fmt: skip

    return await _change(request, melding_id, run, "afgesloten")


async def post_find_case(request: web.Request) -> web.Response:
    """The household search from a melding's page, to link it to the case found."""
    melding_id = _melding_id(request)
    fields = await form_fields(request)
    try:
        hits = await _searched(request, fields)
    except Problem as problem:
        if problem.status >= 500:
            raise
        return await _melding_page(request, melding_id, status=problem.status,
                                   error=said(problem))  # fmt: skip
    return await _melding_page(request, melding_id, hits=hits)


async def _searched(request: web.Request, fields: dict[str, str]) -> households.HouseholdSearchOut:
    """The household search of a form (the search page's, or a melding's to link it)."""
    search = _search_terms(fields, request.app[RUNTIME].clock.now())
    async with h.connection(request) as conn:
        return await households.search_households(conn, request[PRINCIPAL], search,
                                                  **h.request_context(request))  # fmt: skip


def _search_terms(fields: dict[str, str], now: datetime) -> households.HouseholdSearchIn:
    """The search form's fields as the API's body (empty fields left out), read as the
    API reads it on ``now``."""
    given = {k: v.strip() for k, v in fields.items() if v.strip()}
    body: dict[str, Any] = {"purpose": given.get("purpose", "koppelen")}
    for name in ("toelichting", "achternaam", "tussenvoegsel", "geboortedatum", "bsn"):
        if name in given:
            body[name] = given[name]
    if "postcode" in given or "huisnummer" in given:
        body["adres"] = {"postcode": given.get("postcode"), "huisnummer": given.get("huisnummer")}
    search: households.HouseholdSearchIn = parsed(households.HouseholdSearchIn, body,
                                                  {"now": now})  # fmt: skip
    return search


# -- search, case --------------------------------------------------------------------


async def get_search(request: web.Request) -> web.Response:
    return page(request, "zoeken.html", hits=None, error=None, purposes=households.PURPOSES,
                given={})  # fmt: skip


async def post_search(request: web.Request) -> web.Response:
    fields = await form_fields(request)
    try:
        hits = await _searched(request, fields)
    except Problem as problem:
        if problem.status >= 500:
            raise
        return page(request, "zoeken.html", problem.status, hits=None, error=said(problem),
                    purposes=households.PURPOSES, given=fields)  # fmt: skip
    return page(request, "zoeken.html", hits=hits, error=None, purposes=households.PURPOSES,
                given=fields)  # fmt: skip


def _case_id(request: web.Request) -> UUID:
    return h.id_param(request, "case_id", "no case with this id")


async def _case_page(
    request: web.Request, case_id: UUID, *, status: int = 200, error: str | None = None,
    reason: str | None = None,
) -> web.Response:  # fmt: skip
    me: Principal = request[PRINCIPAL]
    async with h.connection(request) as conn:
        case = await read_case(conn, case_id, me, reason=reason, **h.request_context(request))
        if case is None:
            raise not_found("no case with this id that you may see")
        proposed = await open_handover(conn, case_id)
        handed = await past_handovers(conn, case_id)
    in_network = me.role in (U.specialist, U.coordinator)
    leads = case.lead == me.name or me.role == U.coordinator
    return page(
        request, "casus.html", status, c=case, people=group(case.persons),
        names=_names(request), handover=proposed, handed=handed, error=error,
        may_mark=in_network and leads,
        may_hand_over=in_network and leads and case.status == "open",
        may_take=proposed is not None and proposed.to_lead == me.name,
        # Whom the service lets end it (handover.withdraw): the colleague, the lead, who
        # proposed it, a coordinator (of the gebied: the case's read already checked that).
        may_end=proposed is not None and in_network and (
            me.name in (proposed.to_lead, proposed.from_lead, proposed.requested_by)
            or me.role == U.coordinator),
        may_close=me.change_scope() is not None and case.status == "open",
        may_note=case.status == "open" and (me.change_scope() is not None or case.lead == me.name),
        colleagues=await _staff_of(request, case.gebied), milestone_kinds=milestones.KINDS,
    )  # fmt: skip


async def get_case(request: web.Request) -> web.Response:
    return await _case_page(request, _case_id(request))


async def post_read_case(request: web.Request) -> web.Response:
    case_id = _case_id(request)
    return await _read_stating(request, lambda reason: _case_page(request, case_id, reason=reason))


async def _case_change(
    request: web.Request, run: Callable[[Any], Awaitable[Done[Any]]], done: str
) -> web.Response:
    """As ``_change``, for a case: back to the case, or the case with the refusal."""
    case_id = _case_id(request)
    return await apply_change(
        request, run, then=f"/casussen/{case_id}?gedaan={quote(done)}",
        refused=lambda problem: _case_page(request, case_id, status=problem.status,
                                           error=said(problem)),
    )  # fmt: skip


async def post_milestone(request: web.Request) -> web.Response:
    case_id = _case_id(request)
    kind = request.match_info["kind"]
    if kind not in milestones.KINDS:
        raise not_found(f"milestones are {', '.join(milestones.KINDS)}")
    fields = await form_fields(request)

    async def run(conn: Any) -> Done[Any]:
        note = fields.get("note", "").strip()
        body = parsed(milestones.MilestoneDoneIn, {"note": note} if note else {})
        return Done(await milestones.mark_done(conn, case_id, kind, body, request[PRINCIPAL],
                                               **h.request_context(request)))  # fmt: skip

    return await _case_change(request, run, "mijlpaal")


async def post_handover(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    case_id = _case_id(request)
    fields = await form_fields(request)

    async def run(conn: Any) -> Done[Any]:
        body = parsed(handover.HandoverIn, {"to": fields.get("to", ""),
                                            "reason": _reason(fields)})  # fmt: skip
        return await handover.propose(
            conn, runtime.network, case_id, body, request[PRINCIPAL], **h.request_context(request)
        )

    return await _case_change(request, run, "overdracht voorgesteld")


async def post_take_over(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    case_id = _case_id(request)
    await form_fields(request)

    async def run(conn: Any) -> Done[Any]:
        return await handover.accept(conn, runtime.network, case_id, request[PRINCIPAL],
                                     **h.request_context(request))  # fmt: skip

    return await _case_change(request, run, "casusregie overgenomen")


async def post_handover_withdraw(request: web.Request) -> web.Response:
    """The proposal ends without a takeover: declined from "Mijn werk" by the colleague
    (back there: the case is not theirs to read any more), or withdrawn on the case."""
    case_id = _case_id(request)
    fields = await form_fields(request)

    async def run(conn: Any) -> Done[Any]:
        body = parsed(handover.HandoverEndIn, {"reason": _reason(fields)})
        return await handover.withdraw(conn, case_id, body, request[PRINCIPAL],
                                       **h.request_context(request))  # fmt: skip

    if fields.get("terug") == "mijn-werk":
        return await apply_change(
            request, run, then="/mijn-werk?" + urlencode({"gedaan": "overdracht beeindigd"}),
            refused=lambda problem: _my_work(request, problem.status, said(problem)),
        )  # fmt: skip
    return await _case_change(request, run, "overdracht beeindigd")


async def post_note(request: web.Request) -> web.Response:
    case_id = _case_id(request)
    fields = await form_fields(request)

    async def run(conn: Any) -> Done[Any]:
        body = parsed(notes.NoteIn, {"text": fields.get("text", "").strip()})
        return Done(await notes.add_note(conn, case_id, body, request[PRINCIPAL],
                                         **h.request_context(request)))  # fmt: skip

    return await _case_change(request, run, "notitie")


async def post_close(request: web.Request) -> web.Response:
    case_id = _case_id(request)
    fields = await form_fields(request)

    async def run(conn: Any) -> Done[Any]:
        body = parsed(control.CloseIn, {"reason": _reason(fields)})
        return await control.close_case(conn, case_id, body, _context(request))

    return await _case_change(request, run, "gesloten")


# -- my work (specialists) -----------------------------------------------------------


async def get_my_work(request: web.Request) -> web.Response:
    return await _my_work(request)


async def get_my_work_version(request: web.Request) -> web.Response:
    """The version of what "Mijn werk" would show now (``_work``). The page asks for it
    whenever its event stream (re)connects: an event sent while it was not connected (the
    page still loading, a phone that lost its network) is not sent again, so an offer
    made then would wait unseen until its answer time ran out."""
    async with h.connection(request) as conn:
        work = await _work(conn, request[PRINCIPAL])
    # The offers open now: one the page does not show is announced as new.
    offers = [str(a.assignment_id) for a in work.mine.assignments if a.state == "offered"]
    answer = {"version": work.version, "offers": offers}
    return web.Response(body=orjson.dumps(answer), content_type="application/json")


@dataclass(frozen=True)
class _Work:
    mine: answers.AssignmentsOut
    led: case_list.CasesOut
    #: Where the households of the cases I lead were last reported, to tell them apart.
    addresses: dict[UUID, AddressOut]
    proposed: list[HandoverToMeOut]
    version: str  # a digest of all of it


async def _work(conn: Any, me: Principal) -> _Work:
    """My offers and accepted meldingen, the cases I lead, the handovers proposed to me,
    and the page's version. It holds only what the service stored, nothing that changes
    with the clock alone, or a page would reload forever."""
    mine = await answers.my_assignments(conn, me)
    led = await case_list.cases(conn, me, status="open", lead=me.name, limit=50)
    addresses = await led_addresses(conn, me.name, [c.case_id for c in led.cases])
    proposed = await handovers_to(conn, me.name)
    shown = orjson.dumps([mine.model_dump(mode="json"), led.model_dump(mode="json"),
                          {str(k): a.model_dump(mode="json") for k, a in addresses.items()},
                          [p.model_dump(mode="json") for p in proposed]])  # fmt: skip
    version = hashlib.blake2b(shown, digest_size=12).hexdigest()
    return _Work(mine, led, addresses, proposed, version)


async def _my_work(
    request: web.Request, status: int = 200, error: str | None = None
) -> web.Response:
    runtime = request.app[RUNTIME]
    async with h.connection(request) as conn:
        work = await _work(conn, request[PRINCIPAL])
    # The picker's latest time: the end of today, not the minute the page was made, which
    # an open page would keep and so refuse the time of a visit just made (the service
    # refuses a time ahead of its own clock, and says so).
    now = runtime.clock.now()
    today_ends = runtime.network.local(now).strftime("%Y-%m-%dT23:59")
    me: Principal = request[PRINCIPAL]
    in_network = me.name in runtime.network.by_id
    on_until, next_duty = None, None
    if in_network:
        extra = roster_changes.as_changes(await roster_changes.current(runtime.pool, now))
        on_until, next_duty = views.duty_of(runtime.network, me.name, now, extra)
    return page(request, "mijn_werk.html", status, work=work.mine.assignments,
                on_until=on_until, next_duty=next_duty, in_network=in_network,
                now=now, cases=work.led.cases, addresses=work.addresses,
                proposed=work.proposed, latest=today_ends, error=error, version=work.version,
                names=_names(request))  # fmt: skip


async def _my_change(request: web.Request, run: Callable[[Any], Awaitable[Done[Any]]],
                     done: str) -> web.Response:  # fmt: skip
    try:
        async with h.connection(request) as conn:
            result = await run(conn)
    except Problem as problem:
        if problem.status >= 500:
            raise
        return await _my_work(request, problem.status, said(problem))
    await request.app[RUNTIME].after_commit.apply(result.effects)
    return see_other("/mijn-werk?" + urlencode({"gedaan": done}))


def _assignment_id(request: web.Request) -> UUID:
    return h.id_param(request, "assignment_id", "no offer with this id")


async def post_accept(request: web.Request) -> web.Response:
    await form_fields(request)
    assignment_id = _assignment_id(request)

    async def run(conn: Any) -> Done[Any]:
        return await answers.answer(conn, assignment_id, request[PRINCIPAL], decline=None,
                                    **h.request_context(request))  # fmt: skip

    return await _my_change(request, run, "aangenomen")


async def post_decline(request: web.Request) -> web.Response:
    fields = await form_fields(request)
    assignment_id = _assignment_id(request)

    async def run(conn: Any) -> Done[Any]:
        decline = parsed(answers.DeclineIn, {"reason": _reason(fields)})
        return await answers.answer(conn, assignment_id, request[PRINCIPAL], decline=decline,
                                    **h.request_context(request))  # fmt: skip

    return await _my_change(request, run, "afgewezen")


async def post_first_contact(request: web.Request) -> web.Response:
    fields = await form_fields(request)
    melding_id = _melding_id(request)
    zone = request.app[RUNTIME].network.zone

    async def run(conn: Any) -> Done[Any]:
        body: dict[str, Any] = {"channel": fields.get("channel", "telefoon")}
        if fields.get("at"):  # the form's local time, with the region's offset
            try:
                at = datetime.fromisoformat(fields["at"])
                body["at"] = (at if at.tzinfo else at.replace(tzinfo=zone)).isoformat()
            except ValueError:
                body["at"] = fields["at"]  # the parse names it
        if fields.get("note", "").strip():
            body["note"] = fields["note"]
        contact = parsed(answers.FirstContactIn, body)
        return await answers.first_contact(conn, melding_id, request[PRINCIPAL], contact,
                                           **h.request_context(request))  # fmt: skip

    return await _my_change(request, run, "contact")


# -- files ---------------------------------------------------------------------------

_STATIC = resources.files("triage.console").joinpath("static")
_FILES = {
    "console.css": ("text/css", _STATIC.joinpath("console.css").read_bytes()),
    "console.js": ("text/javascript", _STATIC.joinpath("console.js").read_bytes()),
    # Linked from every page: without it a browser asks /favicon.ico, which needs a login.
    "favicon.svg": ("image/svg+xml", _STATIC.joinpath("favicon.svg").read_bytes()),
}


async def get_static(request: web.Request) -> web.Response:
    found = _FILES.get(request.match_info["name"])
    if found is None:
        raise not_found("no such file")
    content_type, body = found
    return web.Response(body=body, content_type=content_type,
                        headers={"Cache-Control": "no-cache"})  # fmt: skip
