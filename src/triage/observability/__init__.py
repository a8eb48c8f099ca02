"""Logs and metrics. Neither ever carries personal data: ids, codes and counts only."""
