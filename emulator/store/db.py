"""The database file: connection, pragmas and the numbered schema migrations."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aiosqlite

from emulator.queries import search_matches

logger = logging.getLogger("emulator.store")

# Each entry upgrades the schema by one version; `PRAGMA user_version` records how far a file got.
# Never edit a released entry: append a new one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE functions (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        execute TEXT NOT NULL,
        name TEXT NOT NULL,
        enabled INTEGER NOT NULL,
        runtime TEXT NOT NULL,
        deployment TEXT NOT NULL,
        events TEXT NOT NULL,
        schedule TEXT NOT NULL,
        schedule_next TEXT,
        schedule_previous TEXT,
        schedule_updated_at TEXT,
        timeout INTEGER NOT NULL,
        search TEXT NOT NULL
    );
    CREATE TABLE variables (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        function_id TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (function_id, key)
    );
    CREATE TABLE deployments (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        function_id TEXT NOT NULL,
        entrypoint TEXT NOT NULL,
        size INTEGER NOT NULL,
        build_id TEXT NOT NULL,
        activate INTEGER NOT NULL,
        path TEXT NOT NULL,
        chunks_total INTEGER NOT NULL,
        chunks_uploaded INTEGER NOT NULL,
        search TEXT NOT NULL
    );
    CREATE INDEX deployments_function ON deployments (function_id);
    CREATE TABLE builds (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        deployment_id TEXT NOT NULL,
        runtime TEXT NOT NULL,
        status TEXT NOT NULL,
        stdout TEXT NOT NULL,
        stderr TEXT NOT NULL,
        started_at TEXT NOT NULL,
        duration INTEGER NOT NULL,
        path TEXT NOT NULL
    );
    CREATE TABLE executions (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        permissions TEXT NOT NULL,
        function_id TEXT NOT NULL,
        deployment_id TEXT NOT NULL,
        trigger TEXT NOT NULL,
        status TEXT NOT NULL,
        status_code INTEGER NOT NULL,
        response TEXT NOT NULL,
        stdout TEXT NOT NULL,
        stderr TEXT NOT NULL,
        duration REAL NOT NULL,
        search TEXT NOT NULL
    );
    CREATE INDEX executions_function ON executions (function_id);
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


def _search(text: object, term: object) -> int:
    return int(isinstance(text, str) and isinstance(term, str) and search_matches(text, term))


class Database:
    """One aiosqlite connection (SQLite has one writer anyway), migrated on open."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    @classmethod
    async def open(cls, path: Path) -> Database:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path)
        conn.row_factory = aiosqlite.Row
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA synchronous=NORMAL")
        await conn.execute("PRAGMA foreign_keys=ON")
        await conn.create_function("appwrite_search", 2, _search, deterministic=True)
        db = cls(conn)
        await db.migrate()
        return db

    async def migrate(self) -> None:
        async with self.conn.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"The data file was written by a newer emulator (schema {version} > {SCHEMA_VERSION})"
            )
        for number in range(version, SCHEMA_VERSION):
            logger.info("Migrating the database to schema version %s", number + 1)
            await self.conn.executescript(
                f"BEGIN; {MIGRATIONS[number]}; PRAGMA user_version = {number + 1}; COMMIT;"
            )

    async def close(self) -> None:
        await self.conn.close()

    async def fetch_all(self, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        async with self.conn.execute(sql, tuple(params)) as cursor:
            return list(await cursor.fetchall())

    async def fetch_one(self, sql: str, params: Iterable[Any] = ()) -> aiosqlite.Row | None:
        async with self.conn.execute(sql, tuple(params)) as cursor:
            return await cursor.fetchone()

    async def write(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run one statement and commit; returns the number of rows changed."""
        cursor = await self.conn.execute(sql, tuple(params))
        await self.conn.commit()
        return cursor.rowcount
