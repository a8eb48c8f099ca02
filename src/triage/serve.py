"""``triage serve``: the API in one process, or in several that share the port, from the
start to the stop.

Start: the port is tried before anything starts, so that a busy one is a message that
names it and exits, not a traceback after the banner; then the embedded servers, the
migrations (and the demo's credentials), the API processes; the banner comes once they
all listen.

Stop (SIGINT or SIGTERM): each API process first stops its dispatch worker, deliverer
and reconciler and ends its event streams with a hint to reconnect
(``app.begin_shutdown``), then stops listening, gives requests in progress
``SHUTDOWN_SECONDS`` to finish and closes its pools. The parent of several waits
``STOP_SECONDS`` for them and kills what is left; the embedded servers stop last. Nothing
waits for a client: the whole stop takes a few seconds.
"""

from __future__ import annotations

import asyncio
import errno
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from types import FrameType
from typing import TYPE_CHECKING, Any

import asyncpg
import structlog

from triage.config import Settings
from triage.embedded import EmbeddedServers, start_missing
from triage.observability.logging import configure as configure_logging
from triage.process import install_uvloop, settle_heap

if TYPE_CHECKING:
    from triage.demo import DemoCredentials

log = structlog.get_logger("triage.serve")

#: How long requests in progress may take to finish once a process stops listening.
SHUTDOWN_SECONDS = 2.0
#: How long the parent of several API processes waits for them before it kills them.
STOP_SECONDS = 4.0


class ServeError(Exception):
    """The service cannot start; the message says why and what to do."""


def serve(settings: Settings, *, migrate: bool, demo: bool) -> int:
    """Serve until SIGINT or SIGTERM; the embedded servers this started stop with it."""
    check_port(settings.host, settings.port)
    # Until the event loop takes them over, a stop signal interrupts the start-up like a
    # Ctrl-C, so that what has started is stopped again, not orphaned.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupt)
    servers = start_missing(settings.data_dir, settings.database_url, settings.redis_url,
                            migration_database_url=settings.migration_database_url)  # fmt: skip
    assert servers.database_url is not None
    assert servers.redis_url is not None
    try:
        credentials = None
        if migrate or demo:
            credentials = asyncio.run(_prepare(settings, servers, demo=demo))
        else:
            asyncio.run(check_schema(servers.database_url))
        banner = _banner(settings, credentials, servers)

        def listening() -> None:
            print(banner, flush=True)

        if settings.processes > 1:
            _serve_many(settings, servers, listening)
        else:
            install_uvloop()
            asyncio.run(_serve_async(settings, servers.database_url, servers.redis_url,
                                     background=True, listening=listening))  # fmt: skip
        return 0
    finally:
        servers.stop()


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def check_port(host: str, port: int) -> None:
    """Refuse to start when ``host:port`` cannot be listened on (in use, most often)."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                       flags=socket.AI_PASSIVE)  # fmt: skip
    except socket.gaierror as exc:
        raise ServeError(f"TRIAGE_HOST {host!r} is not an address of this machine: "
                         f"{exc.strerror}") from None  # fmt: skip
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as sock:
            # As the server will: a port whose last connections are closing is free.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                raise ServeError(port_problem(host, port, exc)) from None


def port_problem(host: str, port: int, exc: OSError) -> str:
    """What went wrong with the port, and what to do about it."""
    other = 8081 if port == 8080 else port + 1
    choose = (f"choose another port: make run PORT={other}, or TRIAGE_PORT={other} "
              f"(triage serve --port {other})")  # fmt: skip
    if exc.errno == errno.EADDRINUSE:
        return (f"port {port} on {host} is in use: is another `make run` or `triage serve` "
                f"still running? Stop it, or {choose}")  # fmt: skip
    if exc.errno == errno.EACCES:
        return f"port {port} on {host} needs privileges this user lacks; {choose}"
    return f"cannot listen on port {port} on {host} ({exc.strerror}); {choose}"


async def check_schema(database_url: str) -> None:
    """Refuse to start on a database without this version's schema, with what to run:
    otherwise the first request fails on a missing table, and the worker with it. A
    database not reachable now is not refused: the service starts as before and answers
    503 until it is (an orchestrator may start it first)."""
    from triage.store.db import is_unavailable
    from triage.store.migrate import available_migrations

    needed = available_migrations()[-1].version
    try:
        conn = await asyncio.wait_for(asyncpg.connect(database_url), timeout=10)
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        log.warning("schema_not_checked", reason="database not reachable at start")
        return
    try:
        has_table = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
        at = (
            await conn.fetchval("SELECT max(version) FROM schema_migrations") if has_table else None
        )
    finally:
        await conn.close()
    if at is None:
        raise ServeError(
            "the database holds none of this service's tables yet: run `triage migrate` "
            "first, or start with `triage serve --migrate`"
        )
    if at < needed:
        raise ServeError(f"the database's schema is at migration {at} and this version needs "
                         f"{needed}: run `triage migrate`, or start with `triage serve "
                         "--migrate`")  # fmt: skip


async def _prepare(
    settings: Settings, servers: EmbeddedServers, demo: bool
) -> DemoCredentials | None:
    from triage.clock import SystemClock
    from triage.demo import ensure_demo_credentials
    from triage.region import load_region
    from triage.routing.network import load_network
    from triage.scoring import load_rules
    from triage.store.migrate import migrate
    from triage.store.roles import service_role

    # Refuse bad configuration before anything starts listening.
    region = load_region(settings.region_file)
    rules = load_rules(settings.scoring_rules_file)
    load_network(settings.network_file, region, frozenset(rules.signals))
    assert servers.database_url is not None
    assert servers.migration_database_url is not None
    conn = await asyncpg.connect(servers.migration_database_url)  # as the schema's owner
    try:
        await migrate(conn, service_role=await service_role(servers.database_url))
        if demo:
            return await ensure_demo_credentials(conn, settings.data_dir, SystemClock())
        return None
    finally:
        await conn.close()


async def _serve_async(
    settings: Settings,
    database_url: str,
    redis_url: str,
    *,
    background: bool,
    listening: Callable[[], None],
) -> None:
    """One API process until SIGINT or SIGTERM (the module docstring says how it stops)."""
    from aiohttp import web

    from triage.app import begin_shutdown, create_app
    from triage.runtime import open_runtime

    runtime = await open_runtime(settings, database_url, redis_url)
    app = create_app(runtime, background=background)
    settle_heap()
    runner = web.AppRunner(app, access_log=None, handle_signals=False,
                           shutdown_timeout=SHUTDOWN_SECONDS)  # fmt: skip
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, reuse_port=settings.processes > 1)
    try:
        await site.start()
    except OSError as exc:  # taken since it was tried
        await runner.cleanup()
        raise ServeError(port_problem(settings.host, settings.port, exc)) from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    listening()
    await stop.wait()
    log.info("stopping")
    started = time.monotonic()
    await begin_shutdown(app)
    await runner.cleanup()
    log.info("stopped", seconds=round(time.monotonic() - started, 2))


def _serve_child(
    settings: Settings, database_url: str, redis_url: str, background: bool, report: Connection
) -> None:
    """One of several API processes: tells the parent when it listens, or why it cannot.

    Once it has stopped (pools closed, streams ended, logs written) it leaves with
    ``os._exit``, as a forked worker of multiprocessing does: the interpreter's own
    teardown adds nothing here and took 1.4 s on a busy machine, a third of the time the
    parent gives before it counts the process as hung and kills it."""
    configure_logging(settings.log_format, settings.log_level, stream=sys.stderr)
    install_uvloop()
    code = 0
    try:
        asyncio.run(_serve_async(settings, database_url, redis_url, background=background,
                                 listening=lambda: report.send(None)))  # fmt: skip
    except ServeError as exc:
        report.send(str(exc))
        code = 1
    report.close()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _serve_many(
    settings: Settings, servers: EmbeddedServers, listening: Callable[[], None]
) -> None:
    metrics_dir = (settings.data_dir / "prometheus").resolve()
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(metrics_dir))
    ctx = multiprocessing.get_context("spawn")
    children: list[Any] = []
    reports: list[Connection] = []
    for index in range(settings.processes):
        receive, send = ctx.Pipe(duplex=False)
        children.append(ctx.Process(
            target=_serve_child,
            args=(settings, servers.database_url, servers.redis_url, index == 0, send),
            name=f"triage-api-{index}",
        ))  # fmt: skip
        reports.append(receive)
    stopping = False
    problem: str | None = None
    ready = 0

    def read_reports() -> None:
        nonlocal problem, ready
        for report in [r for r in reports if r.poll()]:
            try:
                said = report.recv()
            except EOFError:  # its process ended: its sentinel says so
                reports.remove(report)
                continue
            problem = problem or said
            ready += 1
            if ready == len(children) and problem is None:
                listening()

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        for child in children:
            child.start()
        while not stopping and problem is None:
            wait([*reports, *(c.sentinel for c in children)], timeout=0.2)
            read_reports()
            ended = [c for c in children if not c.is_alive()]
            if ended:
                read_reports()  # what it said before it ended
            if ended and not stopping and problem is None:
                problem = (f"API process {ended[0].name} stopped (exit code "
                           f"{ended[0].exitcode}); the others were stopped too")  # fmt: skip
    finally:
        _stop_children(children)
    if problem is not None:
        raise ServeError(problem)


def _stop_children(children: list[Any]) -> None:
    """SIGTERM to each; who has not stopped after ``STOP_SECONDS`` is killed."""
    for child in children:
        if child.is_alive():
            child.terminate()
    deadline = time.monotonic() + STOP_SECONDS
    for child in children:
        child.join(max(0.0, deadline - time.monotonic()))
    for child in children:
        if child.is_alive():
            log.warning("api_process_killed", process=child.name, after_seconds=STOP_SECONDS)
            child.kill()
            child.join()


def _banner(
    settings: Settings, credentials: DemoCredentials | None, servers: EmbeddedServers
) -> str:
    from triage.demo import DEMO_ACCOUNTS, try_it

    base = f"http://{settings.host}:{settings.port}"
    lines = [
        "",
        f"triage is serving on {base}   (API docs: {base}/api/docs)",
        "PostgreSQL: "
        + (
            f"embedded, in {settings.data_dir / 'postgres'}"
            if not settings.database_url
            else "TRIAGE_DATABASE_URL"
        ),
        "Redis:      "
        + (
            f"embedded, in {settings.data_dir / 'redis'}"
            if not settings.redis_url
            else "TRIAGE_REDIS_URL"
        ),
    ]
    if credentials is not None:
        lines += [
            "",
            f"Demo accounts (also in {settings.data_dir / 'demo-credentials.json'}): a person "
            f"logs in with username and password (POST {base}/auth/login), a script sends "
            "the token (Authorization: Bearer ...)",
        ]
        for account in DEMO_ACCOUNTS:
            password = credentials.passwords.get(account.key)
            lines.append(f"  {account.key:<14} {account.description}")
            if password is not None:
                lines.append(f"    password {password}")
            lines.append(f"    token    {credentials.tokens[account.key]}")
        lines += try_it(base, credentials, settings.data_dir)
    lines += [
        "",
        "Ctrl-C stops the service" + (" and its embedded servers." if servers.started else "."),
        "",
    ]
    return "\n".join(lines)
