"""Commit-to-offer latency: how long a stored melding waits until a specialist has the offer.

    python loadtests/dispatch_bench.py [--backlog 500] [--rate 200] [--duration 20] [--repeat 3]

Per run, on a fresh database: starts ``triage serve`` (2 API processes, no dispatch in
them), posts ``--backlog`` meldingen while no worker runs (a queue of 500), then starts
two ``triage worker`` processes and at the same moment offers ``--rate`` new meldingen/s
open-loop. Latency per melding is ``assignments.offered_at - meldingen.created_at``: from
the intake's commit time (taken just before its store, so a little over) to the offer's
commit in the worker. Percentiles over the new meldingen, and separately over the
backlog; then every melding must have exactly one active offer.

Who is on duty follows the real clock and the demo roster, so at night most offers go to
the crisis service and coordinators; the latency is the same work either way.

``--chaos``: a third into the load one worker is killed (SIGKILL, so mid-claim is
likely) and replaced, two thirds in Redis is flushed; the run then waits until every
melding has an offer and counts lost (none) and doubled (none) offers. Its latency
figures include the recovery and are not the ones to quote.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time

import asyncpg
import redis

from dataset import MeldingFactory
from intake_bench import _free_port, add_server_options, payloads, prepare_database, start_service
from openloop import run_open_loop

_LATENCY = """
SELECT percentile_cont(ARRAY[0.5, 0.99, 0.999]) WITHIN GROUP (
           ORDER BY extract(epoch FROM a.offered_at - m.created_at)) AS pct,
       count(*) AS offered, max(extract(epoch FROM a.offered_at - m.created_at)) AS worst
  FROM meldingen m
  JOIN assignments a ON a.melding_id = m.id
 WHERE m.external_id LIKE $1 AND a.state = 'offered'
"""


def start_worker(db_url: str, redis_url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TRIAGE_DATABASE_URL": db_url, "TRIAGE_REDIS_URL": redis_url,
           "TRIAGE_DATA_DIR": tempfile.mkdtemp(prefix="triage-worker-")}  # fmt: skip
    return subprocess.Popen([sys.executable, "-m", "triage", "worker"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


async def _wait_offered(conn: asyncpg.Connection, expected: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        done = await conn.fetchval(
            "SELECT count(*) FROM meldingen WHERE status = 'offered' AND kind = 'melding'"
        )
        if done >= expected or time.monotonic() > deadline:
            return int(done)
        await asyncio.sleep(0.5)


async def _chaos(
    args: argparse.Namespace, db_url: str, workers: list[subprocess.Popen[bytes]]
) -> list[subprocess.Popen[bytes]]:
    """A third into the load, kill a worker outright (mid-claim, likely) and start
    another; two thirds in, flush Redis. Returns the workers running after it."""
    await asyncio.sleep(args.duration / 3)
    workers[0].kill()
    workers[0].wait()
    workers = [*workers[1:], start_worker(db_url, args.redis_url)]
    print("  [chaos] killed a worker (SIGKILL) and started another", flush=True)
    await asyncio.sleep(args.duration / 3)
    redis.Redis.from_url(args.redis_url).flushdb()
    print("  [chaos] flushed Redis", flush=True)
    return workers


async def one_run(args: argparse.Namespace, seed: int) -> dict[str, float]:
    db_url, tokens = await prepare_database(args.admin_url, "triage_dispatch_bench")
    redis.Redis.from_url(args.redis_url).flushdb()
    port = _free_port()
    service = start_service(db_url, args.redis_url, port, 2)
    workers: list[subprocess.Popen[bytes]] = []
    factory = MeldingFactory(seed=seed)
    try:
        backlog = payloads(factory, args.backlog, tokens, 0, port)
        fresh = payloads(factory, int(args.rate * args.duration), tokens, 10**6, port)
        await run_open_loop("127.0.0.1", port, backlog, 250)
        conn = await asyncpg.connect(db_url)
        workers = [start_worker(db_url, args.redis_url) for _ in range(2)]
        # The new meldingen start arriving as soon as the workers work (the backlog is
        # still queued then): their start-up is not part of the latency.
        await _wait_offered(conn, 1, timeout=30)
        load = asyncio.create_task(run_open_loop("127.0.0.1", port, fresh, args.rate))
        if args.chaos:
            workers = await _chaos(args, db_url, workers)
        result = await load
        queued = await conn.fetchval("SELECT count(*) FROM meldingen WHERE kind = 'melding'")
        # After chaos a killed worker's lease and a flushed queue take a reconciler round
        # (5 s) or a lease (30 s) to come back.
        offered = await _wait_offered(conn, queued, timeout=90 if args.chaos else 30)
        new = await conn.fetchrow(_LATENCY, "LOAD-01%")  # the fresh ones: index >= 10**6
        old = await conn.fetchrow(_LATENCY, "LOAD-00%")
        doubles = await conn.fetchval(
            "SELECT count(*) FROM (SELECT melding_id FROM assignments"
            " WHERE state IN ('offered', 'accepted') GROUP BY 1 HAVING count(*) > 1) d"
        )
        await conn.close()
    finally:
        for proc in [*workers, service]:
            proc.terminate()
        for proc in [*workers, service]:
            proc.wait(timeout=20)
    figures = {
        "intake_ok": result.ok, "sent": result.sent, "meldingen": queued, "offered": offered,
        "double_offers": doubles,
        "new_p50_ms": new["pct"][0] * 1000, "new_p99_ms": new["pct"][1] * 1000,
        "new_p999_ms": new["pct"][2] * 1000, "new_max_ms": new["worst"] * 1000,
        "backlog_p50_ms": old["pct"][0] * 1000, "backlog_max_ms": old["worst"] * 1000,
    }  # fmt: skip
    print(f"  {result.ok}/{result.sent} new meldingen stored at {args.rate:.0f}/s; "
          f"{offered} of {queued} offered, {doubles} with two active offers; commit-to-offer "
          f"new p50 {figures['new_p50_ms']:.1f} ms p99 {figures['new_p99_ms']:.1f} ms "
          f"p99.9 {figures['new_p999_ms']:.1f} ms max {figures['new_max_ms']:.1f} ms; "
          f"backlog of {args.backlog} p50 {figures['backlog_p50_ms']:.0f} ms "
          f"max {figures['backlog_max_ms']:.0f} ms", flush=True)  # fmt: skip
    return figures


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backlog", type=int, default=500)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--chaos", action="store_true",
        help="kill a worker a third into the load and flush Redis two thirds in; then "
        "check that every melding is offered exactly once",
    )  # fmt: skip
    add_server_options(parser)
    args = parser.parse_args()
    runs = []
    for index in range(args.repeat):
        print(f"== run {index + 1} of {args.repeat}", flush=True)
        runs.append(await one_run(args, seed=300 + index))
    print(f"== medians over {len(runs)} run(s): backlog {args.backlog}, {args.rate:.0f}/s new, "
          "2 workers")  # fmt: skip
    for key in ("new_p50_ms", "new_p99_ms", "new_p999_ms", "new_max_ms", "backlog_p50_ms"):
        print(f"  {key}: {statistics.median(r[key] for r in runs):.1f}")
    print(f"  double offers: {sum(r['double_offers'] for r in runs)}")


if __name__ == "__main__":
    asyncio.run(main())
