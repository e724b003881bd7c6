"""The `functions` table."""

from __future__ import annotations

import sqlite3

from emulator.dates import format_datetime
from emulator.models import Function
from emulator.queries import ListQuery
from emulator.store.db import Database
from emulator.store.listing import Table
from emulator.store.records import Column, Record

TABLE = Table(
    name="functions",
    columns={
        "$id": "id",
        "$createdAt": "created_at",
        "$updatedAt": "updated_at",
        "name": "name",
        "enabled": "enabled",
        "runtime": "runtime",
        "deployment": "deployment",
        "schedule": "schedule",
        "scheduleNext": "schedule_next",
        "schedulePrevious": "schedule_previous",
        "timeout": "timeout",
    },
    datetimes=frozenset({"$createdAt", "$updatedAt", "scheduleNext", "schedulePrevious"}),
)

RECORD = Record(
    "functions",
    Function,
    [
        Column("id", "id"),
        Column("created_at", "created_at", "datetime"),
        Column("updated_at", "updated_at", "datetime"),
        Column("execute", "execute", "json"),
        Column("name", "name"),
        Column("enabled", "enabled", "bool"),
        Column("runtime", "runtime"),
        Column("deployment", "deployment"),
        Column("events", "events", "json"),
        Column("schedule", "schedule"),
        Column("schedule_next", "schedule_next", "datetime"),
        Column("schedule_previous", "schedule_previous", "datetime"),
        Column("schedule_updated_at", "schedule_updated_at", "datetime"),
        Column("timeout", "timeout", "int"),
    ],
).with_search()


class DuplicateFunction(Exception):
    """A function with this ID exists already."""


class FunctionStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert(self, fn: Function) -> None:
        """Raises:
        DuplicateFunction: the ID is taken.
        """
        try:
            await RECORD.insert(self.db, fn)
        except sqlite3.IntegrityError as exc:
            raise DuplicateFunction(fn.id) from exc

    async def save(self, fn: Function) -> None:
        await RECORD.update(self.db, fn)

    async def save_schedule_run(self, fn: Function) -> bool:
        """Store only `scheduleNext`/`schedulePrevious` (and `$updatedAt`), and only if the schedule
        and its update time are still those of `fn` (1.3 drops a job whose function changed);
        False otherwise."""
        changed = await self.db.write(
            "UPDATE functions SET schedule_next = ?, schedule_previous = ?, updated_at = ? "
            "WHERE id = ? AND schedule = ? AND schedule_updated_at IS ?",
            [
                format_datetime(fn.schedule_next) or None,
                format_datetime(fn.schedule_previous) or None,
                format_datetime(fn.updated_at),
                fn.id,
                fn.schedule,
                format_datetime(fn.schedule_updated_at) or None,
            ],
        )
        return changed > 0

    async def get(self, function_id: str) -> Function | None:
        return await RECORD.get(self.db, function_id)

    async def delete(self, function_id: str) -> bool:
        return await RECORD.delete(self.db, function_id)

    async def all(self) -> list[Function]:
        rows = await self.db.fetch_all("SELECT * FROM functions ORDER BY seq")
        return [RECORD.from_row(r) for r in rows]

    async def page(self, query: ListQuery, search: str | None) -> tuple[int, list[Function]]:
        return await RECORD.page(self.db, TABLE, query, search)
