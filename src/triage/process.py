"""What every long-running process of the service (an API process, a worker, a deliverer)
does to its interpreter: the uvloop event loop, and a garbage collector that does not
stop the loop for long.

Why the collector is tuned, as measured past capacity (2,800 meldingen/s offered to two
API processes that serve about 1,300/s): with Python's defaults each API process ran
about 1,000 collections in 20 s, the young ones taking 5-30 ms and 8 or 9 full ones
60-180 ms each, most of that time spent scanning what was built at start (modules,
pydantic validators, the region's configuration) and lives as long as the process.
Every request in the process, refusals included, waits out a pause: the pauses were
most of the accepted p99 (300 ms; 214 ms after this, the refusals' p99 160 -> 63 ms).
"""

from __future__ import annotations

import contextlib
import gc

#: Collect the young generation after this many allocations more than deallocations
#: (Python's default: 700); the older ones as often as by default, relative to it.
#: Short-lived request objects are freed by reference counting long before; what reaches
#: the collector is mostly cycles (an exception and its traceback), collected a few times
#: a minute instead of several times a second.
GC_THRESHOLDS = (20_000, 10, 10)


def install_uvloop() -> None:
    """The faster event loop where it is installed; asyncio's own where it is not."""
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()


def settle_heap() -> None:
    """Call once the process has started (modules imported, pools and configuration
    built): what exists now is moved out of the collector's sight for good, and the
    young generation is collected less often. Cycles are still collected."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
