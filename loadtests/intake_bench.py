"""Intake benchmark: the service, PostgreSQL, Redis and this generator on one machine.

    python loadtests/intake_bench.py [--rates 500,1000,1200] [--duration 20] [--processes 2]
                                     [--generator python|wrk]

It creates a fresh database, starts ``triage serve`` as a separate process, offers each
rate open-loop (see openloop.py; ``--generator wrk`` sends the same schedule through
wrk, wrkloop.py) with realistic meldingen (dataset.py, ~30% on known
households), then runs pgbench with the intake's own SQL (pgbench_intake.py) for the same
duration and prints the service's throughput as a ratio of that database-only figure.

Past capacity the service refuses meldingen (503 with Retry-After): latencies are those of
the accepted ones, the refused are counted apart, and the check after each run is per
melding: every acknowledged one stored once, none of the refused stored, every queued one
on its Redis queue. The service takes its other settings from the environment
(``TRIAGE_INTAKE_MAX_WAIT_SECONDS``, for one).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import orjson

from dataset import MeldingFactory
from openloop import Result, encode_post, run_open_loop
from pgbench_intake import build_script
from triage.auth.accounts import IssuedToken, add_client
from triage.queue.keys import Keys, forget
from triage.store.migrate import migrate
from triage.vocabulary import Source
from wrkloop import add_generator_option, offer, wrk_path

HERE = Path(__file__).parent
PATH = "/api/v1/meldingen"


def add_server_options(parser: argparse.ArgumentParser) -> None:
    """Where the benchmarks make their databases and which Redis database they use."""
    parser.add_argument(
        "--admin-url",
        default=os.environ.get(
            "TRIAGE_BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("TRIAGE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _db_url(admin_url: str, name: str) -> str:
    base, _, query = admin_url.partition("?")
    return base.rsplit("/", 1)[0] + f"/{name}" + (f"?{query}" if query else "")


def token_of(issued: IssuedToken) -> str:
    """The token just issued (a client's or an API user's always has one)."""
    if issued.token is None:
        raise SystemExit(f"{issued.name}: no token was issued")
    return issued.token


async def prepare_database(admin_url: str, name: str) -> tuple[str, dict[str, str]]:
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = _db_url(admin_url, name)
    conn = await asyncpg.connect(url)
    await migrate(conn)
    tokens = {}
    for source in Source:
        issued = await add_client(conn, f"bench-{source.value}", source, datetime.now(UTC))
        tokens[source.value] = token_of(issued)
    await conn.close()
    return url, tokens


#: The benchmarks' Redis keys: emptied before each run (nothing else on the server is).
BENCH_KEYS = Keys("triage-bench")


async def forget_bench_keys(redis_url: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url)
    await forget(client, BENCH_KEYS)
    await client.aclose()


def start_service(
    db_url: str, redis_url: str, port: int, processes: int
) -> subprocess.Popen[bytes]:
    """``triage serve`` until it is ready; its log (request lines included, on stderr like
    every command's) goes to ``service.log`` in its data directory: written, as in
    production, and there to read when a run goes wrong. Never to a pipe nobody reads,
    which fills and stops the service."""
    data_dir = Path(tempfile.mkdtemp(prefix="triage-bench-"))
    env = {
        **os.environ,
        "TRIAGE_DATABASE_URL": db_url,
        "TRIAGE_REDIS_URL": redis_url,
        "TRIAGE_REDIS_PREFIX": BENCH_KEYS.prefix,
        "TRIAGE_PORT": str(port),
        "TRIAGE_PROCESSES": str(processes),
        "TRIAGE_DATA_DIR": str(data_dir),
        # Reconciling every 30 s is the default; it is part of the measured load. Dispatch
        # is not: this measures intake, and its consistency check counts the queues.
        "TRIAGE_DISPATCH_IN_API": "false",
        # One client per source sends the whole offered load: above any source's limit.
        "TRIAGE_CLIENT_REQUESTS_PER_SECOND": "1000000",
    }
    log = data_dir / "service.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "triage", "serve"], env=env,
                                stdout=subprocess.DEVNULL, stderr=out)  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as resp:
                if resp.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"service did not become ready; its log ({log}):\n{log.read_text()[-4000:]}")


Key = tuple[str, str]  # (source, external_id)


def payloads(
    factory: MeldingFactory, count: int, tokens: dict[str, str], offset: int, port: int
) -> tuple[list[bytes], list[Key]]:
    """Encoded HTTP requests, made before the run so generating them costs nothing during
    it, and the key of each."""
    requests, keys = [], []
    for i in range(count):
        body = factory.melding(offset + i)
        headers = {
            "Authorization": f"Bearer {tokens[body['source']]}",
            "Content-Type": "application/json",
        }
        requests.append(encode_post(f"127.0.0.1:{port}", PATH, orjson.dumps(body), headers))
        keys.append((body["source"], body["external_id"]))
    return requests, keys


def run_pgbench(db_url: str, clients: int, duration: int) -> float:
    binary = shutil.which("pgbench")
    if binary is None:
        import pgserver  # ships its own pgbench

        binary = str(Path(pgserver.__file__).parent / "pginstall" / "bin" / "pgbench")
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write(build_script())
    out = subprocess.run(
        [
            binary,
            "-n",
            "-M",
            "prepared",
            "-f",
            script.name,
            "-c",
            str(clients),
            "-j",
            "2",
            "-T",
            str(duration),
            db_url,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out.stdout)
    if match is None:
        raise SystemExit(f"pgbench printed no tps:\n{out.stdout}\n{out.stderr}")
    return float(match.group(1))


async def check_consistency(
    db_url: str, redis_url: str, acknowledged: list[Key], refused: list[Key], other: int
) -> str:
    """Every 2xx is one stored melding, no 503 left one, every queued melding is on a
    Redis queue. One answered otherwise, or not at all, may or may not have been stored."""
    import redis.asyncio as aioredis

    conn = await asyncpg.connect(db_url)
    rows = await conn.fetch("SELECT source, external_id FROM meldingen")
    queued = await conn.fetchval("SELECT count(*) FROM meldingen WHERE status = 'queued'")
    await conn.close()
    client = aioredis.Redis.from_url(redis_url)
    on_queues = sum([await client.zcard(k) for k in await client.keys(BENCH_KEYS.queue("*"))])
    await client.aclose()
    stored = {(r["source"], r["external_id"]) for r in rows}  # unique: the idempotency key
    lost = len(set(acknowledged) - stored)
    refused_stored = len(set(refused) & stored)
    unexpected = len(stored - set(acknowledged)) - refused_stored
    ok = (
        len(rows) == len(acknowledged) + unexpected
        and not lost
        and not refused_stored
        and unexpected <= other
        and on_queues == queued
    )
    return (
        f"{'OK' if ok else 'MISMATCH'}: {len(acknowledged)} acknowledged, {len(rows)} stored, "
        f"{lost} acknowledged not stored; {len(refused)} refused, {refused_stored} of them "
        f"stored; {other} answered otherwise or not at all, {unexpected} stored without a 2xx; "
        f"{queued} queued in PostgreSQL, {on_queues} on Redis queues"
    )


async def one_run(args: argparse.Namespace, rates: list[float], seed: int) -> dict[str, object]:
    db_url, tokens = await prepare_database(args.admin_url, "triage_bench")
    await forget_bench_keys(args.redis_url)
    port = _free_port()
    service = start_service(db_url, args.redis_url, port, args.processes)
    factory = MeldingFactory(seed=seed)
    results: list[Result] = []
    acknowledged: list[Key] = []
    refused: list[Key] = []
    other = 0

    def tally(result: Result, keys: list[Key]) -> None:
        nonlocal other
        for key, status in zip(keys, result.outcomes, strict=True):
            if 200 <= status < 300:
                acknowledged.append(key)
            elif status == 503:
                refused.append(key)
            else:
                other += 1

    try:
        warmup, keys = payloads(factory, 600, tokens, 0, port)
        tally(await run_open_loop("127.0.0.1", port, warmup, 200), keys)
        offset = len(warmup)
        for rate in rates:
            count = int(rate * args.duration)
            requests, keys = payloads(factory, count, tokens, offset, port)
            offset += count
            result = await offer(
                args.generator, "127.0.0.1", port, requests, rate, connections=args.connections
            )
            tally(result, keys)
            results.append(result)
            print(f"[http] {result.summary()}", flush=True)
        await asyncio.sleep(1)  # the background enqueue of the last answers
        check = await check_consistency(db_url, args.redis_url, acknowledged, refused, other)
        print(f"[check] {check}", flush=True)
    finally:
        service.terminate()
        service.wait(timeout=20)
    run: dict[str, object] = {
        "check": check,
        "http": [
            {
                "offered": r.offered_rate,
                "throughput": round(r.throughput, 1),
                "p50_ms": round(r.percentile(50) * 1000, 2),
                "p99_ms": round(r.percentile(99) * 1000, 2),
                "p999_ms": round(r.percentile(99.9) * 1000, 2),
                "max_ms": round(r.percentile(100) * 1000, 2),
                "refused": r.refused,
                "refused_share": round(r.refused / r.sent, 4),
                "refused_p99_ms": round(r.percentile(99, r.refused_latencies) * 1000, 2),
                "statuses": dict(r.statuses),
                "errors": dict(r.errors),
            }
            for r in results
        ],
    }
    if not args.no_pgbench:
        tps = run_pgbench(db_url, args.pgbench_clients, args.duration)
        best = max(r.throughput for r in results)
        run["pgbench_tps"] = round(tps, 1)
        run["http_over_pgbench"] = round(best / tps, 3)
        print(
            f"[pgbench] same SQL, one melding per transaction, {args.pgbench_clients} clients, "
            f"{args.duration}s: {tps:.0f} tps; best HTTP throughput / pgbench = {best / tps:.2f}",
            flush=True,
        )
    return run


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rates", default="500,1000,1500,2000", help="offered meldingen/s")
    parser.add_argument("--duration", type=int, default=20, help="seconds per rate")
    parser.add_argument("--processes", type=int, default=2, help="API processes")
    parser.add_argument("--repeat", type=int, default=3, help="runs, each on a fresh database")
    parser.add_argument(
        "--connections", type=int, default=256,
        help="the generator's keep-alive connections; a request due while all are busy "
        "waits for one, and that wait counts in its latency",
    )  # fmt: skip
    add_server_options(parser)
    add_generator_option(parser)
    parser.add_argument("--pgbench-clients", type=int, default=16)
    parser.add_argument("--no-pgbench", action="store_true")
    args = parser.parse_args()
    if args.generator == "wrk":
        wrk_path()  # before any database is made: say at once that it is missing
    rates = [float(r) for r in args.rates.split(",")]

    runs = []
    for index in range(args.repeat):
        print(f"== run {index + 1} of {args.repeat}", flush=True)
        runs.append(await one_run(args, rates, seed=2026 + index))

    print(
        f"== medians over {len(runs)} run(s), {args.processes} API process(es), "
        f"{args.duration}s per rate, sent by {args.generator}"
    )
    for i, rate in enumerate(rates):
        rows: list[dict[str, float]] = [run["http"][i] for run in runs]  # type: ignore[index]

        def median(name: str, rows: list[dict[str, float]] = rows) -> float:
            return _median([r[name] for r in rows])

        print(
            f"  offered {rate:>6.0f}/s: served {median('throughput'):7.1f}/s; accepted "
            f"p50 {median('p50_ms'):7.1f} ms, p99 {median('p99_ms'):7.1f} ms, "
            f"p99.9 {median('p999_ms'):7.1f} ms; refused (503) "
            f"{median('refused_share'):.1%}"
        )
    checks = [str(run["check"]) for run in runs]
    print(f"  checks: {sum(c.startswith('OK') for c in checks)} of {len(checks)} OK")
    if not args.no_pgbench:
        tps = _median([float(run["pgbench_tps"]) for run in runs])  # type: ignore[arg-type]
        ratio = _median([float(run["http_over_pgbench"]) for run in runs])  # type: ignore[arg-type]
        print(f"  pgbench {tps:.0f} tps; HTTP / pgbench {ratio:.2f}")
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    path = out_dir / f"intake-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    path.write_text(
        json.dumps(
            {
                "processes": args.processes,
                "duration_s": args.duration,
                "generator": args.generator,
                "intake_max_wait_s": os.environ.get("TRIAGE_INTAKE_MAX_WAIT_SECONDS"),
                "runs": runs,
            },
            indent=2,
        )
    )
    print(f"[report] {path}")


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main())
