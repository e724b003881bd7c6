"""The `executions` table."""

from __future__ import annotations

from datetime import datetime

from emulator.dates import format_datetime
from emulator.models import Execution
from emulator.queries import ListQuery
from emulator.store.db import Database
from emulator.store.listing import Table
from emulator.store.records import Column, Record

TABLE = Table(
    name="executions",
    columns={
        "$id": "id",
        "$createdAt": "created_at",
        "$updatedAt": "updated_at",
        "trigger": "trigger",
        "status": "status",
        "statusCode": "status_code",
        "duration": "duration",
    },
)

RECORD = Record(
    "executions",
    Execution,
    [
        Column("id", "id"),
        Column("created_at", "created_at", "datetime"),
        Column("updated_at", "updated_at", "datetime"),
        Column("permissions", "permissions", "json"),
        Column("function_id", "function_id"),
        Column("deployment_id", "deployment_id"),
        Column("trigger", "trigger"),
        Column("status", "status"),
        Column("status_code", "status_code", "int"),
        Column("response", "response"),
        Column("stdout", "stdout"),
        Column("stderr", "stderr"),
        Column("duration", "duration", "float"),
    ],
).with_search()


LAZY_COMMIT = 0.05
"""Seconds a non-durable insert may wait for its commit: a fast sync execution then commits once,
its record and its result together."""

_SAVE = (
    "UPDATE executions SET status = ?, status_code = ?, response = ?, stdout = ?, stderr = ?, "
    "duration = ?, updated_at = ? WHERE id = ?"
)


class ExecutionStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert(self, execution: Execution, *, durable: bool = True) -> None:
        """Args:
        durable: return once committed (survives the emulator being killed); False returns at
            once and commits within `LAZY_COMMIT` seconds, with whatever else is written by
            then (the same connection serves every reader, so the row is listed meanwhile).
        """
        await RECORD.insert(self.db, execution, durable=durable, within=LAZY_COMMIT)

    async def save(self, execution: Execution, *, durable: bool = True) -> None:
        """Store what changes while an execution runs: its status, result and `$updatedAt`.

        Its other columns never change; leaving them out of the UPDATE leaves the indexes on
        them (ID, function, creation time) untouched, a third of the pages a save writes.

        Args:
            durable: as for `insert`.
        """
        values = [
            execution.status,
            execution.status_code,
            execution.response,
            execution.stdout,
            execution.stderr,
            execution.duration,
            format_datetime(execution.updated_at),
            execution.id,
        ]
        if durable:
            await self.db.write(_SAVE, values)
        else:
            self.db.stage(_SAVE, values)

    async def get(self, execution_id: str) -> Execution | None:
        return await RECORD.get(self.db, execution_id)

    async def delete_for_function(self, function_id: str) -> None:
        await self.db.write("DELETE FROM executions WHERE function_id = ?", [function_id])

    async def page(
        self, function_id: str, query: ListQuery, search: str | None
    ) -> tuple[int, list[Execution]]:
        return await RECORD.page(self.db, TABLE, query, search, {"function_id": function_id})

    async def fail_unfinished(self, stderr: str, now: datetime) -> int:
        """Mark every `waiting`/`processing` execution failed (after a crash of the emulator)."""
        return await self.db.write(
            "UPDATE executions SET status = 'failed', status_code = 500, stderr = ?, "
            "updated_at = ? WHERE status IN ('waiting', 'processing')",
            [stderr, format_datetime(now)],
        )
