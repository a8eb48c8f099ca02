"""Intake: validate, normalise and durably store a melding, exactly once."""
