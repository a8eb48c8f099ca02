"""Urgency scoring: rules as data, every contribution explained in Dutch for the operator."""

from triage.scoring.rules import Rules, load_rules
from triage.scoring.score import HISTORY_WINDOW, History, Reason, Urgency, score_melding

__all__ = ["HISTORY_WINDOW", "History", "Reason", "Rules", "Urgency", "load_rules", "score_melding"]
