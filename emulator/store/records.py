"""Map a model dataclass to a table row and back: one `Record` per table, no hand-written SQL lists."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeVar, cast

from emulator.dates import format_datetime, parse_datetime
from emulator.queries import ListQuery
from emulator.store.db import Database, Row
from emulator.store.listing import Table, list_rows


class Model(Protocol):
    id: str


class Searchable(Protocol):
    @property
    def search_text(self) -> str: ...


T = TypeVar("T", bound=Model)
Kind = Literal["text", "int", "bool", "float", "datetime", "json"]


@dataclass(frozen=True)
class Column:
    name: str
    attr: str
    kind: Kind = "text"


def _to_db(kind: Kind, value: Any) -> Any:
    if kind == "bool":
        return int(value)
    if kind == "datetime":
        return format_datetime(value) or None
    if kind == "json":
        return "[]" if value == [] else json.dumps(value)  # most lists stored are empty
    return value


def _from_db(kind: Kind, value: Any) -> Any:
    if kind == "bool":
        return bool(value)
    if kind == "datetime":
        return parse_datetime(value)
    if kind == "json":
        return json.loads(value)
    return value


class Record(Generic[T]):
    """Insert, update, get and delete rows of one table, each row one model object.

    The table's `id` column is the key; `search` (when the model has `search_text`) is kept in sync.
    """

    def __init__(self, table: str, factory: Callable[..., T], columns: Sequence[Column]) -> None:
        self.table = table
        self.factory = factory
        self.columns = tuple(columns)
        self.has_search = False
        self._insert_sql: str | None = None

    def with_search(self) -> Record[T]:
        self.has_search = True
        return self

    def _names(self) -> list[str]:
        return [c.name for c in self.columns] + (["search"] if self.has_search else [])

    def _values(self, obj: T) -> list[Any]:
        values = [_to_db(c.kind, getattr(obj, c.attr)) for c in self.columns]
        if self.has_search:
            values.append(cast(Searchable, obj).search_text)
        return values

    def from_row(self, row: Row) -> T:
        return self.factory(**{c.attr: _from_db(c.kind, row[c.name]) for c in self.columns})

    async def insert(self, db: Database, obj: T) -> None:
        """Insert `obj`; returns once committed."""
        await db.write(*self.insert_statement(obj))

    def insert_statement(self, obj: T) -> tuple[str, list[Any]]:
        """The INSERT of `obj` and its values."""
        if self._insert_sql is None:
            names = self._names()
            marks = ", ".join("?" * len(names))
            self._insert_sql = f"INSERT INTO {self.table} ({', '.join(names)}) VALUES ({marks})"
        return self._insert_sql, self._values(obj)

    async def update(self, db: Database, obj: T) -> None:
        """Write every column of `obj`; returns once committed."""
        names = self._names()
        sql = f"UPDATE {self.table} SET {', '.join(f'{n} = ?' for n in names)} WHERE id = ?"
        await db.write(sql, [*self._values(obj), obj.id])

    async def get(self, db: Database, record_id: str) -> T | None:
        row = await db.fetch_one(f"SELECT * FROM {self.table} WHERE id = ?", [record_id])
        return self.from_row(row) if row else None

    async def row(self, db: Database, record_id: str) -> Row | None:
        return await db.fetch_one(f"SELECT * FROM {self.table} WHERE id = ?", [record_id])

    async def page(
        self,
        db: Database,
        table: Table,
        query: ListQuery,
        search: str | None,
        where: Mapping[str, Any] | None = None,
    ) -> tuple[int, list[T]]:
        """One page of a list and its total (see `listing.list_rows`)."""
        total, rows = await list_rows(db.conn, table, query, search=search, where=where)
        return total, [self.from_row(r) for r in rows]

    async def delete(self, db: Database, record_id: str) -> bool:
        return await db.write(f"DELETE FROM {self.table} WHERE id = ?", [record_id]) > 0
