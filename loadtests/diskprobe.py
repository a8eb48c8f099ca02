"""How the machine's disk answers while a benchmark runs: a thread writes 8 kB and
``fdatasync``s it every 20 ms, as PostgreSQL does at every commit that waits for the
disk, and keeps the times.

On a shared virtual disk an ``fdatasync`` now and then takes a few hundred
milliseconds; every commit made meanwhile waits that long, and the benchmark's tail
with it. Reported beside the figures so that a run's tail can be told apart from the
code's. It probes the filesystem of the temporary directory, which is PostgreSQL's when
both are on one disk, as on a single machine.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time

STALL_MS = 50.0


class DiskProbe:
    def __init__(self, every: float = 0.02) -> None:
        self._every = every
        self._times: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="disk-probe", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> dict[str, float]:
        """Stop; ``disk_p99_ms``, ``disk_max_ms`` and ``disk_stalls`` (over 50 ms)."""
        self._stop.set()
        self._thread.join()
        ms = sorted(t * 1000 for t in self._times) or [float("nan")]
        return {
            "disk_p99_ms": ms[int(len(ms) * 0.99)],
            "disk_max_ms": ms[-1],
            "disk_stalls": sum(1 for t in ms if t > STALL_MS),
        }

    def _run(self) -> None:
        handle, path = tempfile.mkstemp(prefix="triage-disk-probe-")
        try:
            while not self._stop.wait(self._every):
                os.write(handle, b"\0" * 8192)
                started = time.perf_counter()
                os.fdatasync(handle)
                self._times.append(time.perf_counter() - started)
        finally:
            os.close(handle)
            os.unlink(path)


def describe(figures: dict[str, float]) -> str:
    return (f"disk (fdatasync every 20 ms): p99 {figures['disk_p99_ms']:.1f} ms, "
            f"max {figures['disk_max_ms']:.0f} ms, {figures['disk_stalls']:.0f} stalls "
            f"over {STALL_MS:.0f} ms")  # fmt: skip
