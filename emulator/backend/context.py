"""What every backend operation works with: settings, stores, runtimes, executor, the clock, the
hook through which operations emit Appwrite events, and the one through which watchers (the
console's live stream) see them."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar, cast

from emulator.backend.tasks import TaskSet
from emulator.config import Settings
from emulator.dates import utc_now
from emulator.executor import Executor
from emulator.executor.discovery import LocalRuntime
from emulator.store.db import Database
from emulator.store.deployments import DeploymentStore
from emulator.store.executions import ExecutionStore
from emulator.store.functions import FunctionStore
from emulator.store.variables import VariableStore

logger = logging.getLogger("emulator.events")


class VirtualClock:
    """Real UTC time plus an offset that only ever grows (tests move it forward)."""

    def __init__(self, source: Callable[[], datetime] = utc_now) -> None:
        self._source = source
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return self._source() + self.offset

    def advance_to(self, moment: datetime) -> None:
        """Move forward so that now is at least `moment`; never backwards."""
        self.offset = max(self.offset, moment - self._source())


@dataclass(eq=False)
class Chain:
    """Events that caused one another from one root event; the dispatcher's loop budget."""

    root: str
    executions: int = 0
    stopped: bool = False


@dataclass(frozen=True)
class Emitted:
    """One event an operation emitted: pattern, IDs (outer first), payload, and how
    deep in a chain of event-triggered executions it happened (0: an API call or a schedule)."""

    pattern: str
    params: dict[str, str]
    payload: Any
    depth: int = 0
    chain: Chain | None = None


Listener = Callable[[Emitted], None]
Watcher = Callable[[Emitted], None]
"""Sees every emitted event and every `notify`; must return at once (queue, never await)."""
T = TypeVar("T")


class ReadCache:
    """Records read on every execution that rarely change (a function with its variables, a
    deployment with its build), kept between calls while the tables they were read from stay
    unchanged.

    Only this process writes the database, and `Database.version` counts every change of those
    tables however it is made, so a hit is exactly what reading again would return. Values are
    shared between callers, who must not modify them.
    """

    MAX_ENTRIES = 1024

    def __init__(self, db: Database) -> None:
        self._db = db
        self._entries: dict[Hashable, tuple[tuple[int, ...], object]] = {}

    async def get(
        self, key: Hashable, tables: tuple[str, ...], load: Callable[[], Awaitable[T]]
    ) -> T:
        """The value cached under `key` if none of `tables` changed since, else `load()`'s."""
        version = self._db.version(*tables)  # before reading: a change meanwhile is a miss later
        entry = self._entries.get(key)
        if entry is not None and entry[0] == version:
            return cast(T, entry[1])
        value = await load()
        if len(self._entries) >= self.MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = (version, value)
        return value


@dataclass
class Context:
    settings: Settings
    db: Database
    runtimes: dict[str, LocalRuntime]
    executor: Executor
    clock: VirtualClock = field(default_factory=VirtualClock)
    tasks: TaskSet = field(default_factory=TaskSet)
    listeners: list[Listener] = field(default_factory=list)
    watchers: list[Watcher] = field(default_factory=list)
    folders: dict[str, Path] = field(default_factory=dict)
    """Function ID -> its project folder (appwrite.json's `path`), for project-mode functions."""
    functions: FunctionStore = field(init=False)
    variables: VariableStore = field(init=False)
    deployments: DeploymentStore = field(init=False)
    executions: ExecutionStore = field(init=False)
    cache: ReadCache = field(init=False)

    def __post_init__(self) -> None:
        self.cache = ReadCache(self.db)
        self.functions = FunctionStore(self.db)
        self.variables = VariableStore(self.db)
        self.deployments = DeploymentStore(self.db)
        self.executions = ExecutionStore(self.db)

    @property
    def uploads_dir(self) -> Path:
        return self.settings.data_dir / "uploads"

    def emit(
        self,
        pattern: str,
        params: dict[str, str],
        payload: Any,
        *,
        depth: int = 0,
        chain: Chain | None = None,
    ) -> None:
        """Hand an event to every listener (the dispatcher, the scheduler), then to the
        watchers; never raises."""
        event = Emitted(pattern, params, payload, depth, chain)
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception:
                logger.exception("Listener failed on event %s", pattern)
        if self.watchers:
            self._tell_watchers(event)

    def notify(self, pattern: str, params: dict[str, str], payload: Callable[[], Any]) -> None:
        """Tell the watchers only about a change that 1.3 shows in its console without emitting
        an event (a build finished, an execution started processing): no function runs on it.
        `payload` is called only when someone watches, so the common case costs nothing."""
        if self.watchers:
            self._tell_watchers(Emitted(pattern, params, payload()))

    def watch(self, watcher: Watcher) -> Callable[[], None]:
        """Start handing every event to `watcher`; returns what stops it."""
        self.watchers.append(watcher)

        def unwatch() -> None:
            if watcher in self.watchers:
                self.watchers.remove(watcher)

        return unwatch

    def _tell_watchers(self, event: Emitted) -> None:
        for watcher in list(self.watchers):
            try:
                watcher(event)
            except Exception:
                logger.exception("Watcher failed on event %s", event.pattern)
