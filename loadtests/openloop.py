"""An open-loop HTTP load generator: constant arrival rate, no coordinated omission.

Request ``i`` is due at ``start + i / rate`` whether or not earlier requests have finished.
Its latency is measured from that due time, not from when it was actually sent, so a
stalled server (or a stalled generator) shows up in the percentiles instead of silently
lowering the offered load. Percentiles are exact: every latency is kept and sorted.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp


@dataclass
class Result:
    offered_rate: float
    sent: int
    elapsed: float
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    max_lag: float = 0.0  # how late the generator itself sent a request

    @property
    def ok(self) -> int:
        return sum(n for s, n in self.statuses.items() if 200 <= s < 300)

    @property
    def throughput(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
        return ordered[rank]

    def summary(self) -> str:
        ms = {p: self.percentile(p) * 1000 for p in (50, 90, 99, 99.9, 100)}
        return (
            f"offered {self.offered_rate:.0f}/s, completed {self.ok} ok of {self.sent} in "
            f"{self.elapsed:.1f}s = {self.throughput:.0f}/s; latency ms p50 {ms[50]:.1f} "
            f"p90 {ms[90]:.1f} p99 {ms[99]:.1f} p99.9 {ms[99.9]:.1f} max {ms[100]:.1f}; "
            f"statuses {dict(self.statuses)}; errors {dict(self.errors)}; "
            f"generator max lag {self.max_lag * 1000:.1f} ms"
        )


async def run_open_loop(
    url: str,
    bodies: Sequence[bytes],
    headers_for: Sequence[dict[str, str]],
    rate: float,
    *,
    connections: int = 512,
    timeout: float = 10.0,
) -> Result:
    result = Result(offered_rate=rate, sent=len(bodies), elapsed=0.0)
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=client_timeout) as session:
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.2
        pending: set[asyncio.Task[None]] = set()

        async def one(index: int, due: float) -> None:
            lag = loop.time() - due
            result.max_lag = max(result.max_lag, lag)
            try:
                async with session.post(url, data=bodies[index], headers=headers_for[index]) as resp:
                    await resp.read()
                    result.statuses[resp.status] += 1
                    if 200 <= resp.status < 300:
                        result.latencies.append(loop.time() - due)
            except (aiohttp.ClientError, TimeoutError) as exc:
                result.errors[type(exc).__name__] += 1

        for index in range(len(bodies)):
            due = start + index / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(one(index, due))
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.gather(*pending)
        result.elapsed = loop.time() - start
    return result
