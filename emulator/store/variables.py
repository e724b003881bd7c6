"""The `variables` table."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from emulator.models import Variable
from emulator.store.db import Database
from emulator.store.records import Column, Record

MAX_RETURNED = 1000

RECORD = Record(
    "variables",
    Variable,
    [
        Column("id", "id"),
        Column("function_id", "function_id"),
        Column("key", "key"),
        Column("value", "value"),
        Column("created_at", "created_at", "datetime"),
        Column("updated_at", "updated_at", "datetime"),
    ],
)


class DuplicateKey(Exception):
    """The function has a variable with this key already."""


class VariableStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert(self, var: Variable) -> None:
        """Raises:
        DuplicateKey: the function has this key already.
        """
        try:
            await RECORD.insert(self.db, var)
        except sqlite3.IntegrityError as exc:
            raise DuplicateKey(var.key) from exc

    async def save(self, var: Variable) -> None:
        """Raises:
        DuplicateKey: another variable of the function has the new key.
        """
        try:
            await RECORD.update(self.db, var)
        except sqlite3.IntegrityError as exc:
            raise DuplicateKey(var.key) from exc

    async def get(self, variable_id: str) -> Variable | None:
        return await RECORD.get(self.db, variable_id)

    async def delete(self, variable_id: str) -> None:
        await RECORD.delete(self.db, variable_id)

    async def delete_for_function(self, function_id: str) -> None:
        await self.db.write("DELETE FROM variables WHERE function_id = ?", [function_id])

    async def for_functions(self, function_ids: Sequence[str]) -> dict[str, list[Variable]]:
        """Each function's variables in creation order (at most 1000 each, as 1.3 returns)."""
        result: dict[str, list[Variable]] = {fid: [] for fid in function_ids}
        if not function_ids:
            return result
        rows = await self.db.fetch_all(
            f"SELECT * FROM variables WHERE function_id IN ({', '.join('?' * len(function_ids))}) "
            "ORDER BY seq",
            function_ids,
        )
        for row in rows:
            bucket = result[row["function_id"]]
            if len(bucket) < MAX_RETURNED:
                bucket.append(RECORD.from_row(row))
        return result
