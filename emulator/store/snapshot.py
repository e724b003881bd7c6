"""Snapshots of the project's tables (the test fixture's isolation): note the rows as they are now,
and later put every table back to that state in one transaction.

Taking a snapshot only notes the highest `seq` of each table: rows inserted afterwards are the ones
past it (`seq` is AUTOINCREMENT, so it only grows). Temporary triggers (created on this connection,
never written into the file's schema) copy a row that existed at the snapshot into a shadow table
the first time it is updated or deleted. A restore therefore costs what the project changed, not
what it holds: it deletes the new and the changed rows and writes the shadow copies back.

Every table of the file with a `seq` primary key takes part.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from emulator.dates import format_datetime
from emulator.store.db import Database

_BASE = "snapshot_base"
"""Temporary table: each project table and the highest `seq` at the snapshot (NULL: none taken)."""

Row = dict[str, Any]


@dataclass
class TableChanges:
    """What a restore undoes in one table."""

    added: list[Row] = field(default_factory=list)
    """Rows inserted since the snapshot (the restore deletes them), as they are now."""
    changed: list[Row] = field(default_factory=list)
    """Rows updated since the snapshot, as they were at the snapshot."""
    deleted: list[Row] = field(default_factory=list)
    """Rows deleted since the snapshot, as they were at the snapshot (the restore brings them back)."""

    @property
    def restored(self) -> list[Row]:
        return [*self.changed, *self.deleted]


def _shadow(table: str) -> str:
    return f"snapshot_{table}"


@dataclass(frozen=True)
class _Table:
    seq: int | None
    columns: str
    """The table's columns, quoted and comma-separated."""


async def _taken(db: Database) -> dict[str, _Table] | None:
    """Each table and its snapshot `seq`; None when the triggers are not installed yet."""
    try:
        rows = await db.fetch_all(f"SELECT tbl, seq, columns FROM temp.{_BASE}")
    except sqlite3.OperationalError:  # no such table: no snapshot was ever taken
        return None
    return {r["tbl"]: _Table(r["seq"], r["columns"]) for r in rows}


async def _install(db: Database) -> None:
    """Create the shadow tables and the triggers that fill them, for every table with a `seq` key."""
    tables = await db.fetch_all(
        "SELECT name FROM main.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name"
    )
    script = [f"CREATE TEMP TABLE {_BASE} (tbl TEXT PRIMARY KEY, seq INTEGER, columns TEXT);"]
    for (table,) in tables:
        info = await db.fetch_all(f'PRAGMA main.table_info("{table}")')
        columns = [str(c["name"]) for c in info]
        if not any(c["name"] == "seq" and c["pk"] == 1 for c in info):
            continue
        shadow = _shadow(table)
        names = ", ".join(f'"{c}"' for c in columns)
        olds = ", ".join(f'old."{c}"' for c in columns)
        others = "".join(f', "{c}"' for c in columns if c != "seq")
        # Names inside a trigger's body cannot carry a schema: `shadow` is found in temp.
        keep = f'INSERT OR IGNORE INTO "{shadow}" ({names}) VALUES ({olds});'
        when = f"old.seq <= (SELECT seq FROM {_BASE} WHERE tbl = '{table}')"
        script += [
            f'CREATE TEMP TABLE "{shadow}" ("seq" INTEGER PRIMARY KEY{others});',
            f'CREATE TEMP TRIGGER "{shadow}_update" AFTER UPDATE ON main."{table}" '
            f"WHEN {when} BEGIN {keep} END;",
            f'CREATE TEMP TRIGGER "{shadow}_delete" AFTER DELETE ON main."{table}" '
            f"WHEN {when} BEGIN {keep} END;",
            f"INSERT INTO {_BASE} (tbl, seq, columns) VALUES ('{table}', NULL, '{names}');",
        ]
    # Rows an `INSERT OR REPLACE` deletes fire the delete triggers only with this pragma on.
    await db.conn.executescript(
        "PRAGMA recursive_triggers = ON; BEGIN; " + " ".join(script) + " COMMIT;"
    )


async def take(db: Database) -> None:
    """Note the project as it is now: later restores come back to it (a snapshot taken before is
    forgotten)."""
    taken = await _taken(db)
    if taken is None:
        await _install(db)
        taken = await _taken(db) or {}
    script = []
    for table in taken:
        script += [
            f'DELETE FROM temp."{_shadow(table)}";',
            f'UPDATE temp.{_BASE} SET seq = (SELECT COALESCE(MAX(seq), 0) FROM main."{table}") '
            f"WHERE tbl = '{table}';",
        ]
    await db.conn.executescript("BEGIN; " + " ".join(script) + " COMMIT;")


@dataclass
class Pending:
    """What a restore would undo now: the snapshot's tables, and the changes in those asked for."""

    tables: dict[str, _Table]
    changes: dict[str, TableChanges]


async def pending(db: Database, tables: Iterable[str]) -> Pending | None:
    """The changes since the snapshot in `tables`; None when no snapshot was taken."""
    taken = await _taken(db)
    if taken is None or any(t.seq is None for t in taken.values()):
        return None
    found: dict[str, TableChanges] = {}
    for table in tables:
        found[table] = result = TableChanges()
        base = taken.get(table)
        if base is None or base.seq is None:
            continue
        shadowed = ", ".join(f"s.{c}" for c in base.columns.split(", "))
        rows = await db.fetch_all(
            f'SELECT {base.columns}, 0 AS snapshot_kind FROM main."{table}" WHERE seq > ? '
            f"UNION ALL SELECT {shadowed}, CASE WHEN t.seq IS NULL THEN 2 ELSE 1 END "
            f'FROM temp."{_shadow(table)}" s LEFT JOIN main."{table}" t ON t.seq = s.seq',
            [base.seq],
        )
        lists = (result.added, result.changed, result.deleted)
        for r in rows:
            row = dict(r)
            lists[row.pop("snapshot_kind")].append(row)
    return Pending(taken, found)


async def restore(
    db: Database, pending: Pending, schedule_next: Mapping[str, datetime | None] | None = None
) -> None:
    """Put every table back as it was at the snapshot, in one transaction; the snapshot stays, so
    a later restore comes back to the same state.

    Args:
        pending: what `pending` found (it names the tables).
        schedule_next: `scheduleNext` to write into restored functions, by function ID (the
            snapshot's value may lie in the past by now).
    """
    if schedule_next and "functions" in pending.tables:
        await db.conn.executemany(
            f'UPDATE temp."{_shadow("functions")}" SET schedule_next = ? WHERE id = ?',
            [(format_datetime(when) or None, fid) for fid, when in schedule_next.items()],
        )
    script = []
    for table, base in pending.tables.items():
        shadow = f'temp."{_shadow(table)}"'
        script += [
            # The new rows first: a row brought back may carry an ID that a new one took since.
            f'DELETE FROM main."{table}" WHERE seq > {int(base.seq or 0)};',
            f'DELETE FROM main."{table}" WHERE seq IN (SELECT seq FROM {shadow});',
            f'INSERT INTO main."{table}" ({base.columns}) SELECT {base.columns} FROM {shadow};',
            f"DELETE FROM {shadow};",
        ]
    await db.conn.executescript("BEGIN; " + " ".join(script) + " COMMIT;")


async def archives(db: Database) -> dict[str, str]:
    """Every deployment whose upload is complete, and the path of its archive."""
    rows = await db.fetch_all("SELECT id, path FROM deployments WHERE path != ''")
    return {str(r["id"]): str(r["path"]) for r in rows}
