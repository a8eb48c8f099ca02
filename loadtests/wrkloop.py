"""openloop.py's schedule and figures, with wrk (Debian's package ``wrk``) sending.

    await offer("wrk" | "python", host, port, requests, rate, connections=1024) -> Result

The Python generator costs about 200-350 us of CPU per request, kernel included: offered
1,700 meldingen/s it takes some 0.4 of the machine's two cores from the service and its
database, twice what it takes at half that rate. Past capacity that difference lands on
the very figures being measured. wrk is a C client on an event loop; ``openloop.lua``
gives it the same open-loop schedule (request ``i`` due at ``start + i / rate``, its
latency counted from then, a wait for a free connection included) and the same answers
per request, so the benchmarks' checks and figures are unchanged. wrk's own latency
figures, measured from the send and mixing refusals with acceptances, are not used.

Each request carries its index as its ``X-Request-ID`` (32 hex digits), which the service
keeps and sends back, on a refusal too; that is how an answer finds its request.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from openloop import Result, run_open_loop

LUA = Path(__file__).with_name("openloop.lua")
#: Time for wrk to start and open its connections before the first request is due.
_LEAD = 1.0
_SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


GENERATORS = ("python", "wrk")


async def offer(
    generator: str,
    host: str,
    port: int,
    requests: Sequence[bytes],
    rate: float,
    *,
    connections: int = 256,
    timeout: float = 60.0,
) -> Result:
    """``requests`` offered at ``rate`` by the generator named (``GENERATORS``)."""
    if generator == "wrk":
        return await asyncio.to_thread(
            run_wrk_open_loop, host, port, requests, rate, connections=connections,
            timeout=timeout,
        )  # fmt: skip
    return await run_open_loop(host, port, requests, rate, connections=connections,
                               timeout=timeout)  # fmt: skip


def add_generator_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--generator", choices=GENERATORS, default="python",
        help="who sends: openloop.py's Python client, or wrk (Debian's package) with the "
        "same schedule and figures at about half its CPU per request (wrkloop.py)",
    )  # fmt: skip


def wrk_path() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit(
            "wrk is not installed: install Debian's package (apt-get install wrk), "
            "or run with --generator python"
        )
    return found


def with_request_id(request: bytes, index: int) -> bytes:
    """``request`` with ``X-Request-ID: <index as 32 hex digits>`` after its request line."""
    line_end = request.index(b"\r\n")
    return request[:line_end] + b"\r\nX-Request-ID: %032x" % index + request[line_end:]


def run_wrk_open_loop(
    host: str,
    port: int,
    requests: Sequence[bytes],
    rate: float,
    *,
    connections: int = 256,
    timeout: float = 60.0,
) -> Result:
    """Offer ``requests`` at ``rate`` per second through wrk; every answer within
    ``timeout`` of the last request's due time is counted, the rest are "unanswered"."""
    wrk = wrk_path()
    result = Result(offered_rate=rate, sent=len(requests), outcomes=[0] * len(requests))
    with tempfile.TemporaryDirectory(prefix="triage-wrk-") as tmp:
        request_file, answer_file = Path(tmp) / "requests", Path(tmp) / "answers"
        with request_file.open("wb") as out:
            for index, request in enumerate(requests):
                encoded = with_request_id(request, index)
                out.write(b"%d\n" % len(encoded))
                out.write(encoded)
        limit = math.ceil(_LEAD + len(requests) / rate + timeout)
        command = [
            wrk, "-t1", f"-c{connections}", f"-d{limit}s", f"--timeout={math.ceil(timeout)}s",
            "-s", str(LUA), f"http://{host}:{port}/", "--",
            str(request_file), repr(_LEAD), repr(rate), str(answer_file),
        ]  # fmt: skip
        ran = subprocess.run(command, capture_output=True, text=True, check=False)
        if ran.returncode != 0 or not answer_file.exists():
            raise SystemExit(f"wrk failed ({ran.returncode}):\n{ran.stdout}\n{ran.stderr}")
        answers = answer_file.read_text().splitlines()
    last = 0.0
    for line in answers:
        index_s, status_s, latency_s, delay_s = line.split()
        index, status, latency = int(index_s), int(status_s), float(latency_s)
        if index < 0:
            result.errors["answer without its X-Request-ID"] += 1
            continue
        result.statuses[status] += 1
        result.outcomes[index] = status
        if 200 <= status < 300:
            result.latencies.append(latency)
        elif status == 503:
            result.refused_latencies.append(latency)
        result.send_delays.append(float(delay_s))
        last = max(last, index / rate + latency)
    # How late a request went out, a wait for a free connection included (openloop.py
    # counts that wait apart; with 1,024 connections it is rare).
    result.max_lag = max(result.send_delays, default=0.0)
    result.elapsed = last
    result.connections = connections
    if len(answers) < len(requests):
        result.errors["unanswered"] += len(requests) - len(answers)
    errors = _SOCKET_ERRORS.search(ran.stdout)
    if errors:
        for name, count in zip(
            ("connect", "read", "write", "timeout"), errors.groups(), strict=True
        ):
            if int(count):
                result.errors[f"wrk {name}"] += int(count)
    return result
