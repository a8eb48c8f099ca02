"""Routing: which gebied, and (with dispatch) which specialist, a melding goes to."""

from triage.routing.gebied import gebied_for

__all__ = ["gebied_for"]
