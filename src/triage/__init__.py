"""triage: real-time triage and dispatch of meldingen for Dutch crisis intake desks."""

__version__ = "0.1.0"
