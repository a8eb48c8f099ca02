"""The aiohttp application: middlewares (request id, errors, auth) and the routes."""

from __future__ import annotations

import asyncio
import functools
import re
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta

import orjson
import redis.exceptions
import structlog
from aiohttp import web

from triage.api import docs, unreadable
from triage.api.handlers import MAX_BODY, endpoint_of, route_of
from triage.api.headers import allowed, from_elsewhere, options, secure
from triage.api.keys import ON_BEHALF_OF, ORIGIN, PRINCIPAL, REQUEST_ID, RUNTIME, SOURCE, STOPPING
from triage.api.openapi import build_openapi
from triage.api.operations import OPERATIONS, Handler
from triage.audit import denied
from triage.audit.context import ON_BEHALF_HEADER, on_behalf_of
from triage.auth import oidc, sessions
from triage.auth.policy import WIE, caller_of
from triage.auth.principal import Principal
from triage.console.routes import PAGES, error_page
from triage.dispatch.worker import worker_for
from triage.notify.deliver import deliverer_for
from triage.observability import health, metrics
from triage.problems import (
    FieldError,
    Problem,
    forbidden,
    invalid,
    overloaded,
    unauthorized,
    unavailable,
)
from triage.queue.reconcile import run_reconciler
from triage.runtime import Runtime
from triage.store.db import is_unavailable
from triage.tasks import cancel_and_wait

log = structlog.get_logger("triage.http")
_REQUEST_ID = re.compile(r"[0-9A-Fa-f]{16,64}")
_INTAKE_PATH = "/api/v1/meldingen"
#: The loops this process runs beside the API (reconciler, worker, deliverer).
_BACKGROUND = web.AppKey("background", list[asyncio.Task[None]])
_DOCUMENT = web.AppKey("openapi", bytes)


def _instance(request: web.Request) -> str | None:
    """The operation a problem happened at, as its route names it
    (``/api/v1/meldingen/{melding_id}``), or none for a path no route has: never the path
    as sent, which may hold anything (a name, a BSN) typed where an id belongs."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else None


def problem_response(problem: Problem, request: web.Request) -> web.Response:
    response = web.Response(
        body=orjson.dumps(problem.body(instance=_instance(request))),
        status=problem.status,
        content_type="application/problem+json",
    )
    response.headers.update(problem.headers)
    return response


@web.middleware
async def pipeline(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The whole path of a request in one middleware (each layer costs on every request):
    a request id, authentication, errors as problem+json, one log line and the metrics."""
    request_id = _request_id(request.headers.get("X-Request-ID", ""))
    request[REQUEST_ID] = request_id
    started = time.perf_counter()
    route = route_of(request)
    intake = request.app[RUNTIME].intake
    if route == _INTAKE_PATH and request.method == "POST" and not intake.admits():
        return _shed(request, request_id, started)
    response: web.StreamResponse
    try:
        methods = allowed(request)
        if methods is not None:  # a path we have, a method it does not take
            response = _other_method(request, methods)
        else:
            await _authenticate(request, route)
            response = await handler(request)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        response = _problem_response(request, exc, request_id)
    if not response.prepared:  # a stream (server-sent events) set it before it started
        response.headers["X-Request-ID"] = request_id
    if denied.refused(request, response.status):
        await denied.record(request, route, response.status)
    elapsed = time.perf_counter() - started
    metrics.observe_request(route, request.method, response.status, elapsed)
    if route != "/healthz" or response.status >= 500:
        principal = request.get(PRINCIPAL)
        log.info(
            "request", request_id=request_id, method=request.method, route=route,
            status=response.status, duration_ms=round(elapsed * 1000, 2),
            actor=f"{principal.kind}:{principal.id}" if principal else None,
        )  # fmt: skip
    return response


def _shed(request: web.Request, request_id: str, started: float) -> web.Response:
    """Past capacity (``Intake.admits``) a melding is refused before anything else costs:
    no authentication, no body, an answer made once. Whoever sends it learns only that
    the service is past capacity, as from a load balancer. Counted like every answer;
    logged by the intake as one line a second with the number refused, not a line each."""
    retry_after = request.app[RUNTIME].settings.retry_after_seconds
    response = web.Response(
        body=_overloaded_body(retry_after), status=503,
        content_type="application/problem+json",
        headers={"Retry-After": str(retry_after), "X-Request-ID": request_id},
    )  # fmt: skip
    metrics.MELDINGEN_REJECTED.labels("unknown", "overloaded").inc()
    metrics.observe_request(_INTAKE_PATH, "POST", 503, time.perf_counter() - started)
    return response


@functools.cache
def _overloaded_body(retry_after: int) -> bytes:
    return orjson.dumps(overloaded(retry_after).body(instance=_INTAKE_PATH))


def _request_id(given: str) -> str:
    """A caller's request id is kept when it is a UUID or a hex trace id (as proxies make
    them); anything else is replaced, as it could be anything (a BSN was sent as one, and
    went into the log and the audit)."""
    if not given:
        return uuid.uuid4().hex
    if _REQUEST_ID.fullmatch(given):
        return given.lower()
    try:
        return str(uuid.UUID(given))
    except ValueError:
        return uuid.uuid4().hex


def _other_method(request: web.Request, methods: frozenset[str]) -> web.Response:
    if request.method == "OPTIONS":
        return options(methods)
    allow = ", ".join(sorted(methods))  # the method itself is not repeated: it is input
    problem = Problem(405, "Method not allowed",
                      f"this method is not taken here; this path takes {allow}",
                      headers={"Allow": allow})  # fmt: skip
    return problem_response(problem, request)


async def _authenticate(request: web.Request, route: str) -> None:
    runtime = request.app[RUNTIME]
    if route in _PUBLIC or (route == "/metrics" and runtime.settings.metrics_open):
        return  # credentials, even stale ones, are not looked at: nothing here needs them
    header = request.headers.get("Authorization")
    session_id = request.cookies.get(sessions.COOKIE)
    # An Authorization header, even an empty one, is what the caller authenticates with:
    # a bad one is refused, never passed over for a cookie that came along.
    if header is None and session_id:
        principal = await _session(request, session_id)
    else:
        principal = await _bearer(request, header or "")
    runtime.throttle.refuse_flood(principal)
    request[PRINCIPAL] = principal
    policy = _POLICIES.get(("GET" if request.method == "HEAD" else request.method, route))
    # Every operation that is not public has a policy (Operation checks it): no policy
    # here means no operation, and the router answers 404.
    if policy is not None and not policy.permits(principal):  # before the body is read
        raise forbidden(
            f"this is for {policy.who()}; you are {caller_of(principal)}",
            f"Dit is voor {policy.wie()}; niet voor {WIE[caller_of(principal)]}.",
        )
    _check_query(request, route)
    origin = await runtime.throttle.origin(runtime.throttle.address(request))
    if origin is not None:
        request[ORIGIN] = origin
    behalf = request.headers.get(ON_BEHALF_HEADER)
    if behalf is not None:
        request[ON_BEHALF_OF] = on_behalf_of(behalf)


def _check_query(request: web.Request, route: str) -> None:
    """An operation's query parameters are the ones it declares, each given once, as a
    JSON body's keys are (422): the handler reads the first of a parameter given twice,
    and a misspelt one would be passed over in silence (a filter not applied). The names
    of unknown ones are not repeated: they are input."""
    taken = _QUERIES.get(("GET" if request.method == "HEAD" else request.method, route))
    if taken is None or not request.query:
        return
    given = Counter(name for name, _ in request.query.items())
    errors = [FieldError(f"/{name}", "given more than once; give it once",
                         "staat meer dan eens in het adres; geef het één keer")
              for name, times in given.items() if times > 1 and name in taken]  # fmt: skip
    if any(name not in taken for name in given):
        takes = ", ".join(sorted(taken)) or "none"
        errors.append(FieldError("", f"a query parameter this operation does not take; it "
                                 f"takes: {takes}",
                                 "een zoekterm in het adres die hier niet bestaat"))  # fmt: skip
    if errors:
        raise invalid(errors)


async def _bearer(request: web.Request, header: str) -> Principal:
    runtime = request.app[RUNTIME]
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer" or not credentials:
        raise unauthorized("send Authorization: Bearer <token>, or log in (POST /auth/login)")
    token = credentials.strip()
    if runtime.oidc is not None and oidc.looks_like_jwt(token):
        return await _provider_bearer(request, runtime.oidc, token)
    principal = runtime.authenticator.cached(token)
    if principal is None:  # a lookup: refused first to an address that keeps guessing,
        address = runtime.throttle.address(request)  # unless it joins one under way
        if not runtime.authenticator.looking_up(token):
            await runtime.throttle.refuse_guesser(address)
        principal = await runtime.authenticator.authenticate(token)
        if principal is None:
            await runtime.throttle.failed(address)
            raise unauthorized("the token is unknown or disabled")
    return principal


async def _provider_bearer(request: web.Request, provider: oidc.Provider, token: str) -> Principal:
    """A person's JWT from the identity provider, checked on every request against its
    keys; their account here is looked up (and brought in line with the claims), so
    that disabling it ends their access at once."""
    runtime = request.app[RUNTIME]
    address = runtime.throttle.address(request)
    await runtime.throttle.refuse_guesser(address)
    origin = await runtime.throttle.origin(address)
    try:
        who = provider.identity(await provider.claims(token, provider.audience))
        principal = await provider.account(runtime.pool, who, runtime.clock.now(),
                                           audit=(endpoint_of(request), request[REQUEST_ID],
                                                  origin))  # fmt: skip
    except oidc.Refused as exc:
        await runtime.throttle.failed(address)
        raise exc.problem() from None
    return principal


#: Methods that change something: with a session cookie, only from this service's pages.
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


async def _session(request: web.Request, session_id: str) -> Principal:
    """The person of a browser session. A change through a session must come from a page
    of this service (a cross-site request could otherwise act with the person's cookie;
    SameSite=Strict keeps the cookie off those, and this is the second line)."""
    runtime = request.app[RUNTIME]
    if request.method not in _SAFE and from_elsewhere(request):
        raise forbidden("a change through a session comes from this service's own pages")
    address = runtime.throttle.address(request)
    await runtime.throttle.refuse_guesser(address)
    settings = runtime.settings
    principal = await sessions.principal_of(
        runtime.pool, session_id, runtime.clock.now(),
        idle=timedelta(minutes=settings.session_idle_minutes),
    )  # fmt: skip
    if principal is None:
        await runtime.throttle.failed(address)
        raise unauthorized("the session has ended; log in again (POST /auth/login)")
    return principal


def _problem_response(request: web.Request, exc: Exception, request_id: str) -> web.StreamResponse:
    """Every error leaves as problem+json; a dependency failure as 503 with Retry-After."""
    retry_after = request.app[RUNTIME].settings.retry_after_seconds
    if isinstance(exc, Problem):
        problem = exc
    elif isinstance(exc, web.HTTPException):
        if exc.status < 400:
            return exc  # a redirect is an answer, not an error
        problem = Problem(exc.status, exc.reason, exc.text or exc.reason)
    elif is_unavailable(exc):
        problem = unavailable("PostgreSQL", retry_after)
    elif isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
        problem = unavailable("Redis", retry_after)
    elif isinstance(exc, oidc.ProviderUnavailable):
        log.warning("identity_provider_unavailable", reason=str(exc))
        problem = Problem(503, "Service unavailable",
                          f"the identity provider is not reachable; try again in {retry_after} "
                          "s (a login: start again at /auth/oidc/login)",
                          headers={"Retry-After": str(retry_after)})  # fmt: skip
    else:
        log.error("unhandled_error", request_id=request_id, exc_info=exc)
        problem = Problem(500, "Internal error", "an unexpected error; nothing was stored")
    if _wants_page(request):
        # A person's browser gets a page, a failing dependency too (with Retry-After);
        # should the page itself fail, the problem document still answers.
        try:
            return error_page(request, problem)
        except Exception:  # the answer below is the fallback
            log.exception("error_page_failed", request_id=request_id)
    if request.path == _INTAKE_PATH and request.method == "POST":
        reason = (
            problem.type.rsplit("/", 1)[-1]
            if problem.type != "about:blank"
            else str(problem.status)
        )
        metrics.MELDINGEN_REJECTED.labels(request.get(SOURCE, "unknown"), reason).inc()
    return problem_response(problem, request)


#: How long the background tasks have to stop (``triage.tasks`` says why it can take more
#: than one cancel); the parent of several API processes kills them after
#: ``serve.STOP_SECONDS``.
BACKGROUND_STOP_SECONDS = 2.0

_PUBLIC = (
    {op.path for op in OPERATIONS if op.public}
    | {page.path for page in PAGES if page.policy is None}
    | {"/api/openapi.json"}
    | docs.PATHS  # the documentation page and its files (api/docs.py)
)
#: Who may call each operation and open each page (auth/policy.py), by method and route.
_POLICIES = {
    **{(op.method, op.path): op.policy for op in OPERATIONS if op.policy is not None},
    **{(page.method, page.path): page.policy for page in PAGES if page.policy is not None},
}
#: The query parameters each operation takes, by method and route (public ones take what
#: an identity provider adds to its callback, so they are not checked).
_QUERIES = {(op.method, op.path): frozenset(name for name, _, _ in op.query)
            for op in OPERATIONS if not op.public}  # fmt: skip
#: The console's routes: their refusals are pages (or the way to the login), not JSON.
_PAGE_ROUTES = frozenset(page.path for page in PAGES)


def _wants_page(request: web.Request) -> bool:
    """A console route, or an address that is none (a link mistyped, an old bookmark)
    asked for by a browser outside the API: a person reads the answer, in Dutch."""
    route = route_of(request)
    return route in _PAGE_ROUTES or (
        route == "unmatched"
        and not request.path.startswith("/api/")
        and "text/html" in (accept := request.headers.get("Accept", ""))
        and "json" not in accept
    )


async def _openapi(request: web.Request) -> web.Response:
    return web.Response(body=request.app[_DOCUMENT], content_type="application/json")


def create_app(runtime: Runtime, *, background: bool = True) -> web.Application:
    """The application; ``background`` runs the queue reconciler (and, unless
    ``dispatch_in_api`` is off, a dispatch worker and a webhook deliverer) in this
    process."""
    app = web.Application(
        middlewares=[pipeline],
        client_max_size=MAX_BODY,
    )
    app[RUNTIME] = runtime
    unreadable.install()  # for requests the HTTP parser refuses, before any middleware
    # The document lists this configuration's signal codes and gebieden; its examples are
    # dated by the service's clock.
    app[_DOCUMENT] = orjson.dumps(build_openapi(
        signals=sorted(runtime.rules.signals), gebieden=runtime.region.gebied_codes,
        now=runtime.clock.now(),
    ))  # fmt: skip
    app[STOPPING] = asyncio.Event()
    app[_BACKGROUND] = []
    app.on_response_prepare.append(secure)
    for op in OPERATIONS:
        app.router.add_route(op.method, op.path, op.handler)
        if op.method == "GET" and not op.stream:  # a stream would stay open for HEAD too
            app.router.add_route("HEAD", op.path, op.handler)
    for page in PAGES:
        app.router.add_route(page.method, page.path, page.handler)
        if page.method == "GET":  # a link checker or a proxy's health probe asks HEAD
            app.router.add_route("HEAD", page.path, page.handler)
    app.router.add_get("/api/openapi.json", _openapi)
    docs.add_routes(app.router)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        tasks = app[_BACKGROUND]
        if background:
            tasks.append(asyncio.create_task(
                run_reconciler(
                    runtime.pool, runtime.redis, runtime.keys, enqueuer=runtime.enqueuer,
                    clock=runtime.clock, interval=runtime.settings.reconcile_interval_seconds,
                ), name="reconciler",
            ))  # fmt: skip
            if runtime.settings.dispatch_in_api:  # the worker's timers check the dependencies
                tasks.append(asyncio.create_task(worker_for(runtime).run(), name="worker"))
                tasks.append(asyncio.create_task(deliverer_for(runtime).run(), name="deliverer"))
            else:
                tasks.append(asyncio.create_task(health.watch(runtime.pool, runtime.redis),
                                                 name="health"))  # fmt: skip
        yield
        await begin_shutdown(app)
        await runtime.close()

    app.cleanup_ctx.append(lifecycle)
    app.on_shutdown.append(begin_shutdown)
    return app


async def begin_shutdown(app: web.Application) -> None:
    """The first step of a stop, before the port closes: the dispatch worker, the
    deliverer and the reconciler stop (no offers from an instance that no longer takes
    requests), and every event stream ends with a hint to reconnect, which browsers do at
    once, to an instance that runs, instead of holding this one open until it gives up.
    Also run by aiohttp's shutdown, and again at cleanup: it does its work once."""
    app[STOPPING].set()
    running = app[_BACKGROUND]
    tasks = running.copy()
    running.clear()
    await cancel_and_wait(tasks, within=BACKGROUND_STOP_SECONDS)
