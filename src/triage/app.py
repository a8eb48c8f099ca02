"""The aiohttp application: middlewares (request id, errors, auth) and the routes."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator
from importlib import resources

import orjson
import redis.exceptions
import structlog
from aiohttp import web

from triage.api.handlers import MAX_BODY, route_of
from triage.api.keys import PRINCIPAL, REQUEST_ID, RUNTIME, SOURCE, STOPPING
from triage.api.openapi import build_openapi
from triage.api.operations import OPERATIONS, Handler
from triage.dispatch.worker import worker_for
from triage.notify.deliver import deliverer_for
from triage.observability import health, metrics
from triage.problems import Problem, unauthorized, unavailable
from triage.queue.reconcile import run_reconciler
from triage.runtime import Runtime
from triage.store.db import is_unavailable
from triage.tasks import cancel_and_wait

log = structlog.get_logger("triage.http")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_INTAKE_PATH = "/api/v1/meldingen"
#: The loops this process runs beside the API (reconciler, worker, deliverer).
_BACKGROUND = web.AppKey("background", list[asyncio.Task[None]])


def problem_response(problem: Problem, request: web.Request) -> web.Response:
    response = web.Response(
        body=orjson.dumps(problem.body(instance=request.path)),
        status=problem.status,
        content_type="application/problem+json",
    )
    response.headers.update(problem.headers)
    return response


@web.middleware
async def pipeline(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The whole path of a request in one middleware (each layer costs on every request):
    a request id, authentication, errors as problem+json, one log line and the metrics."""
    given = request.headers.get("X-Request-ID", "")
    request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
    request[REQUEST_ID] = request_id
    started = time.perf_counter()
    route = route_of(request)
    try:
        await _authenticate(request, route)
        response = await handler(request)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        response = _problem_response(request, exc, request_id)
    if not response.prepared:  # a stream (server-sent events) set it before it started
        response.headers["X-Request-ID"] = request_id
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


async def _authenticate(request: web.Request, route: str) -> None:
    runtime = request.app[RUNTIME]
    public = route in _PUBLIC or (route == "/metrics" and runtime.settings.metrics_open)
    header = request.headers.get("Authorization", "")
    if public and not header:
        return
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer" or not credentials:
        raise unauthorized("send Authorization: Bearer <token>")
    principal = await runtime.authenticator.authenticate(credentials.strip())
    if principal is None:
        raise unauthorized("the token is unknown or disabled")
    request[PRINCIPAL] = principal


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
    else:
        log.error("unhandled_error", request_id=request_id, exc_info=exc)
        problem = Problem(500, "Internal error", "an unexpected error; nothing was stored")
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

_PUBLIC = {op.path for op in OPERATIONS if op.public} | {"/api/openapi.json", "/api/docs"}


async def _openapi(_request: web.Request) -> web.Response:
    return web.Response(body=orjson.dumps(_OPENAPI), content_type="application/json")


async def _docs(_request: web.Request) -> web.Response:
    html = resources.files("triage.api").joinpath("docs.html").read_text("utf-8")
    return web.Response(text=html, content_type="text/html")


_OPENAPI = build_openapi()


def create_app(runtime: Runtime, *, background: bool = True) -> web.Application:
    """The application; ``background`` runs the queue reconciler (and, unless
    ``dispatch_in_api`` is off, a dispatch worker and a webhook deliverer) in this
    process."""
    app = web.Application(
        middlewares=[pipeline],
        client_max_size=MAX_BODY,
    )
    app[RUNTIME] = runtime
    app[STOPPING] = asyncio.Event()
    app[_BACKGROUND] = []
    for op in OPERATIONS:
        app.router.add_route(op.method, op.path, op.handler)
    app.router.add_get("/api/openapi.json", _openapi)
    app.router.add_get("/api/docs", _docs)

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
