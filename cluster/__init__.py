"""Vectors to decisions: duplicates, events and metrics. No I/O."""
