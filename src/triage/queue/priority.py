"""Queue ordering: crisis first, then the earliest ``respond_before``.

A queue member is the melding id and nothing else (no personal data in Redis).
The sorted-set score packs the level's rank above the deadline in epoch seconds, so
one ``ZRANGE`` gives the dispatch order.
"""

from __future__ import annotations

from datetime import datetime

from triage.vocabulary import Level

_RANK = {Level.crisis: 0, Level.acuut: 1, Level.hoog: 2, Level.regulier: 3}
_RANK_STRIDE = 10_000_000_000  # > any epoch second until the year 2286


#: Tokens kept on the wake-up list (``Keys.wake``): a token is pushed with every
#: enqueue, and an idle worker blocks on it (BLPOP) instead of polling every queue. Each
#: wakes one worker, which then empties the queues.
WAKE_TOKENS = 4


def priority(level: Level, respond_before: datetime) -> float:
    if level not in _RANK:
        raise ValueError(f"level {level.value} is not dispatched")
    return float(_RANK[level] * _RANK_STRIDE + int(respond_before.timestamp()))
