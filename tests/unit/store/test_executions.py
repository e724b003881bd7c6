"""How an execution's record is written: a fast sync execution in one INSERT, a slow one listed
while it runs, results of executions that finish together in one commit."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from emulator.dates import utc_now
from emulator.models import Execution
from emulator.store.db import Database
from emulator.store.executions import LAZY_COMMIT, ExecutionStore


@asynccontextmanager
async def opened(path: Path) -> AsyncIterator[tuple[Database, ExecutionStore]]:
    db = await Database.open(path)
    try:
        yield db, ExecutionStore(db)
    finally:
        await db.close()


def running(execution_id: str, function_id: str = "fn") -> Execution:
    now = utc_now()
    return Execution(
        id=execution_id,
        function_id=function_id,
        deployment_id="dep",
        trigger="http",
        status="processing",
        created_at=now,
        updated_at=now,
    )


def finish(execution: Execution) -> None:
    execution.status, execution.status_code, execution.response = "completed", 200, "done"
    execution.updated_at = utc_now()


def on_disk(path: Path, execution_id: str) -> tuple[str, str] | None:
    """The row as another connection sees it: only what was committed."""
    with sqlite3.connect(path) as conn:
        row = conn.execute(
            "SELECT status, response FROM executions WHERE id = ?", [execution_id]
        ).fetchone()
    return None if row is None else (row[0], row[1])


def statements(db: Database) -> list[str]:
    seen: list[str] = []
    db.conn.raw.set_trace_callback(lambda sql: seen.append(sql.split()[0].upper()))
    return seen


def test_a_fast_sync_execution_is_written_once_finished(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with opened(tmp_path / "e.sqlite3") as (db, store):
            seen = statements(db)
            execution = running("fast")
            store.insert_later(execution)
            assert await store.get("fast") is None  # not written yet
            finish(execution)
            await store.save(execution)
            assert on_disk(tmp_path / "e.sqlite3", "fast") == ("completed", "done")
            assert seen.count("INSERT") == 1 and "UPDATE" not in seen
            await asyncio.sleep(LAZY_COMMIT * 2)  # the cancelled timer writes nothing more
            assert seen.count("INSERT") == 1

    asyncio.run(scenario())


def test_a_slow_sync_execution_is_listed_while_it_runs(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with opened(tmp_path / "e.sqlite3") as (_db, store):
            execution = running("slow")
            store.insert_later(execution)
            await asyncio.sleep(LAZY_COMMIT * 2)
            assert on_disk(tmp_path / "e.sqlite3", "slow") == ("processing", "")
            finish(execution)
            await store.save(execution)
            assert on_disk(tmp_path / "e.sqlite3", "slow") == ("completed", "done")

    asyncio.run(scenario())


def test_an_execution_deleted_while_it_runs_is_not_written_back(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with opened(tmp_path / "e.sqlite3") as (_db, store):
            mine, other = running("mine", "deleted"), running("other", "kept")
            store.insert_later(mine)
            store.insert_later(other)
            await store.delete_for_function("deleted")  # before its record was written
            for execution in (mine, other):
                finish(execution)
                await store.save(execution)
            assert on_disk(tmp_path / "e.sqlite3", "mine") is None
            assert on_disk(tmp_path / "e.sqlite3", "other") == ("completed", "done")

    asyncio.run(scenario())


def test_results_that_arrive_together_share_one_commit(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with opened(tmp_path / "e.sqlite3") as (db, store):
            executions = [running(f"e{n}") for n in range(8)]
            for execution in executions:
                store.insert_later(execution)
                finish(execution)
            seen = statements(db)
            await asyncio.gather(*(store.save(e, share=True) for e in executions))
            assert seen.count("COMMIT") == 1
            for execution in executions:  # each save returned once its row was committed
                assert on_disk(tmp_path / "e.sqlite3", execution.id) == ("completed", "done")

    asyncio.run(scenario())
