"""Persistence: one SQLite file, opened through aiosqlite; the only place that writes SQL."""
