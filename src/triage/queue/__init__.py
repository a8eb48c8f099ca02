"""Per-gebied priority queues in Redis: derived state, rebuilt from PostgreSQL at will."""

from triage.queue.priority import priority, queue_key

__all__ = ["priority", "queue_key"]
