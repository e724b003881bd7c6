"""The SQLite file: WAL, a schema version, and refusing a file from a newer emulator."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from emulator.store.db import SCHEMA_VERSION, Database


def test_new_file_is_wal_and_versioned(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = await Database.open(tmp_path / "e.sqlite3")
        row = await db.fetch_one("PRAGMA journal_mode")
        assert row is not None and row[0] == "wal"
        await db.close()
        again = await Database.open(tmp_path / "e.sqlite3")  # migrations are not re-run
        await again.close()

    asyncio.run(scenario())
    with sqlite3.connect(tmp_path / "e.sqlite3") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"functions", "variables", "deployments", "builds", "executions"} <= tables


def test_a_file_from_a_newer_emulator_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "e.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(RuntimeError, match="newer emulator"):
        asyncio.run(Database.open(path))


def test_the_write_ahead_log_stays_small_under_steady_writes(tmp_path: Path) -> None:
    """Checkpoints run beside the writes; the log must still start over now and then, or the
    `-wal` file (and the memory mapping its index) grows with every execution ever stored."""

    async def scenario() -> int:
        db = await Database.open(tmp_path / "e.sqlite3")
        await db.write("CREATE TABLE t (seq INTEGER PRIMARY KEY, body TEXT)")
        largest = 0
        for n in range(12000):
            await db.write("INSERT INTO t (body) VALUES (?)", ["x" * 3000])
            await asyncio.sleep(0)  # as a server does between requests
            if n % 100 == 0:
                largest = max(largest, (tmp_path / "e.sqlite3-wal").stat().st_size)
        await db.close()
        return largest

    largest = asyncio.run(scenario())
    stored = (tmp_path / "e.sqlite3").stat().st_size  # every row, checkpointed at close
    assert largest < stored / 3, f"the log grew to {largest:,} bytes for {stored:,} stored"
