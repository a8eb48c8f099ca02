"""Request handlers. Each is thin: parse, call one stage, render."""

from __future__ import annotations

import contextlib
import html
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import date, timedelta
from typing import Any, TypeVar
from urllib.parse import parse_qsl
from uuid import UUID

import asyncpg
from aiohttp import web
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from triage import problems_nl
from triage.api import strict_json
from triage.api.headers import from_elsewhere, page_policy
from triage.api.keys import (
    ON_BEHALF_OF,
    ORIGIN,
    PRINCIPAL,
    REQUEST_ID,
    RUNTIME,
    SOURCE,
    STOPPING,
)
from triage.audit import context as audit_context
from triage.auth import oidc, sessions
from triage.auth.principal import Principal
from triage.cases import control, handover, milestones, notes
from triage.cases.read import (
    ACCESS_REASON_HEADER,
    break_glass,
    read_case,
    read_melding,
    reason_is_valid,
)
from triage.dispatch import answers, manual, views
from triage.effects import Done
from triage.ids import parse_id
from triage.intake.receipt import as_sent, receipt
from triage.notify import events, webhooks
from triage.observability import health, metrics
from triage.privacy import correction, inzage
from triage.problems import (
    FieldError,
    Problem,
    forbidden,
    invalid,
    not_found,
    unauthorized,
)
from triage.region import REGIONAL_POOL
from triage.reporting import kpi
from triage.request_body import ID_MAX
from triage.routing import roster_changes
from triage.scoring.override import UrgencyOverrideIn, override_urgency
from triage.vocabulary import UserRole

MAX_BODY = 64 * 1024
M = TypeVar("M", bound=BaseModel)
_JSON_TYPES = ("application/json",)


def json_response(model: BaseModel, status: int = 200, **headers: str) -> web.Response:
    return web.Response(
        body=model.model_dump_json(), status=status, content_type="application/json",
        headers=headers,
    )  # fmt: skip


async def answered(
    request: web.Request, done: Done[BaseModel], status: int = 200, **headers: str
) -> web.Response:
    """The answer to a change, once what must follow its commit has been handed to the
    after-commit stage (the handler's transaction has ended by now)."""
    await request.app[RUNTIME].after_commit.apply(done.effects)
    return json_response(done.answer, status, **headers)


def route_of(request: web.Request) -> str:
    """The matched route's template (ids left out): for metrics, logs and the audit."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def endpoint_of(request: web.Request) -> str:
    """What the audit log records as the endpoint: ``POST /api/v1/meldingen``."""
    return f"{request.method} {route_of(request)}"


@contextlib.asynccontextmanager
async def connection(request: web.Request) -> AsyncIterator[Any]:
    """A pooled connection for this request (waits at most the configured time), told the
    request's origin and on whose behalf, which its audit entries take (audit/context.py)."""
    runtime = request.app[RUNTIME]
    async with runtime.pool.acquire(timeout=runtime.settings.db_acquire_timeout) as conn:
        await audit_context.tell(conn, request[REQUEST_ID], request.get(ORIGIN),
                                 request.get(ON_BEHALF_OF))  # fmt: skip
        yield conn


def principal_of(request: web.Request) -> Principal:
    principal: Principal = request[PRINCIPAL]
    return principal


#: An unknown key is not repeated in the answer: a client that put a name or a BSN where a
#: key goes would see it echoed, and the answer is logged and shown by proxies.
_UNKNOWN_KEY = ("holds a key that is not a field here (not repeated in this answer); "
                "the API documentation at /api/docs lists the fields")  # fmt: skip


_UNION_TAGS = frozenset({"int", "str", "constrained-str"})


def _pointer(loc: tuple[int | str, ...]) -> str:
    # Union members ("int", "str") and validator names ("function-after[...]") are pydantic's
    # internals, not fields; the pointer stops at the field.
    parts = [str(p) for p in loc
             if not (isinstance(p, str) and (p in _UNION_TAGS or "[" in p))]  # fmt: skip
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


def _message(error: ErrorDetails) -> str:
    message = error["msg"]
    return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def field_errors(exc: ValidationError) -> list[FieldError]:
    """Each field's errors, in English and in Dutch (problems_nl), never with the input."""
    merged: dict[str, tuple[list[str], list[str]]] = {}
    errors = [_without_input(e) for e in exc.errors(include_url=False)]
    texted = {_pointer(tuple(e["loc"])) for e in errors if not _number_branch(e)}
    for error in errors:
        loc, detail = tuple(error["loc"]), _message(error)
        if error["type"] == "extra_forbidden":  # named by where it is, not by its name
            loc, detail = loc[:-1], _UNKNOWN_KEY
        pointer = _pointer(loc)
        details, teksten = merged.setdefault(pointer, ([], []))
        if detail not in details:
            details.append(detail)
        # A number or text field (huisnummer: 12 or "12-a") given text says in Dutch what
        # is wrong with the text only, not also that it is no number.
        if _number_branch(error) and pointer in texted:
            continue
        tekst = problems_nl.field_text(error)
        if tekst not in teksten:
            teksten.append(tekst)
    return [FieldError(pointer, "; ".join(details), "; ".join(teksten))
            for pointer, (details, teksten) in merged.items()]  # fmt: skip


def _without_input(error: ErrorDetails) -> ErrorDetails:
    """``error`` without what was typed: only whether the field was left empty (a list at
    its first line, which the Dutch text says as such) goes on."""
    kept: ErrorDetails = {k: v for k, v in error.items() if k != "input"}  # type: ignore[assignment]
    if error.get("input") == "":
        kept["input"] = ""
    return kept


def _number_branch(error: ErrorDetails) -> bool:
    """The error of a union's number member (``loc`` ends in pydantic's "int" tag)."""
    return error["loc"][-1:] == ("int",)


async def json_body(request: web.Request, parse: Callable[[bytes], M]) -> M:
    """The request body parsed by ``parse`` (a pydantic validation), or the problem to
    answer: 415 not JSON, 413 too large, 400 malformed, 422 invalid fields (also a key
    given twice or text the database cannot store, see strict_json)."""
    if request.content_type not in _JSON_TYPES and not request.content_type.endswith("+json"):
        raise Problem(415, "Unsupported media type", "send the body as application/json")
    body = await body_of(request)
    strict_json.check(body)  # 400, or 422 for a key given twice or text that cannot be stored
    try:
        return parse(body)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise strict_json.malformed() from None
        raise invalid(field_errors(exc)) from None


def dated(request: web.Request, model: type[M]) -> Callable[[bytes], M]:
    """``model``'s parse with today in its context: a birth date is not after it."""
    context = {"now": request.app[RUNTIME].clock.now()}
    return lambda raw: model.model_validate_json(raw, context=context)


async def body_of(request: web.Request) -> bytes:
    """The request's body: 413 when larger than MAX_BODY, 400 when its Content-Encoding
    does not decode (aiohttp raised it from the read, and the pipeline answered 500)."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise _too_large()
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise _too_large() from None
    except web.RequestPayloadError:
        raise Problem(
            400, "Body not readable",
            "the body could not be read: its Content-Encoding did not decode, or it ended "
            "early; nothing was stored or changed. Send it without Content-Encoding, or "
            "whole and gzip'd",
        ) from None  # fmt: skip


async def post_melding(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]  # past capacity the pipeline refused it (Intake.admits)
    melding = await json_body(request, runtime.intake.parse)
    request[SOURCE] = melding.source.value
    # Intake latency: triage_http_request_duration_seconds{route="/api/v1/meldingen",
    # method="POST"}.
    submitted = await runtime.intake.submit(
        melding,
        principal_of(request),
        request_id=request[REQUEST_ID],
        endpoint=endpoint_of(request),
        origin=request.get(ORIGIN),
        on_behalf_of=request.get(ON_BEHALF_OF),
    )
    accepted = submitted.accepted
    answer: BaseModel = accepted
    if principal_of(request).kind == "client":  # a source gets a receipt (receipt.py)
        answer = receipt(accepted, melding, runtime.region)
    return json_response(  # the batch writer queued it after its commit
        answer, 201 if submitted.created else 200,
        Location=f"/api/v1/meldingen/{accepted.melding_id}",
    )  # fmt: skip


def _too_large() -> Problem:
    return Problem(413, "Payload too large", f"a request body is at most {MAX_BODY // 1024} KiB")


def _uuid_param(request: web.Request, name: str) -> UUID:
    return id_param(request, name, f"{name} is not a valid id")


def id_param(request: web.Request, name: str, unknown: str) -> UUID:
    """The path's id ``name`` in its one spelling (``ids.parse_id``), else 404 ``unknown``:
    a malformed id is an id that names nothing."""
    found = parse_id(request.match_info[name])
    if found is None:
        raise not_found(unknown)
    return found


def access_reason(request: web.Request) -> str | None:
    """Why a specialist reads what is not their work (break the glass), as stated in the
    ``Triage-Access-Reason`` header: 10 to 500 characters of text."""
    given = request.headers.get(ACCESS_REASON_HEADER)
    if given is None:
        return None
    if not reason_is_valid(given):
        raise invalid([FieldError(
            f"header {ACCESS_REASON_HEADER}",
            "a reason is 10 to 500 characters, at least three words: why you need to read "
            "this (your coordinator reads it)",
        )])  # fmt: skip
    return " ".join(given.split())


async def get_melding(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    melding_id = _uuid_param(request, "melding_id")
    async with connection(request) as conn:
        found = await read_melding(
            conn,
            melding_id,
            principal_of(request),
            now=runtime.clock.now(),
            endpoint=endpoint_of(request),
            request_id=request[REQUEST_ID],
            reason=access_reason(request),
        )
    if found is None:
        raise not_found("no melding with this id that you may see")
    if principal_of(request).kind == "client":  # its own, as sent (receipt.py)
        return json_response(as_sent(found, runtime.region))
    return json_response(found)


async def get_case(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    case_id = _uuid_param(request, "case_id")
    async with connection(request) as conn:
        found = await read_case(
            conn,
            case_id,
            principal_of(request),
            now=runtime.clock.now(),
            endpoint=endpoint_of(request),
            request_id=request[REQUEST_ID],
            reason=access_reason(request),
        )
    if found is None:
        raise not_found("no case with this id that you may see")
    return json_response(found)


async def post_urgency(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    melding_id = _uuid_param(request, "melding_id")
    change = await json_body(request, UrgencyOverrideIn.model_validate_json)
    async with connection(request) as conn:
        done = await override_urgency(
            conn, runtime.rules, melding_id, change, principal_of(request),
            now=runtime.clock.now(),
            answer_within_minutes=runtime.network.answer_within_minutes,
            endpoint=endpoint_of(request), request_id=request[REQUEST_ID],
        )  # fmt: skip
    if done is None:
        raise not_found("no melding with this id that you may change")
    return await answered(request, done)


_Change = Callable[
    [asyncpg.Connection, UUID, Any, control.ChangeContext],
    Awaitable[Done[control.CaseChangeOut]],
]


async def _case_change(
    request: web.Request, param: str, body: type[BaseModel], change: _Change
) -> web.Response:
    """Parse, run one correction in its transaction, then let the queue follow."""
    runtime = request.app[RUNTIME]
    target = _uuid_param(request, param)
    parsed = await json_body(request, body.model_validate_json)
    ctx = control.ChangeContext(
        principal=principal_of(request), rules=runtime.rules, **request_context(request)
    )
    async with connection(request) as conn:
        done = await change(conn, target, parsed, ctx)
    return await answered(request, done)


async def post_link(request: web.Request) -> web.Response:
    return await _case_change(request, "melding_id", control.LinkIn, control.link_melding)


async def post_unlink(request: web.Request) -> web.Response:
    return await _case_change(request, "melding_id", control.UnlinkIn, control.unlink_melding)


async def post_review(request: web.Request) -> web.Response:
    return await _case_change(
        request, "melding_id", control.ReviewDecisionIn, control.settle_review
    )


async def post_merge(request: web.Request) -> web.Response:
    return await _case_change(request, "case_id", control.MergeIn, control.merge_cases)


async def post_close(request: web.Request) -> web.Response:
    return await _case_change(request, "case_id", control.CloseIn, control.close_case)


async def get_reviews(request: web.Request) -> web.Response:
    limit = _limit(request, default=100, most=500)
    async with connection(request) as conn:
        found = await control.pending_reviews(conn, principal_of(request), limit)
    return json_response(found)


def _limit(request: web.Request, *, default: int, most: int) -> int:
    raw = request.query.get("limit")
    return default if raw is None else whole_number(raw, "limit", most=most)


def whole_number(raw: str, name: str, *, most: int, what: str = "") -> int:
    """A path or query parameter that is a number: ASCII digits only (``str.isdigit`` and
    ``int`` also take "²" and an Arabic-Indic 1), from 1 to ``most`` (an id: as far as
    its column goes); else a 422 naming the parameter, never a 500 from the database."""
    ascii_digits = raw.isascii() and raw.isdigit()
    fits = ascii_digits and len(raw.lstrip("0")) <= len(str(most))  # int() takes <= 4300
    number = int(raw) if fits else 0
    if not 1 <= number <= most:
        raise invalid([FieldError(f"/{name}", f"{what}a whole number from 1 to {most}",
                                  f"een heel getal van 1 tot en met {most}")])  # fmt: skip
    return number


def request_context(request: web.Request) -> dict[str, Any]:
    """When, through which endpoint and in which request a change is made (for the audit)."""
    runtime = request.app[RUNTIME]
    return {
        "now": runtime.clock.now(), "endpoint": endpoint_of(request),
        "request_id": request[REQUEST_ID],
    }  # fmt: skip


async def get_my_assignments(request: web.Request) -> web.Response:
    async with connection(request) as conn:
        found = await answers.my_assignments(conn, principal_of(request))
    return json_response(found)


async def _answer(request: web.Request, decline: answers.DeclineIn | None) -> web.Response:
    assignment_id = _uuid_param(request, "assignment_id")
    async with connection(request) as conn:
        done = await answers.answer(
            conn, assignment_id, principal_of(request), decline=decline,
            **request_context(request),
        )  # fmt: skip
    return await answered(request, done)


async def post_accept(request: web.Request) -> web.Response:
    return await _answer(request, None)


async def post_decline(request: web.Request) -> web.Response:
    return await _answer(request, await json_body(request, answers.DeclineIn.model_validate_json))


async def post_first_contact(request: web.Request) -> web.Response:
    melding_id = _uuid_param(request, "melding_id")
    contact = None  # no body: by phone, now
    if request.body_exists:
        contact = await json_body(request, answers.FirstContactIn.model_validate_json)
    async with connection(request) as conn:
        done = await answers.first_contact(
            conn, melding_id, principal_of(request), contact,
            **request_context(request),
        )  # fmt: skip
    return await answered(request, done)


def _gebied_param(request: web.Request) -> str:
    gebied = request.match_info["gebied"]
    if gebied not in request.app[RUNTIME].region.with_pool:
        raise not_found(f"no gebied with this code; see GET /api/v1/gebieden (or {REGIONAL_POOL})")
    return gebied


async def get_on_duty(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    gebied = _gebied_param(request)
    views.staff_scope(principal_of(request), gebied)
    now = runtime.clock.now()
    extra = roster_changes.as_changes(await roster_changes.current(runtime.pool, now))
    return json_response(views.on_duty_now(runtime.network, gebied, now, extra))


async def get_roster_changes(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    gebied = _gebied_param(request)
    views.staff_scope(principal_of(request), gebied)
    rows = await roster_changes.current(runtime.pool, runtime.clock.now())
    mine = [r for r in rows if r.network == gebied]
    seen = roster_changes.as_seen_by(mine, principal_of(request), gebied)
    return json_response(roster_changes.RosterChangesOut(changes=seen))


async def post_roster_change(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    gebied = _gebied_param(request)
    body = await json_body(request, roster_changes.RosterChangeIn.model_validate_json)
    async with connection(request) as conn:
        done = await roster_changes.add_change(
            conn, runtime.network, gebied, body, principal_of(request),
            **request_context(request),
        )  # fmt: skip
    return await answered(request, done, 201)


async def post_roster_withdraw(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    gebied = _gebied_param(request)
    change_id = whole_number(request.match_info["change_id"], "change_id", most=ID_MAX,
                             what="a roster change's id: ")  # fmt: skip
    async with connection(request) as conn:
        done = await roster_changes.withdraw(
            conn, runtime.network, gebied, change_id, principal_of(request),
            **request_context(request),
        )  # fmt: skip
    return await answered(request, done)


class FormFields(dict[str, str]):
    """A posted form's fields; ``repeated`` holds the values of the fields the form may
    give more than once (checkboxes of one name), and only those.

    A field given twice (which was meant? the last one won: a role given twice made an
    admin), or holding text the database cannot store, is refused (422, the field named,
    never its value) when the handler reads it, or reads them all: fields the form does not
    have are passed over, given once or twice, as a JSON body's unknown keys would be."""

    def __init__(
        self, fields: dict[str, str], repeated: dict[str, list[str]], bad: dict[str, FieldError]
    ) -> None:
        super().__init__(fields)
        self.repeated = repeated
        self._bad = bad

    def _refuse(self, names: Iterable[str]) -> None:
        errors = [self._bad[n] for n in names if n in self._bad]
        if errors:
            raise invalid(errors)

    def __getitem__(self, name: str) -> str:
        self._refuse((name,))
        return super().__getitem__(name)

    def get(self, name: str, default: Any = None) -> Any:
        self._refuse((name,))
        return super().get(name, default)

    def items(self) -> Any:
        self._refuse(self._bad)
        return super().items()

    def as_sent(self) -> dict[str, str | list[str]]:
        """What the person typed, to put back in their form when it is refused: the
        fields of a field's name and storable text, the repeated ones as lists, never a
        password."""
        sent: dict[str, str | list[str]] = {
            name: value for name, value in super().items()
            if name not in self._bad and strict_json.is_field_name(name)
            and "password" not in name
        }  # fmt: skip
        sent.update((name, values) for name, values in self.repeated.items() if values)
        return sent


#: A form's refusals (the field is named by the error's pointer).
_TWICE = ("given more than once in the form; give each field once",
          "staat meer dan eens in het formulier; stuur het één keer")  # fmt: skip
_TWICE_UNNAMED = (
    "holds a field given more than once (not repeated in this answer); give each field once",
    "bevat een veld dat meer dan eens is gestuurd; stuur elk veld één keer",
)
_NAME_UNSTORABLE = "a field's name contains a character that cannot be stored"


async def form_of(
    request: web.Request, what: str, *, repeated: frozenset[str] = frozenset()
) -> FormFields:
    """The fields of a posted form, application/x-www-form-urlencoded in UTF-8 (415
    otherwise; 400 when its bytes are not that), each field once (except those in
    ``repeated``) and storable, or refused when read (``FormFields``)."""
    if request.content_type != "application/x-www-form-urlencoded":
        raise Problem(
            415,
            "Unsupported media type",
            f"send {what} as form fields (application/x-www-form-urlencoded)",
        )
    if (request.charset or "utf-8").lower() not in ("utf-8", "utf8"):
        raise Problem(415, "Unsupported media type",
                      f"send {what} in UTF-8 (charset=utf-8, or no charset)")  # fmt: skip
    body = await body_of(request)
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise Problem(400, "Form not readable",
                      f"the form is not in UTF-8; send {what} as form fields in UTF-8, "
                      "percent-encoded (application/x-www-form-urlencoded)") from None  # fmt: skip
    fields: dict[str, str] = {}
    lists: dict[str, list[str]] = {name: [] for name in repeated}
    bad: dict[str, FieldError] = {}
    for name, value in pairs:
        pointer = strict_json.place("", name)  # "" (the form) for a name of no field's shape
        if strict_json.text_fault(name) is not None:  # its pointer would repeat it
            bad[name] = FieldError("", _NAME_UNSTORABLE, strict_json.TEXT_FAULT_NL)
        elif (fault := strict_json.text_fault(value)) is not None:
            bad[name] = FieldError(pointer, fault, strict_json.TEXT_FAULT_NL)
        elif name in lists:
            lists[name].append(value)
        elif name in fields:
            bad[name] = FieldError(pointer, *(_TWICE if pointer else _TWICE_UNNAMED))
        else:
            fields[name] = value
    return FormFields(fields, lists, bad)


async def post_login(request: web.Request) -> web.Response:
    """A session for a person with a username and password, in an HttpOnly cookie."""
    runtime = request.app[RUNTIME]
    if from_elsewhere(request):  # login CSRF: into the attacker's account, unnoticed
        raise forbidden("log in on this service's own login page")
    fields = await form_of(request, "username and password")
    try:
        given = sessions.LoginIn.model_validate(
            {k: fields.get(k) for k in ("username", "password")}
        )
    except ValidationError as exc:
        raise invalid(field_errors(exc)) from None
    started = await log_in(request, given)
    settings = runtime.settings
    principal = started.principal
    response = json_response(sessions.SessionOut(
        username=principal.name, role=principal.role, gebied=principal.gebied,
        expires_at=started.expires_at,
    ))  # fmt: skip
    set_session_cookie(response, started, settings.session_hours)
    return response


async def log_in(request: web.Request, given: sessions.LoginIn) -> sessions.Started:
    """A session for ``given``, failed attempts counted per address and per username (the
    API's login and the console's login page alike); 401 when they are not right."""
    runtime = request.app[RUNTIME]
    address = runtime.throttle.address(request)
    account = f"login:{given.username}"  # kept in Redis as a keyed digest, as addresses are
    await runtime.throttle.refuse_guesser(address)
    await runtime.throttle.refuse_guesser(account)
    settings, now = runtime.settings, runtime.clock.now()
    started = await sessions.log_in(
        runtime.pool, given, now, timedelta(hours=settings.session_hours),
        audit=await session_audit(request),
    )  # fmt: skip
    if started is None:
        await runtime.throttle.failed(address)
        await runtime.throttle.failed(account)
        raise unauthorized("the username or the password is not right")
    return started


def set_session_cookie(response: web.StreamResponse, started: sessions.Started, hours: int) -> None:
    response.set_cookie(
        sessions.COOKIE, started.cookie, httponly=True, secure=True, samesite="Strict",
        path="/", max_age=hours * 3600,
    )  # fmt: skip


def _provider(request: web.Request) -> oidc.Provider:
    provider = request.app[RUNTIME].oidc
    if provider is None:
        raise not_found("no identity provider is configured (TRIAGE_OIDC_FILE); log in "
                        "with a username and password at POST /auth/login")  # fmt: skip
    return provider


#: Where the provider sends the person back.
OIDC_CALLBACK = "/auth/oidc/callback"


def _redirect_uri(request: web.Request, provider: oidc.Provider) -> str:
    return provider.config.redirect_url or str(
        request.url.with_path(OIDC_CALLBACK).with_query(None)
    )


async def get_oidc_login(request: web.Request) -> web.Response:
    """To the identity provider, with PKCE, a state bound to this browser and a nonce."""
    provider = _provider(request)
    flow, url = await provider.begin(_redirect_uri(request, provider))
    response = web.Response(status=302, headers={"Location": url})
    # Lax, not Strict: the provider's redirect back is a navigation from another site,
    # on which a Strict cookie would not come along.
    response.set_cookie(oidc.FLOW_COOKIE, flow, httponly=True, secure=True, samesite="Lax",
                        path="/", max_age=oidc.FLOW_SECONDS)  # fmt: skip
    return response


async def get_oidc_callback(request: web.Request) -> web.Response:
    """Back from the identity provider: the code for an ID token, the token checked, the
    person's account brought in line with its claims, and a session started."""
    runtime = request.app[RUNTIME]
    provider = _provider(request)
    state, code = request.query.get("state", ""), request.query.get("code", "")
    flow = request.cookies.get(oidc.FLOW_COOKIE)
    if not state or flow is None:
        raise oidc.Refused(oidc.NOT_STARTED_HERE, 400).problem()
    if not code:  # the provider sends error=... instead; its text is not repeated
        raise unauthorized("the identity provider did not log you in; start again at "
                           "/auth/oidc/login")  # fmt: skip
    address = runtime.throttle.address(request)
    await runtime.throttle.refuse_guesser(address)
    now, audit = runtime.clock.now(), await session_audit(request)
    try:
        who = await provider.finish(flow, state, code, _redirect_uri(request, provider))
        principal = await provider.account(runtime.pool, who, now, audit=audit)
    except oidc.Refused as exc:
        await runtime.throttle.failed(address)
        raise exc.problem() from None
    hours = runtime.settings.session_hours
    started = await sessions.start(runtime.pool, principal, now, timedelta(hours=hours),
                                   audit=audit)  # fmt: skip
    # A page that moves on to the start page, not a redirect: the browser would not send
    # the new SameSite=Strict cookie on a redirect that a navigation from the provider's
    # site began. No script: the refresh is markup, which the CSP allows.
    page = (
        '<!doctype html><html lang="nl"><head><meta charset="utf-8">'
        '<meta http-equiv="refresh" content="0;url=/"><title>Ingelogd</title></head>'
        f"<body><p>Ingelogd als {html.escape(principal.name)}. "
        '<a href="/">Verder</a></p></body></html>'
    )
    response = web.Response(text=page, content_type="text/html")
    set_session_cookie(response, started, hours)
    response.del_cookie(oidc.FLOW_COOKIE, path="/", secure=True, httponly=True,
                        samesite="Lax")  # fmt: skip
    return response


async def session_audit(request: web.Request) -> sessions.Audit:
    """Endpoint, request id and origin for the audit entry of a login or logout. These
    routes are public, so the pipeline did not note the origin: it is made here."""
    throttle = request.app[RUNTIME].throttle
    origin = await throttle.origin(throttle.address(request))
    return endpoint_of(request), request[REQUEST_ID], origin


async def post_logout(request: web.Request) -> web.Response:
    """The session ends (if there is one) and its cookie is cleared."""
    runtime = request.app[RUNTIME]
    session_id = request.cookies.get(sessions.COOKIE)
    if session_id:
        await sessions.log_out(
            runtime.pool, session_id, runtime.clock.now(), audit=await session_audit(request)
        )
    response = web.Response(status=204)
    response.del_cookie(sessions.COOKIE, path="/", secure=True, httponly=True,
                        samesite="Strict")  # fmt: skip
    return response


async def post_inzage(request: web.Request) -> web.Response:
    """Everything held about a person: JSON, or the page to read and print when the
    caller asks for ``text/html``."""
    whom = await json_body(request, dated(request, inzage.InzageIn))
    async with connection(request) as conn:
        found = await inzage.export(conn, whom, principal_of(request), **request_context(request))
    if "text/html" in request.headers.get("Accept", ""):
        html = inzage.page(found)
        return web.Response(text=html, content_type="text/html",
                            headers={"Content-Security-Policy": page_policy(html)})  # fmt: skip
    return json_response(found)


async def patch_person(request: web.Request) -> web.Response:
    person_id = _uuid_param(request, "person_id")
    body = await json_body(request, dated(request, correction.CorrectionIn))
    async with connection(request) as conn:
        corrected = await correction.correct(conn, person_id, body, principal_of(request),
                                             **request_context(request))  # fmt: skip
    return json_response(corrected)


async def get_gebied_queue(request: web.Request) -> web.Response:
    gebied = _gebied_param(request)
    views.staff_scope(principal_of(request), gebied)
    limit = _limit(request, default=200, most=1000)
    async with connection(request) as conn:
        return json_response(await views.gebied_queue(conn, gebied, limit))


async def get_escalations(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    scope = views.staff_scope(principal_of(request), None)
    limit = _limit(request, default=100, most=500)
    async with connection(request) as conn:
        found = await views.escalations(conn, scope, runtime.clock.now(), limit)
    return json_response(found)


async def get_break_glass(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    limit = _limit(request, default=100, most=1000)
    raw = request.query.get("before")
    before = None if raw is None else whole_number(raw, "before", most=ID_MAX)
    async with connection(request) as conn:
        found = await break_glass(conn, principal_of(request), now=runtime.clock.now(),
                                  limit=limit, before=before)  # fmt: skip
    return json_response(found)


#: The dates a period may name: year 1 overflowed the arithmetic on it (a 500).
_DATES = (date(2000, 1, 1), date(2999, 12, 31))
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _date_param(request: web.Request, name: str) -> date | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:  # the form it says, not every one fromisoformat takes (20261001, 2026-W40-4)
        day = date.fromisoformat(raw) if _ISO_DATE.fullmatch(raw) else None
    except ValueError:
        day = None
    if day is None or not _DATES[0] <= day <= _DATES[1]:
        raise invalid([FieldError(f"/{name}", "a date such as 2026-10-01, from 2000-01-01 "
                                  "to 2999-12-31",
                                  "een datum als 2026-10-01, van 2000 tot 2999")])  # fmt: skip
    return day


async def get_kpi(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    gebied = request.query.get("gebied")
    if gebied is not None and gebied not in runtime.region.with_pool:
        raise invalid([FieldError("/gebied", "not a gebied of the region, or the regio pool")])
    everything, gebied = kpi.scope_of(principal_of(request), gebied)
    now = runtime.clock.now()
    start, until = kpi.period(_date_param(request, "from"), _date_param(request, "until"),
                              runtime.network.local(now).date())  # fmt: skip
    async with connection(request) as conn:
        found = await kpi.compute(conn, start, until, now, zone=runtime.network.zone,
                                  everything=everything, gebied=gebied)  # fmt: skip
    return json_response(found)


async def get_dead_letters(request: web.Request) -> web.Response:
    raw = request.query.get("webhook_id")
    webhook_id = None if raw is None else whole_number(
        raw, "webhook_id", most=ID_MAX, what="a webhook's id (triage webhooks list): "
    )  # fmt: skip
    limit = _limit(request, default=100, most=1000)
    async with connection(request) as conn:
        found = await webhooks.dead_letters(conn, principal_of(request), webhook_id, limit)
    return json_response(found)


async def post_replay(request: web.Request) -> web.Response:
    body = await json_body(request, webhooks.ReplayIn.model_validate_json)
    async with connection(request) as conn:
        done = await webhooks.replay(conn, body, principal_of(request),
                                     **request_context(request))  # fmt: skip
    return json_response(done)


async def post_milestone_done(request: web.Request) -> web.Response:
    case_id = _uuid_param(request, "case_id")
    kind = request.match_info["kind"]
    if kind not in milestones.KINDS:
        raise not_found(f"milestones are {', '.join(milestones.KINDS)}")
    done = await json_body(request, milestones.MilestoneDoneIn.model_validate_json)
    async with connection(request) as conn:
        found = await milestones.mark_done(
            conn, case_id, kind, done, principal_of(request),
            **request_context(request),
        )  # fmt: skip
    return json_response(found)


async def post_note(request: web.Request) -> web.Response:
    case_id = _uuid_param(request, "case_id")
    note = await json_body(request, notes.NoteIn.model_validate_json)
    async with connection(request) as conn:
        found = await notes.add_note(conn, case_id, note, principal_of(request),
                                     **request_context(request))  # fmt: skip
    return json_response(found, 201)


async def post_handover(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    case_id = _uuid_param(request, "case_id")
    change = await json_body(request, handover.HandoverIn.model_validate_json)
    async with connection(request) as conn:
        done = await handover.propose(
            conn, runtime.network, case_id, change, principal_of(request),
            **request_context(request),
        )  # fmt: skip
    return await answered(request, done)


async def post_handover_withdraw(request: web.Request) -> web.Response:
    case_id = _uuid_param(request, "case_id")
    end = await json_body(request, handover.HandoverEndIn.model_validate_json)
    async with connection(request) as conn:
        done = await handover.withdraw(conn, case_id, end, principal_of(request),
                                       **request_context(request))  # fmt: skip
    return await answered(request, done)


async def post_handover_accept(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    case_id = _uuid_param(request, "case_id")
    async with connection(request) as conn:
        done = await handover.accept(
            conn, runtime.network, case_id, principal_of(request),
            **request_context(request),
        )  # fmt: skip
    return await answered(request, done)


async def post_reassign(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    melding_id = _uuid_param(request, "melding_id")
    change = await json_body(request, manual.ReassignIn.model_validate_json)
    async with connection(request) as conn:
        done = await manual.reassign(
            conn, runtime.network, melding_id, change, principal_of(request),
            **request_context(request),
        )  # fmt: skip
    return await answered(request, done)


async def post_move_gebied(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    melding_id = _uuid_param(request, "melding_id")
    change = await json_body(request, manual.GebiedIn.model_validate_json)
    async with connection(request) as conn:
        done = await manual.move_gebied(
            conn, runtime.region.with_pool, melding_id, change,
            principal_of(request),
            **request_context(request),
        )  # fmt: skip
    return await answered(request, done)


async def post_close_melding(request: web.Request) -> web.Response:
    melding_id = _uuid_param(request, "melding_id")
    change = await json_body(request, manual.CloseIn.model_validate_json)
    async with connection(request) as conn:
        done = await manual.close_melding(conn, melding_id, change, principal_of(request),
                                          **request_context(request))  # fmt: skip
    return await answered(request, done)


async def get_my_events(request: web.Request) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    principal = principal_of(request)  # a person: the operation's policy
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-store",
        "X-Request-ID": request[REQUEST_ID],
    })  # fmt: skip
    # The desk and CIT follow the werkvoorraad of every gebied too (ids only), a
    # coordinator their own gebied's: they see no other gebied's meldingen.
    board: list[str] = []
    if principal.role in (UserRole.operator, UserRole.cit):
        board = runtime.region.with_pool
    elif principal.role == UserRole.coordinator and principal.gebied:
        board = [principal.gebied]
    frames = events.stream(runtime.events, principal.name, request.app[STOPPING], board=board)
    try:
        first = await anext(frames)  # subscribed before the stream starts
        await response.prepare(request)
        await response.write(first)
        async for frame in frames:
            await response.write(frame)
    except ConnectionResetError:  # the client went away
        pass
    finally:
        await frames.aclose()
    return response


class SignalOut(BaseModel):
    code: str
    label: str
    description: str


class CategoryOut(BaseModel):
    code: str
    label: str


class VocabularyOut(BaseModel):
    rules_version: str
    signals: list[SignalOut]
    categories: list[CategoryOut]


async def get_vocabulary(request: web.Request) -> web.Response:
    rules = request.app[RUNTIME].rules
    return json_response(
        VocabularyOut(
            rules_version=rules.version,
            signals=[
                SignalOut(code=code, label=s.label, description=s.description)
                for code, s in rules.signals.items()
            ],
            categories=[
                CategoryOut(code=c.value, label=r.label) for c, r in rules.categories.items()
            ],
        )
    )


class GebiedOut(BaseModel):
    code: str
    naam: str
    gemeenten: list[str]


class RegionOut(BaseModel):
    code: str
    naam: str
    version: str
    gebieden: list[GebiedOut]


async def get_gebieden(request: web.Request) -> web.Response:
    region = request.app[RUNTIME].region
    return json_response(
        RegionOut(
            code=region.code,
            naam=region.naam,
            version=region.version,
            gebieden=[
                GebiedOut(code=g.code, naam=g.naam, gemeenten=[m.naam for m in g.gemeenten])
                for g in region.gebieden
            ],
        )
    )


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    postgres: str
    redis: str


async def healthz(_request: web.Request) -> web.Response:
    return json_response(Health(status="ok"))


async def readyz(request: web.Request) -> web.Response:
    """Ready while PostgreSQL answers: it is what a melding is stored in. Without Redis a
    melding is still stored (the reconciler queues it when Redis is back), so a process
    stays in the load balancer and says ``degraded``; taken out, it would turn away the
    meldingen it can keep."""
    runtime = request.app[RUNTIME]
    pg_ok, redis_ok = await health.dependencies(runtime.pool, runtime.redis)
    body = Readiness(
        status="unavailable" if not pg_ok else "ready" if redis_ok else "degraded",
        postgres="ok" if pg_ok else "unreachable",
        redis="ok" if redis_ok else "unreachable",
    )
    if pg_ok:
        return json_response(body)
    return json_response(
        body, status=503, **{"Retry-After": str(runtime.settings.retry_after_seconds)}
    )


async def get_metrics(request: web.Request) -> web.Response:
    payload, content_type = metrics.render()  # ops and admin: the operation's policy
    response = web.Response(body=payload)
    response.headers["Content-Type"] = content_type
    return response
