"""The `executions` table."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
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


logger = logging.getLogger("emulator.store")

LAZY_COMMIT = 0.05
"""Seconds a sync execution's `processing` record may wait to be written: a fast one is then
written once, finished, in one statement and one commit."""

_SAVE = (
    "UPDATE executions SET status = ?, status_code = ?, response = ?, stdout = ?, stderr = ?, "
    "duration = ?, updated_at = ? WHERE id = ?"
)


class ExecutionStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        # Sync executions whose `processing` record is not written yet (see `insert_later`).
        self._unwritten: dict[str, tuple[Execution, asyncio.TimerHandle | None]] = {}

    async def insert(self, execution: Execution) -> None:
        """Write a new execution's record; returns once committed (it survives the emulator
        being killed)."""
        await RECORD.insert(self.db, execution)

    def insert_later(self, execution: Execution) -> None:
        """A sync execution's record as it starts (`processing`), written only if the execution
        still runs `LAZY_COMMIT` seconds from now (and committed with whatever commits next);
        `save` writes a faster one whole, finished, in one statement. Meanwhile it is not
        listed (nobody has its ID before the answer)."""
        handle = asyncio.get_running_loop().call_later(
            LAZY_COMMIT, self._write_unwritten, execution.id
        )
        # Not a copy: the result changes it only right before `save`, which drops it from here.
        self._unwritten[execution.id] = (execution, handle)

    def _write_unwritten(self, execution_id: str) -> None:
        record, _ = self._unwritten.pop(execution_id)
        sql, values = RECORD.insert_statement(record)
        try:
            self.db.stage(sql, values)
        except sqlite3.Error as exc:  # `save` tries again, and fails the execution if it fails
            logger.error("Could not write execution %s: %s", execution_id, exc)
            self._unwritten[execution_id] = (record, None)

    def forget_unwritten(
        self, function_id: str | None = None, *, execution_id: str | None = None
    ) -> None:
        """Drop the unwritten records (all, one function's, or one execution's): their
        executions were deleted (a reset, a restore, the function's deletion) or ended without a
        result while they ran, so nothing of them is kept."""
        if execution_id is not None:
            dropped = [execution_id] if execution_id in self._unwritten else []
        else:
            dropped = [
                unwritten_id
                for unwritten_id, (record, _) in self._unwritten.items()
                if function_id is None or record.function_id == function_id
            ]
        for unwritten_id in dropped:
            _, handle = self._unwritten.pop(unwritten_id)
            if handle is not None:
                handle.cancel()

    async def save(
        self, execution: Execution, *, durable: bool = True, share: bool = False
    ) -> None:
        """Store what changes while an execution runs: its status, result and `$updatedAt`; or
        the whole record when `insert_later` did not write it yet.

        An update leaves the other columns out: it then leaves the indexes on them (ID,
        function, creation time) untouched, a third of the pages a save writes.

        Args:
            durable: return once committed; False returns at once, the commit following at the
                loop's next pass.
            share: a durable save shares its commit with the writes made until the loop's next
                pass (worth it when other executions may finish by then).
        """
        unwritten = self._unwritten.pop(execution.id, None)
        if unwritten is not None:
            if unwritten[1] is not None:
                unwritten[1].cancel()
            sql, values = RECORD.insert_statement(execution)
        else:
            sql = _SAVE
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
        if not durable:
            self.db.stage(sql, values)
        elif share:
            await self.db.write_shared(sql, values)
        else:
            await self.db.write(sql, values)

    async def get(self, execution_id: str) -> Execution | None:
        return await RECORD.get(self.db, execution_id)

    async def delete_for_function(self, function_id: str) -> None:
        self.forget_unwritten(function_id)
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
