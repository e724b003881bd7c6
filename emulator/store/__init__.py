"""Persistence: one SQLite file, used from the event loop's thread; the only place that writes SQL."""
