"""The ``triage`` command line. One job per command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import structlog

from triage.auth.accounts import USER_TOKEN_DAYS
from triage.config import Settings
from triage.embedded import start_missing
from triage.observability.logging import configure as configure_logging
from triage.process import install_uvloop, settle_heap
from triage.vocabulary import Source, UserRole
from triage.yamlconfig import ConfigError

if TYPE_CHECKING:
    from aiohttp import web

    from triage.routing.network import NetworkConfig

log = structlog.get_logger("triage.cli")


@contextlib.asynccontextmanager
async def _connection(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """The database as the service's role."""
    servers = start_missing(settings.data_dir, settings.database_url, None, redis=False)
    try:
        conn = await asyncpg.connect(servers.database_url)
        try:
            yield conn
        finally:
            await conn.close()
    finally:
        servers.stop()


def _run(coro: Coroutine[Any, Any, int]) -> int:
    install_uvloop()
    return asyncio.run(coro)


# -- serve ---------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from triage.serve import serve

    if args.processes:
        settings = settings.model_copy(update={"processes": args.processes})
    if args.port:
        settings = settings.model_copy(update={"port": args.port})
    return serve(settings, migrate=args.migrate, demo=args.demo)


# -- migrate, accounts, config, reconcile ----------------------------------------------------


async def _migrate(settings: Settings) -> int:
    from triage.store.migrate import migrate
    from triage.store.roles import audit_exposed

    servers = start_missing(settings.data_dir, settings.database_url, None, redis=False,
                            migration_database_url=settings.migration_database_url)  # fmt: skip
    try:
        service = await asyncpg.connect(servers.database_url)
        owner = await asyncpg.connect(servers.migration_database_url)
        try:
            role: str = await service.fetchval("SELECT current_user")
            applied = await migrate(owner, service_role=role)
            exposed = await audit_exposed(service)
        finally:
            await owner.close()
            await service.close()
    finally:
        servers.stop()
    print(
        f"applied {len(applied)} migration(s)"
        + "".join(f"\n  {m.version:04d}_{m.name}" for m in applied)
    )
    if exposed:
        print(f"warning: the service's role {role} {' and '.join(exposed)}: its audit is "
              "append-only by courtesy only. Give the service a role of its own "
              "(TRIAGE_DATABASE_URL) and the schema's owner TRIAGE_MIGRATION_DATABASE_URL; "
              "docs/deploy.md, 'Database roles'.")  # fmt: skip
    else:
        print(f"the service's role {role} reads and writes the data, and may only add to "
              "the audit and read it")  # fmt: skip
    return 0


async def _clients(args: argparse.Namespace, settings: Settings) -> int:
    from triage.auth import accounts
    from triage.clock import SystemClock

    now = SystemClock().now()
    async with _connection(settings) as conn:
        if args.action == "add":
            issued = await accounts.add_client(conn, args.name, Source(args.source), now)
        elif args.action == "rotate":
            issued = await accounts.rotate_client(conn, args.name)
        else:
            await accounts.disable_client(conn, args.name, now)
            print(f'API client "{args.name}" is disabled')
            return 0
    print(f'API client "{issued.name}" ({issued.id})')
    print(f"token (shown once, store it now): {issued.token}")
    return 0


async def _users(args: argparse.Namespace, settings: Settings) -> int:
    from triage.auth import accounts
    from triage.clock import SystemClock

    now = SystemClock().now()
    if args.action == "add":
        _in_network(settings, args.username, UserRole(args.role), args.gebied)
    # Read before anything else: a password on the command line would be in the shell's
    # history and in every process listing.
    password = (
        sys.stdin.readline().rstrip("\r\n")
        if args.action == "add" and args.password_stdin
        else None
    )
    async with _connection(settings) as conn:
        if args.action == "add":
            issued = await accounts.add_user(
                conn, args.username, UserRole(args.role), now,
                display_name=args.display_name, gebied=args.gebied,
                valid_for=timedelta(days=args.expires), password=password,
            )  # fmt: skip
        else:
            await accounts.disable_user(conn, args.username, now)
            print(f'user "{args.username}" is disabled')
            return 0
    print(f'user "{issued.name}" ({issued.id})')
    if issued.token is None:
        print("password set: log in at POST /auth/login (a token, if they had one, is kept)")
        return 0
    print(f"token (shown once, store it now): {issued.token}")
    assert issued.expires_at is not None
    print(f"valid until {issued.expires_at:%Y-%m-%d %H:%M} UTC, or until the user is "
          "disabled (triage users disable)")  # fmt: skip
    return 0


def _token_days(given: str) -> int:
    days = int(given) if given.isascii() and given.isdigit() else 0
    if not 1 <= days <= 365:
        raise argparse.ArgumentTypeError("a whole number of days from 1 to 365")
    return days


def _in_network(settings: Settings, username: str, role: UserRole, gebied: str | None) -> None:
    from triage.auth.accounts import check_network

    check_network(_network(settings, None), username, role, gebied)


def _network(settings: Settings, path: Path | None) -> NetworkConfig:
    """A network file (None: the configured one), checked against the configured region
    and rules as well."""
    from triage.region import load_region
    from triage.routing.network import load_network
    from triage.scoring import load_rules

    region = load_region(settings.region_file)
    signals = frozenset(load_rules(settings.scoring_rules_file).signals)
    return load_network(path, region, signals)


def cmd_config_check(args: argparse.Namespace, settings: Settings) -> int:
    from triage.auth.oidc import load_oidc
    from triage.region import load_region
    from triage.scoring import load_rules

    def network(path: Path) -> object:
        return _network(settings, path)

    loaders: dict[str, Callable[[Path], object]] = {
        "region": load_region, "rules": load_rules, "network": network, "oidc": load_oidc,
    }  # fmt: skip
    try:
        loaders[args.kind](Path(args.file))
    except ConfigError as exc:  # the kind it was read as: a network file read as a
        print(str(exc), file=sys.stderr)  # region file has nothing but problems
        print(f"(read as a {args.kind} file; for another kind give --kind region, rules, "
              "network or oidc)", file=sys.stderr)  # fmt: skip
        return 2
    print(f"{args.file}: valid {args.kind} file")
    return 0


async def _webhooks(args: argparse.Namespace, settings: Settings) -> int:
    from triage.clock import SystemClock
    from triage.notify import webhooks

    now = SystemClock().now()
    organisations = {s.organisatie for s in _network(settings, settings.network_file).specialists}
    async with _connection(settings) as conn:
        if args.action == "add":
            made = await webhooks.add(conn, args.organisation, args.url, events=args.events,
                                      organisations=organisations, now=now)  # fmt: skip
            print(f"webhook {made.id} for {args.organisation}: {args.url}")
            print(f"signing secret (shown once, store it now): {made.secret}")
        elif args.action == "url":
            await webhooks.move(conn, args.id, args.url, now)
            print(
                f"webhook {args.id} now delivers to {args.url}: what waits at its next "
                "attempt, dead letters when replayed"
            )
        elif args.action == "disable":
            await webhooks.disable(conn, args.id, now)
            print(f"webhook {args.id} is disabled; its waiting deliveries are dead letters")
        else:
            listed = await webhooks.listed(conn)
            if not listed:
                print("no webhooks: `triage webhooks add ORGANISATIE URL` registers one")
            for w in listed:
                state = "disabled" if w["disabled_at"] else "active"
                last = w["last_delivered_at"] or "-"
                print(f"{w['id']:>4}  {state:<8}  {w['organisation']}  {w['url']}  "
                      f"events={','.join(w['events'])}  pending={w['pending']}  "
                      f"dead={w['dead']}  last_delivered={last}")  # fmt: skip
    return 0


async def _audit(_args: argparse.Namespace, settings: Settings) -> int:
    """``triage audit verify``: 0 when the chain holds, 1 with the first break named."""
    from triage.audit.seal import verify
    from triage.clock import SystemClock

    async with _connection(settings) as conn:
        found = await verify(conn, SystemClock().now())
    if found.first_break is None:
        print(f"audit log intact: {found.sealed} rows sealed and each fits the chain")
        return 0
    print(f"audit log BROKEN after {found.sealed} good rows: {found.first_break}")
    return 1


async def _retention(args: argparse.Namespace, settings: Settings) -> int:
    """``triage retention``: erase what the region's term says is kept too long, or with
    ``--dry-run`` list it (at most ``--limit`` cases)."""
    from triage.clock import SystemClock
    from triage.privacy.retention import due, erase_due
    from triage.region import load_region

    term = load_region(settings.region_file).retention
    now = SystemClock().now()
    async with _connection(settings) as conn:
        if args.dry_run:
            listed = await due(conn, term, now, args.limit)
            first = f" (the first {args.limit})" if len(listed) == args.limit else ""
            print(f"{len(listed)} case(s) closed more than {term.closed_case_days} days ago "
                  f"would be erased{first}:")  # fmt: skip
            for d in listed:
                print(f"  {d.case_id}  {d.gebied:<12} closed {d.closed_at:%Y-%m-%d}  "
                      f"{d.meldingen} melding(en), {d.persons} person row(s)")  # fmt: skip
            return 0
        erased = await erase_due(conn, term, now)
    if erased is None:
        print("another process is erasing now; nothing done", file=sys.stderr)
        return 1
    print(f"erased {erased.cases} case(s): {erased.meldingen} melding(en), "
          f"{erased.persons} person row(s)")  # fmt: skip
    return 0


async def _recognition(args: argparse.Namespace, settings: Settings) -> int:
    """``triage recognition train``: estimate the model from the region's meldingen and
    write it; ``describe``: print a model's levels and weights; ``rekey``: make every
    case's blocking keys again (after their definition changed)."""
    from triage.clock import SystemClock
    from triage.households.model import dump_model, load_model
    from triage.households.train import describe, read_records, train
    from triage.store.db import init_connection

    now = SystemClock().now()
    if args.action == "rekey":
        from triage.households.rekey import rekey

        async with _connection(settings) as conn:
            await init_connection(conn)
            cases = await rekey(conn, now)
        print(f"{cases} case(s): profile and blocking keys made again from their meldingen")
        return 0
    start = load_model(args.start or settings.recognition_model_file)
    if args.action == "describe":
        print("\n".join(describe(start)))
        return 0
    async with _connection(settings) as conn:
        await init_connection(conn)
        records = await read_records(conn, now - timedelta(days=args.days), args.limit, now=now)
    if len(records) < _TRAIN_AT_LEAST:
        print(f"triage: only {len(records)} meldingen in the last {args.days} days; at least "
              f"{_TRAIN_AT_LEAST} are needed to estimate anything (use --days)",
              file=sys.stderr)  # fmt: skip
        return 2
    model, seen = train(records, start, described_as=args.describe, now=now, seed=args.seed)
    args.out.write_bytes(dump_model(model))
    print(f"{seen.meldingen} meldingen, {seen.candidate_pairs} candidate pairs "
          f"({seen.skipped_keys} keys too common), {seen.random_pairs} random pairs, "
          f"{seen.patterns} patterns, {seen.iterations} EM rounds")  # fmt: skip
    print("\n".join(describe(model)))
    print(f"written to {args.out}; use it with TRIAGE_RECOGNITION_MODEL_FILE={args.out}")
    return 0


#: Fewer meldingen than this give no estimate worth using.
_TRAIN_AT_LEAST = 500


async def _report(args: argparse.Namespace, settings: Settings) -> int:
    """The process indicators on the command line: a table, or JSON with --json."""
    from triage.clock import SystemClock
    from triage.reporting import kpi

    network = _network(settings, settings.network_file)
    now = SystemClock().now()
    start, until = kpi.period(args.start, args.until, network.local(now).date())
    async with _connection(settings) as conn:
        found = await kpi.compute(conn, start, until, now, zone=network.zone,
                                  everything=args.gebied is None, gebied=args.gebied)  # fmt: skip
    if args.json:
        print(found.model_dump_json(indent=2))
        return 0
    last = until - timedelta(days=1)
    print(f"Procesindicatoren {start} t/m {last}, berekend {now:%Y-%m-%d %H:%M} UTC")
    columns = ("meldingen", "contact<=norm", "plan<=7d", "bezoek<=30d", "overdr<=100d",
               "eval<=180d", "herhaal", "at_risk", "breached")  # fmt: skip
    print(f"{'gebied':<12}" + "".join(f"{c:>16}" for c in columns))
    for row in [*found.gebieden, found.total]:
        shares = (row.first_contact_within_norm, row.plan_within_7_days,
                  row.outreach_to_day_30, row.handover_within_100_days,
                  row.evaluation_by_180_days, row.herhaalmeldingen, row.escalated_at_risk,
                  row.escalated_breached)  # fmt: skip
        cells = [f"{row.meldingen:>16}"] + [_cell(s.share, s.done, s.of) for s in shares]
        print(f"{row.gebied:<12}" + "".join(cells))
    return 0


def _cell(share: float | None, done: int, of: int) -> str:
    shown = "-" if share is None else f"{share:.0%}"
    return f"{shown} ({done}/{of})".rjust(16)


#: How long a worker or deliverer has to stop before it gives up waiting (and says so).
_STOP_SECONDS = 4.0


async def _background(settings: Settings, job: str) -> int:
    """A dispatch worker or a webhook deliverer without the API, until SIGINT or SIGTERM.
    Separate commands: a deliverer's HTTP calls do not share an event loop with offers,
    and each scales on its own."""
    from triage.dispatch.worker import worker_for
    from triage.notify.deliver import deliverer_for
    from triage.runtime import open_runtime
    from triage.tasks import cancel_and_wait, until_stopped

    servers = start_missing(settings.data_dir, settings.database_url, settings.redis_url,
                            migration_database_url=settings.migration_database_url)  # fmt: skip
    try:
        runtime = await open_runtime(settings, str(servers.database_url), str(servers.redis_url))
        loop_of = worker_for(runtime) if job == "worker" else deliverer_for(runtime)
        settle_heap()
        task = asyncio.create_task(loop_of.run(), name=job)
        exporter = await _metrics_server(settings) if settings.metrics_port else None
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        ended = await until_stopped(task, stop)
        await cancel_and_wait([task], within=_STOP_SECONDS)
        if exporter is not None:
            await exporter.cleanup()
        await runtime.close()
    finally:
        servers.stop()
    return 1 if ended else 0  # ended by itself: a failure, for the unit or pod to restart


async def _metrics_server(settings: Settings) -> web.AppRunner:
    """/metrics and /healthz of a worker or deliverer process (no API, no personal data)."""
    from aiohttp import web  # only these processes need it; other commands start faster

    from triage.observability import metrics

    async def get_metrics(_request: web.Request) -> web.Response:
        payload, content_type = metrics.render()
        return web.Response(body=payload, headers={"Content-Type": content_type})

    async def health(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/metrics", get_metrics)
    app.router.add_get("/healthz", health)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.host, settings.metrics_port).start()
    return runner


async def _reconcile(settings: Settings) -> int:
    from triage.queue.keys import Keys
    from triage.queue.reconcile import reconcile_queues
    from triage.runtime import redis_client
    from triage.store.db import create_pool

    servers = start_missing(settings.data_dir, settings.database_url, settings.redis_url,
                            migration_database_url=settings.migration_database_url)  # fmt: skip
    try:
        pool = await create_pool(str(servers.database_url), settings)
        client = redis_client(str(servers.redis_url))
        try:
            restored = await reconcile_queues(pool, client, Keys(settings.redis_prefix))
        finally:
            await client.aclose()
            await pool.close()
    finally:
        servers.stop()
    print(
        "another process is reconciling"
        if restored is None
        else f"restored {restored} queue entries"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="triage", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the HTTP API")
    serve.add_argument("--migrate", action="store_true", help="apply migrations first")
    serve.add_argument(
        "--demo", action="store_true", help="apply migrations and create demo credentials"
    )
    serve.add_argument("--processes", type=int, help="API processes sharing the port")
    serve.add_argument("--port", type=int)

    sub.add_parser("migrate", help="apply database migrations")

    clients = sub.add_parser("clients", help="API clients of source systems")
    csub = clients.add_subparsers(dest="action", required=True)
    add = csub.add_parser("add", help="create a client and print its token")
    add.add_argument("name")
    add.add_argument("--source", required=True, choices=[s.value for s in Source])
    csub.add_parser("rotate", help="issue a new token").add_argument("name")
    csub.add_parser("disable", help="disable a client").add_argument("name")

    users = sub.add_parser("users", help="user accounts")
    usub = users.add_subparsers(dest="action", required=True)
    uadd = usub.add_parser("add", help="create or update a user and print a new token")
    uadd.add_argument("username")
    uadd.add_argument("--role", required=True, choices=[r.value for r in UserRole])
    uadd.add_argument("--gebied", help="required for specialists and coordinators")
    uadd.add_argument("--display-name")
    uadd.add_argument(
        "--expires", type=_token_days, default=USER_TOKEN_DAYS, metavar="DAYS",
        help=f"days until the token expires (1-365, default {USER_TOKEN_DAYS})",
    )  # fmt: skip
    uadd.add_argument(
        "--password-stdin", action="store_true",
        help="read a password (12 characters or more) from the first line of stdin; no token",
    )  # fmt: skip
    usub.add_parser("disable", help="disable a user").add_argument("username")

    config = sub.add_parser("config", help="configuration files")
    csub2 = config.add_subparsers(dest="action", required=True)
    check = csub2.add_parser("check", help="validate a region, rules, network or oidc file")
    check.add_argument("file")
    check.add_argument("--kind", choices=["region", "rules", "network", "oidc"],
                       default="region", help="what the file is (default: region)")  # fmt: skip

    _add_recognition_parsers(sub)
    sub.add_parser("reconcile", help="restore the Redis queues from PostgreSQL once")
    sub.add_parser("worker", help="run a dispatch worker (offers queued meldingen)")
    sub.add_parser("deliver", help="run a webhook deliverer (sends, retries, dead-letters)")

    hooks = sub.add_parser("webhooks", help="webhooks of the networks' organisations")
    hsub = hooks.add_subparsers(dest="action", required=True)
    hadd = hsub.add_parser("add", help="register a webhook and print its signing secret")
    hadd.add_argument("organisation", help='as in the network file, e.g. "GGZ Breburg"')
    hadd.add_argument("url", help="https URL (plain http only to this machine)")
    hadd.add_argument("--events", nargs="+", help="offer, reassigned, escalation, "
                      "milestone_overdue (default: all)")  # fmt: skip
    hsub.add_parser("list", help="webhooks with their pending and dead deliveries")
    hurl = hsub.add_parser("url", help="give a webhook a new URL; what waits goes there")
    hurl.add_argument("id", type=int)
    hurl.add_argument("url", help="https URL (plain http only to this machine)")
    hsub.add_parser("disable", help="stop a webhook; what waits becomes dead letters"
                    ).add_argument("id", type=int)  # fmt: skip

    _add_record_parsers(sub)
    return parser


def _add_recognition_parsers(sub: Any) -> None:
    recognition = sub.add_parser("recognition", help="the household recognition model")
    rsub = recognition.add_subparsers(dest="action", required=True)
    rtrain = rsub.add_parser(
        "train", help="estimate the model from the region's own meldingen (no labels needed)"
    )
    rtrain.add_argument("--out", type=Path, required=True, help="where to write the model")
    rtrain.add_argument("--days", type=int, default=730, help="meldingen of the last N days")
    rtrain.add_argument("--limit", type=int, default=500_000, help="at most this many")
    rtrain.add_argument("--seed", type=int, default=1, help="of the random pairs")
    rtrain.add_argument("--describe", default="de eigen meldingen van de regio",
                        help="what it was trained on, kept in the model")  # fmt: skip
    rtrain.add_argument("--from", dest="start", type=Path,
                        help="the model to start from and take thresholds of "
                        "(default: the configured one)")  # fmt: skip
    rdescribe = rsub.add_parser("describe", help="print a model's levels and weights")
    rdescribe.add_argument("--from", dest="start", type=Path,
                           help="a model file (default: the configured one)")  # fmt: skip
    rsub.add_parser(
        "rekey", help="make every case's profile and blocking keys again from its meldingen "
        "(after an upgrade that changed the keys)"
    )  # fmt: skip


def _add_record_parsers(sub: Any) -> None:
    """The commands about what is kept: the audit, retention, the process indicators."""
    audit = sub.add_parser("audit", help="the audit log")
    asub = audit.add_subparsers(dest="action", required=True)
    asub.add_parser("verify", help="check the audit log's hash chain; name the first break")

    retention = sub.add_parser(
        "retention", help="erase personal data of cases closed longer than the region's term"
    )
    retention.add_argument("--dry-run", action="store_true", help="list what would go")
    retention.add_argument("--limit", type=int, default=1000, help="cases listed (dry run)")

    report = sub.add_parser("report", help="the process indicators per gebied (counts only)")
    report.add_argument(
        "--from",
        dest="start",
        type=date.fromisoformat,
        help="first date (default: 30 days before --until)",
    )
    report.add_argument(
        "--until", type=date.fromisoformat, help="the day after the last (default: tomorrow)"
    )
    report.add_argument("--gebied", help="one gebied only")
    report.add_argument("--json", action="store_true", help="JSON, as GET /api/v1/kpi")


#: The commands that run in an event loop, by name.
_ASYNC_COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]] = {
    "migrate": lambda _args, settings: _migrate(settings),
    "clients": _clients,
    "users": _users,
    "worker": lambda _args, settings: _background(settings, "worker"),
    "deliver": lambda _args, settings: _background(settings, "deliver"),
    "webhooks": _webhooks,
    "report": _report,
    "recognition": _recognition,
    "audit": _audit,
    "retention": _retention,
    "reconcile": lambda _args, settings: _reconcile(settings),
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level, stream=sys.stderr)
    try:
        if args.command == "serve":
            return cmd_serve(args, settings)
        if args.command == "config":
            return cmd_config_check(args, settings)
        return _run(_ASYNC_COMMANDS[args.command](args, settings))
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from triage.auth.accounts import AccountError
        from triage.notify.webhooks import WebhookError
        from triage.problems import Problem
        from triage.serve import ServeError
        from triage.store.migrate import MigrationError

        if isinstance(exc, Problem):  # a report's period, say: what was wrong, in words
            said = "; ".join(f"{e.pointer.lstrip('/')}: {e.detail}" for e in exc.errors)
            print(f"triage: {said or exc.detail}", file=sys.stderr)
            return 2
        if isinstance(exc, AccountError | MigrationError | WebhookError):
            print(f"triage: {exc}", file=sys.stderr)
            return 2
        if isinstance(exc, ServeError):  # a busy port, say: the message says what to do
            print(f"triage: {exc}", file=sys.stderr)
            return 1
        raise
