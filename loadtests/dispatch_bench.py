"""Commit-to-offer latency: how long a stored melding waits until a specialist has the offer.

    python loadtests/dispatch_bench.py [--backlog 500] [--rate 200] [--duration 20] [--repeat 3]

Per run, on a fresh database: starts ``triage serve`` (2 API processes, no dispatch in
them), posts ``--backlog`` meldingen while no worker runs (a queue of 500), then starts
two ``triage worker`` processes and at the same moment offers ``--rate`` new meldingen/s
open-loop. Latency per melding is ``assignments.offered_at - meldingen.created_at``: from
the intake's commit time (taken just before its store, so a little over) to the offer's
commit in the worker. Every melding must then have exactly one active offer.

The bar (p99 at most 100 ms) is read on all new meldingen. New meldingen that arrive
while the backlog is being offered queue behind the older meldingen of their level
(first come, first served), so their wait includes the rest of the backlog; crises
jump the queue. So the figures are also reported apart: the new meldingen stored after
the backlog was offered (the steady state), those stored while it was, and of those
the crises.

Who is on duty: by default (``--roster full``) everyone the demo network file rosters
works around the clock (a copy of the file with every shift 00:00-24:00, given to the
service and workers as TRIAGE_NETWORK_FILE), so figures do not depend on the hour the
benchmark runs; that is the bar's "40 specialists on shifts". ``--roster clock``
keeps the demo roster and the real clock: at night nearly every offer then goes to a
gebied's coordinator (nobody in the network works nights), who soon holds hundreds of
offers.

Every organisation of the networks has a webhook (unless ``--no-webhooks``) to a
receiver in this process that answers 200: each offer also writes a delivery in its
transaction, one ``triage deliver`` process sends them, and the run reports
offer-to-delivery latency (the delivery's creation to its arrival at the receiver) and
that every delivery arrived exactly once.

``--chaos``: a third into the load one worker is killed (SIGKILL, so mid-claim is
likely) and replaced, two thirds in Redis is flushed; the run then waits until every
melding has an offer and counts lost (none) and doubled (none) offers. Its latency
figures include the recovery and are not the ones to quote.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib import resources

import aiohttp
import asyncpg
import yaml
from prometheus_client.parser import text_string_to_metric_families

from dataset import MeldingFactory
from diskprobe import DiskProbe, describe
from intake_bench import (
    BENCH_KEYS,
    _free_port,
    add_server_options,
    forget_bench_keys,
    payloads,
    prepare_database,
    start_service,
)
from openloop import run_open_loop

_LATENCY = """
SELECT percentile_cont(ARRAY[0.5, 0.99, 0.999]) WITHIN GROUP (
           ORDER BY extract(epoch FROM a.offered_at - m.created_at)) AS pct,
       count(*) AS offered, max(extract(epoch FROM a.offered_at - m.created_at)) AS worst
  FROM meldingen m
  JOIN assignments a ON a.melding_id = m.id
 WHERE m.external_id LIKE $1 AND a.state = 'offered'
   AND m.created_at > $2 AND m.created_at <= $3 AND ($4::text IS NULL OR m.urgency_level = $4)
"""
_ALWAYS = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


async def _latency(
    conn: asyncpg.Connection,
    pattern: str,
    window: tuple[datetime, datetime] = _ALWAYS,
    level: str | None = None,
) -> dict[str, float]:
    """Commit-to-offer percentiles in ms of the meldingen stored within ``window``."""
    row = await conn.fetchrow(_LATENCY, pattern, *window, level)
    pct = row["pct"] or [float("nan")] * 3
    return {"n": row["offered"], "p50": pct[0] * 1000, "p99": pct[1] * 1000,
            "p999": pct[2] * 1000, "max": float(row["worst"] or "nan") * 1000}  # fmt: skip


async def _within_bar(conn: asyncpg.Connection, ports: list[int]) -> dict[str, float]:
    """The share of new meldingen offered within 100 ms of their commit, to the offer's
    commit: from the workers' ``triage_time_to_offer_seconds`` (0.1 s is one of its bucket
    bounds, so the share is exact). ``offered_at`` in the database is the round's time,
    taken before the claim; the histogram's end is taken after the offer committed. Every
    backlog melding waited longer than that (checked), so the bucket holds new ones only."""
    samples: dict[str, float] = {"le": 0.0, "count": 0.0}
    async with aiohttp.ClientSession() as http:
        for port in ports:
            async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                text = await resp.text()
            for family in text_string_to_metric_families(text):
                for s in family.samples:
                    if s.name == "triage_time_to_offer_seconds_bucket" and s.labels["le"] == "0.1":
                        samples["le"] += s.value
                    elif s.name == "triage_time_to_offer_seconds_count":
                        samples["count"] += s.value
    backlog, quickest = await conn.fetchrow(
        "SELECT count(*), min(a.offered_at - m.created_at) FROM meldingen m"
        " JOIN assignments a ON a.melding_id = m.id WHERE m.external_id LIKE 'LOAD-00%'"
    )
    assert quickest.total_seconds() > 0.1, "a backlog melding would count as new"
    return {"within_100ms_pct": 100 * samples["le"] / (samples["count"] - backlog)}


def _fmt(f: dict[str, float]) -> str:
    return (f"{f['n']} meldingen: p50 {f['p50']:.1f} ms p99 {f['p99']:.1f} ms "
            f"p99.9 {f['p999']:.1f} ms max {f['max']:.1f} ms")  # fmt: skip


def start_worker(
    db_url: str, redis_url: str, job: str = "worker", metrics_port: int | None = None
) -> subprocess.Popen[bytes]:
    """``triage worker`` (or ``triage deliver``) against the benchmark's servers."""
    env = {**os.environ, "TRIAGE_DATABASE_URL": db_url, "TRIAGE_REDIS_URL": redis_url,
           "TRIAGE_REDIS_PREFIX": BENCH_KEYS.prefix,
           "TRIAGE_DATA_DIR": tempfile.mkdtemp(prefix="triage-worker-")}  # fmt: skip
    if metrics_port is not None:
        env["TRIAGE_METRICS_PORT"] = str(metrics_port)
    return subprocess.Popen([sys.executable, "-m", "triage", job], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


async def _wait_offered(
    conn: asyncpg.Connection, expected: int, timeout: float, every: float = 0.5
) -> int:
    deadline = time.monotonic() + timeout
    while True:
        done = await conn.fetchval(
            "SELECT count(*) FROM meldingen WHERE status = 'offered' AND kind = 'melding'"
        )
        if done >= expected or time.monotonic() > deadline:
            return int(done)
        await asyncio.sleep(every)


class Receiver:
    """The organisations' endpoint: notes when each delivery arrived, and how often.

    A few lines of HTTP/1.1 (keep-alive, Content-Length bodies, always 200) rather than a
    web framework: the receivers live on other machines in life, and here the 2 cores
    are shared with the service, so the receiver should cost next to nothing."""

    def __init__(self) -> None:
        self.arrived: dict[str, list[float]] = {}
        self._open: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open.add(writer)
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                headers = dict(
                    line.split(b": ", 1) for line in head.split(b"\r\n")[1:] if b": " in line
                )
                await reader.readexactly(int(headers.get(b"Content-Length", b"0")))
                delivery = headers[b"Triage-Delivery"].decode()
                self.arrived.setdefault(delivery, []).append(time.time())
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the deliverer closed the connection
        finally:
            self._open.discard(writer)
            writer.close()

    async def start(self, port: int) -> None:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", port)

    async def stop(self) -> None:
        """Close the server and the deliverers' open connections."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._open):
            writer.close()
        await asyncio.sleep(0.1)  # let the handlers see their connections end


async def _register_webhooks(conn: asyncpg.Connection, url: str) -> None:
    from triage.notify import webhooks
    from triage.region import load_region
    from triage.routing.network import load_network
    from triage.scoring import load_rules

    network = load_network(None, load_region(), frozenset(load_rules().signals))
    organisations = {s.organisatie for s in network.specialists}
    for org in organisations:
        await webhooks.add(conn, org, url, events=None, organisations=organisations,
                           now=datetime.now(UTC))  # fmt: skip


async def _webhook_figures(conn: asyncpg.Connection, receiver: Receiver) -> dict[str, float]:
    """Wait until every delivery arrived (at most 60 s); latency from its creation."""
    deadline = time.monotonic() + 60
    while True:
        waiting = await conn.fetchval(
            "SELECT count(*) FROM webhook_deliveries WHERE state <> 'delivered'"
        )
        if not waiting or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    rows = await conn.fetch("SELECT id::text, extract(epoch FROM created_at) AS t, state"
                            " FROM webhook_deliveries")  # fmt: skip
    latencies = sorted(receiver.arrived[r["id"]][0] - float(r["t"])
                       for r in rows if r["id"] in receiver.arrived)  # fmt: skip
    return {
        "deliveries": len(rows),
        "delivered": sum(r["state"] == "delivered" for r in rows),
        "received_twice": sum(len(v) > 1 for v in receiver.arrived.values()),
        "hook_p50_ms": _pct(latencies, 0.5) * 1000, "hook_p99_ms": _pct(latencies, 0.99) * 1000,
    }  # fmt: skip


def _pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def full_roster_file() -> str:
    """The demo network file with every rostered person on duty around the clock."""
    source = resources.files("triage.regions").joinpath("hart-van-brabant-netwerk.yaml")
    network = yaml.safe_load(source.read_text("utf-8"))
    every_day = ["ma", "di", "wo", "do", "vr", "za", "zo"]
    for roster in network["rosters"]:
        roster["shifts"] = [{"days": every_day, "start": "00:00", "end": "00:00"}]
    network["changes"] = []
    handle, path = tempfile.mkstemp(prefix="triage-bench-network-", suffix=".yaml")
    with os.fdopen(handle, "w") as out:
        yaml.safe_dump(network, out, allow_unicode=True)
    return path


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
    await forget_bench_keys(args.redis_url)
    print("  [chaos] flushed Redis (the benchmark's keys)", flush=True)
    return workers


async def one_run(args: argparse.Namespace, seed: int) -> dict[str, float]:
    db_url, tokens = await prepare_database(args.admin_url, "triage_dispatch_bench")
    await forget_bench_keys(args.redis_url)
    port = _free_port()
    service = start_service(db_url, args.redis_url, port, args.api_processes)
    workers: list[subprocess.Popen[bytes]] = []
    factory = MeldingFactory(seed=seed)
    receiver = Receiver()
    hook_port = _free_port()
    await receiver.start(hook_port)
    hooks: dict[str, float] = {}
    try:
        if args.webhooks:
            conn = await asyncpg.connect(db_url)
            await _register_webhooks(conn, f"http://127.0.0.1:{hook_port}/hook")
            await conn.close()
        backlog, _ = payloads(factory, args.backlog, tokens, 0, port)
        fresh, _ = payloads(factory, int(args.rate * args.duration), tokens, 10**6, port)
        await run_open_loop("127.0.0.1", port, backlog, 250)
        conn = await asyncpg.connect(db_url)
        metrics_ports = [_free_port(), _free_port()]
        workers = [start_worker(db_url, args.redis_url, metrics_port=p) for p in metrics_ports]
        if args.webhooks:
            workers.append(start_worker(db_url, args.redis_url, "deliver"))
        # The new meldingen start arriving as soon as the workers work (the backlog is
        # still queued then; looked for often, so that they always overlap): the
        # workers' start-up is not part of the latency.
        await _wait_offered(conn, 1, timeout=30, every=0.02)
        load = asyncio.create_task(run_open_loop("127.0.0.1", port, fresh, args.rate))
        probe = DiskProbe()
        probe.start()
        if args.chaos:
            workers = await _chaos(args, db_url, workers)
        result = await load
        disk = probe.stop()
        queued = await conn.fetchval("SELECT count(*) FROM meldingen WHERE kind = 'melding'")
        # After chaos a killed worker's lease and a flushed queue take a reconciler round
        # (5 s) or a lease (30 s) to come back.
        offered = await _wait_offered(conn, queued, timeout=90 if args.chaos else 30)
        # The fresh ones (index >= 10**6): all of them; those stored after the backlog was
        # offered (the steady state); those that arrived while it was, which
        # queue behind older meldingen of their level, and of those the crises, which
        # must not.
        started, drained = await conn.fetchrow(
            "SELECT min(a.offered_at), max(a.offered_at) FROM assignments a"
            " JOIN meldingen m ON m.id = a.melding_id WHERE m.external_id LIKE 'LOAD-00%'"
        )
        new = await _latency(conn, "LOAD-01%")
        steady = await _latency(conn, "LOAD-01%", (drained, _ALWAYS[1]))
        during = await _latency(conn, "LOAD-01%", (_ALWAYS[0], drained))
        crisis = await _latency(conn, "LOAD-01%", (_ALWAYS[0], drained), "crisis")
        old = await _latency(conn, "LOAD-00%")
        doubles = await conn.fetchval(
            "SELECT count(*) FROM (SELECT melding_id FROM assignments"
            " WHERE state IN ('offered', 'accepted') GROUP BY 1 HAVING count(*) > 1) d"
        )
        if args.webhooks:
            hooks = await _webhook_figures(conn, receiver)
        within = {} if args.chaos else await _within_bar(conn, metrics_ports)
        await conn.close()
    finally:
        await receiver.stop()
        for proc in [*workers, service]:
            proc.terminate()
        for proc in [*workers, service]:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:  # never leave a worker behind for the next run
                proc.kill()
                proc.wait()
    figures = {
        "intake_ok": result.ok, "sent": result.sent, "meldingen": queued, "offered": offered,
        "double_offers": doubles, "drain_s": (drained - started).total_seconds(),
        **{f"new_{k}_ms": v for k, v in new.items() if k != "n"},
        **{f"steady_{k}_ms": v for k, v in steady.items() if k != "n"},
        "during_p99_ms": during["p99"], "crisis_during_max_ms": crisis["max"],
        "backlog_p50_ms": old["p50"], **hooks, **disk, **within,
    }  # fmt: skip
    print(
        f"  {result.ok}/{result.sent} new meldingen stored at {args.rate:.0f}/s; "
        f"{offered} of {queued} offered, {doubles} with two active offers",
        flush=True,
    )
    print(f"  {describe(disk)}")
    print(f"  commit-to-offer, new meldingen, all: {_fmt(new)}")
    print(f"    stored after the backlog was offered: {_fmt(steady)}")
    if within:
        print(
            f"  to the offer's commit (the workers' histograms): "
            f"{within['within_100ms_pct']:.2f}% of the new meldingen within 100 ms"
        )
    print(f"    stored while it was ({figures['drain_s']:.2f} s): {_fmt(during)}")
    print(f"    of those, crises: {_fmt(crisis)}")
    print(f"  backlog of {args.backlog}: {_fmt(old)}", flush=True)
    if hooks:
        print(f"  webhooks: {hooks['delivered']} of {hooks['deliveries']} delivered, "
              f"{hooks['received_twice']} received twice; offer-to-delivery "
              f"p50 {hooks['hook_p50_ms']:.0f} ms p99 {hooks['hook_p99_ms']:.0f} ms",
              flush=True)  # fmt: skip
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
    parser.add_argument("--api-processes", type=int, default=2,
                        help="API processes taking the meldingen (default 2)")  # fmt: skip
    parser.add_argument("--no-webhooks", dest="webhooks", action="store_false",
                        help="register no webhooks (offers write no deliveries)")  # fmt: skip
    parser.add_argument("--roster", choices=["full", "clock"], default="full",
                        help="everyone rostered on duty (default), or the demo roster by "
                        "the real clock")  # fmt: skip
    add_server_options(parser)
    args = parser.parse_args()
    if args.roster == "full":  # the service and the workers inherit the environment
        os.environ["TRIAGE_NETWORK_FILE"] = full_roster_file()
    runs = []
    for index in range(args.repeat):
        print(f"== run {index + 1} of {args.repeat}", flush=True)
        runs.append(await one_run(args, seed=300 + index))
    print(f"== medians over {len(runs)} run(s): backlog {args.backlog}, {args.rate:.0f}/s new, "
          "2 workers")  # fmt: skip
    keys = [
        "steady_p50_ms",
        "steady_p99_ms",
        "steady_p999_ms",
        "steady_max_ms",
        "new_p50_ms",
        "new_p99_ms",
        "new_max_ms",
        "drain_s",
        "during_p99_ms",
        "crisis_during_max_ms",
    ]
    keys += ["hook_p50_ms", "hook_p99_ms"] if args.webhooks else []
    keys += [] if args.chaos else ["within_100ms_pct"]
    for key in keys:
        # A run in which nothing arrived while the backlog was offered has no figure there.
        found = [r[key] for r in runs if not math.isnan(r[key])]
        each = ", ".join(f"{v:.1f}" for v in found)
        median = f"{statistics.median(found):.1f}" if found else "none"
        print(f"  {key}: {median}" + (f" (each run: {each})" if len(runs) > 1 else ""))

    def p99s(stalled: bool) -> str:
        return ", ".join(f"{r['new_p99_ms']:.1f}" for r in runs
                         if bool(r["disk_stalls"]) == stalled) or "none"  # fmt: skip

    print(
        f"  new_p99_ms of the runs in which the disk did not stall: {p99s(False)}; "
        f"of the others: {p99s(True)}"
    )
    print(f"  double offers: {sum(r['double_offers'] for r in runs)}")
    if args.webhooks:
        print(f"  webhook deliveries: {sum(r['deliveries'] for r in runs)}, not delivered: "
              f"{sum(r['deliveries'] - r['delivered'] for r in runs)}, received twice: "
              f"{sum(r['received_twice'] for r in runs)}")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
