"""Dispatch: offer queued meldingen to on-duty specialists, take their answers, and keep
offers moving when nobody answers."""
