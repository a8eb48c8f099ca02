"""What one melding taken in costs in CPU: the service's processes, PostgreSQL's and the
load generator's, each per request.

    python loadtests/cpu_cost.py [--rate 300] [--duration 20] [--processes 2] [--repeat 3]
                                 [--generator python|wrk]

On a shared machine latency and throughput swing with the neighbours; the CPU seconds a
melding takes move far less, so this is the figure to compare two versions by (run it
for each, alternating, in one sitting). Below capacity, so that queueing does not enter.
It starts ``triage serve`` as ``intake_bench.py`` does (a fresh database each run, the
same meldingen), offers the rate open-loop and reads, before and after, the CPU time of
the service's process tree and of every PostgreSQL process from /proc (Linux), and its
own. PostgreSQL's figure counts every database of the server: run it on a quiet one.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import time
from pathlib import Path

from dataset import MeldingFactory
from intake_bench import (
    _free_port,
    add_server_options,
    forget_bench_keys,
    payloads,
    prepare_database,
    start_service,
)
from openloop import run_open_loop
from wrkloop import add_generator_option, offer

_TICK = os.sysconf("SC_CLK_TCK")


def _stats() -> dict[int, tuple[str, int, float]]:
    """Every process: its name, parent and CPU seconds (user and system)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:  # ended meanwhile
            continue
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        found[int(entry.name)] = (name, int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK)
    return found


def cpu_seconds(root: int) -> tuple[float, float]:
    """CPU seconds so far of ``root``'s process tree, and of all PostgreSQL processes."""
    stats = _stats()
    tree, grown = {root}, True
    while grown:
        more = {pid for pid, (_, parent, _) in stats.items() if parent in tree} - tree
        tree |= more
        grown = bool(more)
    service = sum(stats[pid][2] for pid in tree if pid in stats)
    postgres = sum(cpu for name, _, cpu in stats.values() if name.startswith("postgres"))
    return service, postgres


def _own_cpu() -> float:
    """CPU seconds of this process and of its children that ended (wrk, when it sends;
    not the service, which runs on)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


async def one_run(args: argparse.Namespace, seed: int) -> tuple[float, float, float]:
    db_url, tokens = await prepare_database(args.admin_url, "triage_cpu_cost")
    await forget_bench_keys(args.redis_url)
    port = _free_port()
    service = start_service(db_url, args.redis_url, port, args.processes)
    try:
        factory = MeldingFactory(seed=seed)
        warmup, _ = payloads(factory, 500, tokens, 0, port)
        await run_open_loop("127.0.0.1", port, warmup, 250)
        requests, _ = payloads(factory, int(args.rate * args.duration), tokens, 1000, port)
        service_before, postgres_before = cpu_seconds(service.pid)
        own_before = _own_cpu()
        result = await offer(args.generator, "127.0.0.1", port, requests, args.rate)
        service_after, postgres_after = cpu_seconds(service.pid)
        own = _own_cpu() - own_before
    finally:
        service.terminate()
        service.wait(timeout=20)
    n = len(requests)
    per = (
        (service_after - service_before) / n * 1e6,
        (postgres_after - postgres_before) / n * 1e6,
        own / n * 1e6,
    )
    print(f"[run] {dict(result.statuses)}; CPU per request: service {per[0]:.0f} us, "
          f"PostgreSQL {per[1]:.0f} us, generator {per[2]:.0f} us; accepted p99 "
          f"{result.percentile(99) * 1000:.1f} ms", flush=True)  # fmt: skip
    if result.ok != n:
        print(f"[run] {n - result.ok} not taken in: the rate is past capacity here", flush=True)
    return per


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_server_options(parser)
    parser.add_argument("--rate", type=float, default=300, help="offered meldingen/s")
    parser.add_argument("--duration", type=int, default=20, help="seconds")
    parser.add_argument("--processes", type=int, default=2, help="API processes")
    parser.add_argument("--repeat", type=int, default=3, help="runs, each on a fresh database")
    add_generator_option(parser)
    args = parser.parse_args()
    runs = [await one_run(args, seed=11) for _ in range(args.repeat)]
    medians = [statistics.median(r[i] for r in runs) for i in range(3)]
    print(f"== medians over {len(runs)} run(s) at {args.rate:.0f}/s, sent by {args.generator}: "
          f"CPU per melding "
          f"service {medians[0]:.0f} us, PostgreSQL {medians[1]:.0f} us, generator "
          f"{medians[2]:.0f} us")  # fmt: skip


if __name__ == "__main__":
    import uvloop

    uvloop.install()
    asyncio.run(main())
