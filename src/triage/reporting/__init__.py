"""Reporting: the region's process indicators, counts only."""
