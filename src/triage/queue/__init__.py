"""Per-gebied priority queues in Redis: derived state, rebuilt from PostgreSQL at will."""

from triage.queue.keys import Keys
from triage.queue.priority import priority

__all__ = ["Keys", "priority"]
