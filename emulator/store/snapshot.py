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

import json
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from emulator.dates import format_datetime
from emulator.store.db import Database

_BASE = "snapshot_base"
"""Temporary table: each project table and its highest `seq` at the snapshot (NULL: none taken)."""

Row = dict[str, Any]

_installed: weakref.WeakKeyDictionary[Database, dict[str, list[str]]] = weakref.WeakKeyDictionary()
"""The tables with triggers on each connection, and their columns."""


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
    return f'temp."snapshot_{table}"'


def _base(table: str) -> str:
    """The table's snapshot `seq`, as an SQL expression."""
    return f"(SELECT seq FROM temp.{_BASE} WHERE tbl = '{table}')"


def _names(columns: list[str], prefix: str = "") -> str:
    return ", ".join(f'{prefix}"{c}"' for c in columns)


def _json(columns: list[str], prefix: str = "") -> str:
    """A row as a JSON object, as an SQL expression."""
    return "json_object(" + ", ".join(f"'{c}', {prefix}\"{c}\"" for c in columns) + ")"


async def _install(db: Database) -> dict[str, list[str]]:
    """Create the shadow tables and the triggers that fill them, for every table with a `seq` key."""
    tables: dict[str, list[str]] = {}
    rows = await db.fetch_all(
        "SELECT name FROM main.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name"
    )
    for (table,) in rows:
        info = await db.fetch_all(f'PRAGMA main.table_info("{table}")')
        if any(c["name"] == "seq" and c["pk"] == 1 for c in info):
            tables[str(table)] = [str(c["name"]) for c in info]
    script = [f"CREATE TEMP TABLE {_BASE} (tbl TEXT PRIMARY KEY, seq INTEGER);"]
    for table, columns in tables.items():
        others = "".join(f', "{c}"' for c in columns if c != "seq")
        # A trigger's body cannot name a schema: the shadow table is found in temp by its name.
        keep = (
            f'INSERT OR IGNORE INTO "snapshot_{table}" ({_names(columns)}) '
            f"VALUES ({_names(columns, 'old.')});"
        )
        for event in ("UPDATE", "DELETE"):
            script.append(
                f'CREATE TEMP TRIGGER "snapshot_{table}_{event.lower()}" AFTER {event} '
                f'ON main."{table}" WHEN old.seq <= {_base(table)} BEGIN {keep} END;'
            )
        script += [
            f'CREATE TEMP TABLE "snapshot_{table}" ("seq" INTEGER PRIMARY KEY{others});',
            f"INSERT INTO {_BASE} (tbl, seq) VALUES ('{table}', NULL);",
        ]
    # Rows an `INSERT OR REPLACE` deletes fire the delete triggers only with this pragma on.
    await db.conn.executescript(
        "PRAGMA recursive_triggers = ON; BEGIN; " + " ".join(script) + " COMMIT;"
    )
    _installed[db] = tables
    return tables


async def take(db: Database) -> None:
    """Note the project as it is now: later restores come back to it (a snapshot taken before is
    forgotten)."""
    tables = _installed.get(db) or await _install(db)
    script = []
    for table in tables:
        script += [
            f"DELETE FROM {_shadow(table)};",
            f'UPDATE temp.{_BASE} SET seq = (SELECT COALESCE(MAX(seq), 0) FROM main."{table}") '
            f"WHERE tbl = '{table}';",
        ]
    await db.conn.executescript("BEGIN; " + " ".join(script) + " COMMIT;")


async def pending(db: Database, tables: Iterable[str]) -> dict[str, TableChanges] | None:
    """The changes since the snapshot in `tables`, read in one query; None when no snapshot was
    taken."""
    installed = _installed.get(db)
    if installed is None:
        return None
    found = {table: TableChanges() for table in tables}
    # Each row as a JSON object, so that the tables' different columns fit in one result.
    parts = [f"SELECT tbl, -1, seq FROM temp.{_BASE}"]
    for table in found.keys() & installed.keys():
        columns = installed[table]
        parts += [
            f"SELECT '{table}', 0, {_json(columns)} "
            f'FROM main."{table}" WHERE seq > {_base(table)}',
            f"SELECT '{table}', CASE WHEN t.seq IS NULL THEN 2 ELSE 1 END, {_json(columns, 's.')} "
            f'FROM {_shadow(table)} s LEFT JOIN main."{table}" t ON t.seq = s.seq',
        ]
    rows = await db.fetch_all(" UNION ALL ".join(parts))
    for table, kind, value in rows:
        if kind == -1:
            if value is None:
                return None
            continue
        lists = found[table]
        (lists.added, lists.changed, lists.deleted)[kind].append(json.loads(value))
    for lists in found.values():
        for rows_of_a_kind in (lists.added, lists.changed, lists.deleted):
            rows_of_a_kind.sort(key=lambda row: int(row["seq"]))
    return found


async def restore(db: Database, schedule_next: Mapping[str, datetime | None] | None = None) -> None:
    """Put every table back as it was at the snapshot, in one transaction; the snapshot stays, so
    a later restore comes back to the same state. Call it only once a snapshot was taken.

    Args:
        schedule_next: `scheduleNext` to write into restored functions, by function ID (the
            snapshot's value may lie in the past by now).
    """
    tables = _installed.get(db) or {}
    if schedule_next and "functions" in tables:
        await db.conn.executemany(
            f"UPDATE {_shadow('functions')} SET schedule_next = ? WHERE id = ?",
            [(format_datetime(when) or None, fid) for fid, when in schedule_next.items()],
        )
    script = []
    for table, columns in tables.items():
        names = _names(columns)
        script += [
            # The new rows first: a row brought back may carry an ID that a new one took since.
            f'DELETE FROM main."{table}" WHERE seq > {_base(table)};',
            f'DELETE FROM main."{table}" WHERE seq IN (SELECT seq FROM {_shadow(table)});',
            f'INSERT INTO main."{table}" ({names}) SELECT {names} FROM {_shadow(table)};',
            f"DELETE FROM {_shadow(table)};",
        ]
    await db.conn.executescript("BEGIN; " + " ".join(script) + " COMMIT;")


async def archives(db: Database) -> dict[str, str]:
    """Every deployment whose upload is complete, and the path of its archive."""
    rows = await db.fetch_all("SELECT id, path FROM deployments WHERE path != ''")
    return {str(r["id"]): str(r["path"]) for r in rows}
