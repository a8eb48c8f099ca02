"""Per-gebied priority queues in Redis: derived state, rebuilt from PostgreSQL at will."""

from triage.queue.priority import enqueue, priority, queue_key

__all__ = ["enqueue", "priority", "queue_key"]
