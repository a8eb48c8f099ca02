"""An open-loop HTTP load generator: constant arrival rate, no coordinated omission.

Request ``i`` is due at ``start + i / rate`` whether or not earlier requests have finished.
Its latency is measured from that due time, not from when it was actually sent, so a
stalled server (or a stalled generator, or a wait for a free connection) shows up in the
percentiles instead of silently lowering the offered load. Percentiles are exact: every
latency is kept and sorted. Latencies are those of the accepted requests (2xx); how fast
the refused ones (503) were answered is kept apart, and so is each request's status, so
that a benchmark can check what became of each one.

The client is a minimal HTTP/1.1 keep-alive client on asyncio protocols with requests
encoded before the run. A general-purpose client (aiohttp) costs several times more CPU
per request, and on a two-core machine shared with the service and its database that
CPU would be taken from the system under test.
"""

from __future__ import annotations

import asyncio
import gc
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class Result:
    offered_rate: float
    sent: int
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests
    refused_latencies: list[float] = field(default_factory=list)  # seconds, 503s
    statuses: Counter[int] = field(default_factory=Counter)
    outcomes: list[int] = field(default_factory=list)  # per request: its status, 0 if none
    errors: Counter[str] = field(default_factory=Counter)
    max_lag: float = 0.0  # how late the generator itself dispatched a request
    # per request sent: how long after its due time it went out, having waited for one of
    # the generator's connections (part of its latency, not the server's doing)
    send_delays: list[float] = field(default_factory=list)
    connections: int = 0

    @property
    def ok(self) -> int:
        return sum(n for s, n in self.statuses.items() if 200 <= s < 300)

    @property
    def refused(self) -> int:
        return self.statuses[503]

    @property
    def throughput(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0

    def percentile(self, p: float, latencies: list[float] | None = None) -> float:
        """Of the accepted requests' latencies, or of ``latencies``."""
        ordered = sorted(self.latencies if latencies is None else latencies)
        if not ordered:
            return float("nan")
        rank = max(0, min(len(ordered) - 1, -(-len(ordered) * p // 100) - 1))
        return ordered[int(rank)]

    def summary(self) -> str:
        ms = {p: self.percentile(p) * 1000 for p in (50, 90, 99, 99.9, 100)}
        refused = ""
        if self.refused:
            refused = (
                f"; {self.refused} refused (503, {self.refused / self.sent:.1%}) in p99 "
                f"{self.percentile(99, self.refused_latencies) * 1000:.1f} ms"
            )
        return (
            f"offered {self.offered_rate:.0f}/s for {self.sent / self.offered_rate:.0f}s: "
            f"{self.ok} ok of {self.sent}, {self.throughput:.0f}/s; latency ms of the ok "
            f"p50 {ms[50]:.1f} p90 {ms[90]:.1f} p99 {ms[99]:.1f} p99.9 {ms[99.9]:.1f} "
            f"max {ms[100]:.1f}{refused}; statuses {dict(self.statuses)}; "
            f"errors {dict(self.errors)}; connections {self.connections}; "
            f"generator max lag {self.max_lag * 1000:.1f} ms; waited for a connection "
            f"p50 {self.percentile(50, self.send_delays) * 1000:.1f} ms "
            f"p99 {self.percentile(99, self.send_delays) * 1000:.1f} ms"
        )


def encode_post(host: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    head = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request in flight at a time."""

    def __init__(self, pool: _Pool) -> None:
        self._pool = pool
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._due = 0.0
        self._index = 0
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # a TCP transport

    def send(self, request: bytes, due: float, index: int) -> None:
        assert self._transport is not None
        self._due, self._index = due, index
        self._pool.sent(due)
        self._transport.write(request)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self._buffer[:end]).split(b"\r\n")
        length = 0
        for line in head[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        if len(self._buffer) < end + 4 + length:
            return
        del self._buffer[: end + 4 + length]
        status = int(head[0].split(b" ", 2)[1])
        self._pool.done(self, status, self._due, self._index)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._pool.lost(self, exc)


class _Pool:
    def __init__(self, host: str, port: int, result: Result, limit: int) -> None:
        self._host, self._port, self._result, self._limit = host, port, result, limit
        self._idle: deque[_Connection] = deque()
        self._waiting: deque[tuple[bytes, float, int]] = deque()
        self._busy: dict[_Connection, float] = {}
        self._opening = 0
        self.loop = asyncio.get_running_loop()
        self.all_done = asyncio.Event()
        self.outstanding = 0

    def dispatch(self, request: bytes, due: float, index: int) -> None:
        self.outstanding += 1
        self._result.max_lag = max(self._result.max_lag, self.loop.time() - due)
        if self._idle:
            conn = self._idle.popleft()
            self._busy[conn] = due
            conn.send(request, due, index)
            return
        self._waiting.append((request, due, index))
        if self._opening + len(self._busy) < self._limit:
            self._opening += 1
            self.loop.create_task(self._open())

    async def open_all(self) -> None:
        """Open every connection before the clock starts, in steps the server's listen
        backlog takes: sources keep their connections open, and a burst of new ones at
        the start would measure the kernel's SYN retries (1 s, 3 s), not the service."""
        for first in range(0, self._limit, 64):
            made = await asyncio.gather(*(
                self.loop.create_connection(lambda: _Connection(self), self._host, self._port)
                for _ in range(min(64, self._limit - first))
            ))  # fmt: skip
            self._idle.extend(conn for _, conn in made)
            self._result.connections += len(made)

    async def _open(self) -> None:
        try:
            _, conn = await self.loop.create_connection(
                lambda: _Connection(self), self._host, self._port
            )
        except OSError as exc:
            self._opening -= 1
            self._fail_one(type(exc).__name__)
            return
        self._opening -= 1
        self._result.connections += 1
        self._next(conn)

    def _next(self, conn: _Connection) -> None:
        if self._waiting:
            request, due, index = self._waiting.popleft()
            self._busy[conn] = due
            conn.send(request, due, index)
        else:
            self._idle.append(conn)

    def sent(self, due: float) -> None:
        self._result.send_delays.append(self.loop.time() - due)

    def done(self, conn: _Connection, status: int, due: float, index: int) -> None:
        self._busy.pop(conn, None)
        self._result.statuses[status] += 1
        self._result.outcomes[index] = status
        if 200 <= status < 300:
            self._result.latencies.append(self.loop.time() - due)
        elif status == 503:
            self._result.refused_latencies.append(self.loop.time() - due)
        self._finish_one()
        self._next(conn)

    def lost(self, conn: _Connection, exc: Exception | None) -> None:
        if conn in self._busy:
            self._busy.pop(conn)
            self._fail_one(type(exc).__name__ if exc else "ConnectionClosed")
        if conn in self._idle:
            self._idle.remove(conn)

    def _fail_one(self, reason: str) -> None:
        self._result.errors[reason] += 1
        self._finish_one()

    def _finish_one(self) -> None:
        self.outstanding -= 1
        if self.outstanding == 0:
            self.all_done.set()


async def run_open_loop(
    host: str,
    port: int,
    requests: Sequence[bytes],
    rate: float,
    *,
    connections: int = 256,
    timeout: float = 60.0,
) -> Result:
    """Offer ``requests`` at ``rate`` per second; wait for all answers (at most ``timeout``)."""
    # What exists now (the prepared requests above all) lives through the run: frozen, a
    # full collection does not scan it and pause the generator mid-run (50-80 ms seen).
    gc.collect()
    gc.freeze()
    try:
        return await _run(host, port, requests, rate, connections=connections, timeout=timeout)
    finally:
        gc.unfreeze()


async def _run(
    host: str, port: int, requests: Sequence[bytes], rate: float, *, connections: int,
    timeout: float,
) -> Result:  # fmt: skip
    result = Result(offered_rate=rate, sent=len(requests), outcomes=[0] * len(requests))
    pool = _Pool(host, port, result, connections)
    await pool.open_all()
    loop = pool.loop
    start = loop.time() + 0.1
    index = 0
    while index < len(requests):
        now = loop.time()
        while index < len(requests) and start + index / rate <= now:
            pool.dispatch(requests[index], start + index / rate, index)
            index += 1
        if index < len(requests):
            await asyncio.sleep(max(0.0, start + index / rate - loop.time()))
    if pool.outstanding:
        pool.all_done.clear()
        try:
            await asyncio.wait_for(pool.all_done.wait(), timeout)
        except TimeoutError:
            result.errors["unanswered"] += pool.outstanding
    result.elapsed = loop.time() - start
    return result
