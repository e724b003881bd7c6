"""The database file: one SQLite connection used on the event loop's thread, pragmas, the numbered
schema migrations, change counters for caches, and a checkpointer that keeps fsync off the loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable, Generator, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from emulator.queries import search_matches

logger = logging.getLogger("emulator.store")

Row = sqlite3.Row
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
    # Lists of a function's executions stay fast however many there are: by status (a filter),
    # newest first (the console's order).
    """
    CREATE INDEX executions_function_status ON executions (function_id, status);
    CREATE INDEX executions_function_created ON executions (function_id, created_at);
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)

WATCHED = ("functions", "variables", "deployments", "builds")
"""Tables whose every change is counted (`Database.version`): what an execution reads and caches."""

CHECKPOINT_EVERY = 500
"""Commits after which the checkpointer copies the write-ahead log into the database file."""
CHECKPOINT_INTERVAL = 1.0
"""Seconds after which it does so anyway when anything was committed."""
WAL_SIZE_LIMIT = 32 * 1024 * 1024
"""Bytes the write-ahead log file is cut back to once checkpointed."""


def _search(text: object, term: object) -> int:
    return int(isinstance(text, str) and isinstance(term, str) and search_matches(text, term))


class Cursor:
    """The rows of a statement that already ran (the async API of aiosqlite's cursor)."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    async def fetchone(self) -> Row | None:
        row: Row | None = self._cursor.fetchone()
        return row

    async def fetchall(self) -> list[Row]:
        return list(self._cursor.fetchall())

    async def close(self) -> None:
        self._cursor.close()

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._cursor.close()


class Statement:
    """What `Connection.execute` returns: awaited or used with `async with`, it is the cursor."""

    def __init__(self, cursor: Cursor) -> None:
        self._cursor = cursor

    def __await__(self) -> Generator[Any, None, Cursor]:
        return self._cursor.__aenter__().__await__()

    async def __aenter__(self) -> Cursor:
        return self._cursor

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._cursor.close()


class Connection:
    """The emulator's SQLite connection, with aiosqlite's async API but no thread: each statement
    runs at once on the event loop's thread.

    A point read or a commit takes tens of microseconds here (the write-ahead log is not synced on
    commit, and checkpoints run elsewhere), while handing each one to a database thread and back
    costs ten times that plus a GIL hand-off under load. Only this process uses the file, so
    statements never wait for a lock. Must be used on the thread that opened it.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.raw = conn

    def execute(self, sql: str, params: Iterable[Any] = ()) -> Statement:
        return Statement(Cursor(self.raw.execute(sql, tuple(params))))

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Cursor:
        return Cursor(self.raw.executemany(sql, rows))

    async def executescript(self, script: str) -> Cursor:
        return Cursor(self.raw.executescript(script))

    async def commit(self) -> None:
        self.raw.commit()

    async def rollback(self) -> None:
        self.raw.rollback()

    async def close(self) -> None:
        self.raw.close()


class Checkpointer:
    """Copies the write-ahead log into the database file from a thread of its own connection.

    SQLite would do it inside a commit every 1000 pages, on the event loop, with an fsync that
    can take tens of milliseconds; here it runs after `CHECKPOINT_EVERY` commits or
    `CHECKPOINT_INTERVAL` seconds, while the loop goes on (a passive checkpoint never blocks a
    writer). Then `finish` runs on the loop: it copies the few pages committed meanwhile from
    the writer itself, so that the writer's next transaction starts the log over (without it,
    under steady writes the log is never fully copied at that moment and grows without end).
    """

    def __init__(self, path: Path, changes: Callable[[], int], finish: Callable[[], None]) -> None:
        self._path = path
        self._changes = changes
        self._finish = finish
        self._seen = changes()
        self._commits = 0
        self._wake = asyncio.Event()
        self._closing = False
        self._conn: sqlite3.Connection | None = None
        self._task = asyncio.get_running_loop().create_task(self._run(), name="sqlite-checkpoint")

    def committed(self) -> None:
        self._commits += 1
        if self._commits >= CHECKPOINT_EVERY:
            self._wake.set()

    async def close(self) -> None:
        """Let a checkpoint in progress finish (its thread uses the connection), then stop."""
        self._closing = True
        self._wake.set()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def _run(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), CHECKPOINT_INTERVAL)
            self._wake.clear()
            changes = self._changes()
            if (self._commits or changes != self._seen) and not self._closing:
                self._commits, self._seen = 0, changes
                try:
                    await asyncio.to_thread(self._checkpoint)
                    if not self._closing:
                        self._finish()
                except sqlite3.Error as exc:  # busy or locked: the next round tries again
                    logger.info("WAL checkpoint skipped: %s", exc)

    def _checkpoint(self) -> None:
        if self._conn is None:
            self._conn = sqlite3.connect(self._path, check_same_thread=False, timeout=5)
        self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


class Database:
    """The SQLite file of one emulator (one writer: this process), migrated on open."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = Connection(conn)
        self._versions = dict.fromkeys(WATCHED, 0)
        self._commit_scheduled = False  # a commit at the event loop's next pass
        self._sharing: list[asyncio.Future[None]] = []  # who waits for that commit
        self._checkpointer = Checkpointer(path, lambda: conn.total_changes, self._finish_checkpoint)

    @classmethod
    async def open(cls, path: Path) -> Database:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=5)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            # A commit is in the log (and survives the process dying) but not synced to the disk:
            # a power cut may lose the last commits, never corrupt the file.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA wal_autocheckpoint=0")  # the Checkpointer's job
            conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.create_function("appwrite_search", 2, _search, deterministic=True)
            _migrate(conn)
        except BaseException:
            conn.close()
            raise
        db = cls(conn, path)
        db._watch(conn)
        return db

    def _watch(self, conn: sqlite3.Connection) -> None:
        """Count every change of the `WATCHED` tables, whatever statement makes it: temporary
        triggers (of this connection only, never written to the file) call back into Python."""
        conn.create_function("appwrite_changed", 1, self._changed)
        script = []
        for table in WATCHED:
            for action in ("INSERT", "UPDATE", "DELETE"):
                script.append(
                    f"CREATE TEMP TRIGGER IF NOT EXISTS {table}_{action.lower()}_watch "
                    f"AFTER {action} ON main.{table} BEGIN SELECT appwrite_changed('{table}'); END;"
                )
        conn.executescript(" ".join(script))

    def _finish_checkpoint(self) -> None:
        """After a checkpoint in the thread: commit what is staged, then copy the pages committed
        since (few; the writer's next transaction can then restart the log)."""
        self._commit_now()
        self.conn.raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def _changed(self, table: str) -> None:
        self._versions[table] += 1

    def version(self, *tables: str) -> tuple[int, ...]:
        """How often each of `tables` (of `WATCHED`) changed since the file was opened: a value
        read while the numbers were these is still current while they stay these."""
        return tuple(self._versions[t] for t in tables)

    async def close(self) -> None:
        self._commit_now()
        await self._checkpointer.close()
        await self.conn.close()

    async def fetch_all(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        return list(self.conn.raw.execute(sql, tuple(params)).fetchall())

    async def fetch_one(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        row: Row | None = self.conn.raw.execute(sql, tuple(params)).fetchone()
        return row

    async def write(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run one statement and commit it, with whatever was staged before, before returning
        the number of rows changed: it is then durable (in the write-ahead log, which survives
        the emulator being killed), and no reader saw it before.

        Raises:
            sqlite3.Error: the statement or the commit failed (a failed commit rolls back
                everything staged with it).
        """
        cursor = self.conn.raw.execute(sql, tuple(params))
        self._commit_now(raise_errors=True)
        return cursor.rowcount

    async def write_shared(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Like `write`, but the commit is shared with every write made until the event loop's
        next pass: under load, the results of executions that finish together go out in one
        commit (a commit writes every page the transaction changed: ~40 µs). Returns once
        committed.

        Raises:
            sqlite3.Error: the statement or the commit failed.
        """
        cursor = self.conn.raw.execute(sql, tuple(params))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sharing.append(done)
        self._commit_soon()
        await done
        return cursor.rowcount

    def stage(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run one statement in the open transaction without committing it: the next `write` or
        `commit` does, at the event loop's next pass at the latest. Returns the number of rows
        changed.

        Readers (all on this connection) see the row at once; only a crash before the commit
        loses it. Staged statements share the commit of whatever comes next, so under load
        many executions' records go out in one commit.
        """
        cursor = self.conn.raw.execute(sql, tuple(params))
        self._commit_soon()
        return cursor.rowcount

    def _commit_soon(self) -> None:
        if not self._commit_scheduled:
            self._commit_scheduled = True
            asyncio.get_running_loop().call_soon(self._commit_now)

    def _settle_shared(self, error: BaseException | None) -> None:
        waiters, self._sharing = self._sharing, []
        for done in waiters:
            if done.done():  # its writer was cancelled: the statement is committed all the same
                continue
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)

    async def commit(self) -> None:
        """Commit what is staged, now.

        Raises:
            sqlite3.Error: the commit failed (everything staged is rolled back).
        """
        self._commit_now(raise_errors=True)

    def _commit_now(self, raise_errors: bool = False) -> None:
        self._commit_scheduled = False
        if self.conn.raw.in_transaction:
            try:
                self.conn.raw.commit()
            except sqlite3.Error as exc:
                logger.error("A commit failed: %s", exc)
                with contextlib.suppress(sqlite3.Error):
                    self.conn.raw.rollback()
                self._settle_shared(exc)  # their statements were rolled back too
                if raise_errors:
                    raise
                return
            self._checkpointer.committed()
        self._settle_shared(None)  # whatever they wrote is committed now


def _migrate(conn: sqlite3.Connection) -> None:
    row = conn.execute("PRAGMA user_version").fetchone()
    version = int(row[0]) if row else 0
    if version > SCHEMA_VERSION:
        raise RuntimeError(
            f"The data file was written by a newer emulator (schema {version} > {SCHEMA_VERSION})"
        )
    for number in range(version, SCHEMA_VERSION):
        logger.info("Migrating the database to schema version %s", number + 1)
        conn.executescript(
            f"BEGIN; {MIGRATIONS[number]}; PRAGMA user_version = {number + 1}; COMMIT;"
        )
