"""Hot reload: watches the project's function folders (watchfiles) and reports which files of which
function changed; falls back to polling, once and with one message, when OS watching fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import watchfiles

from emulator.project.config import ProjectFunction
from emulator.project.packing import FolderFilter

log = logging.getLogger("emulator.dev")

OnChange = Callable[[ProjectFunction, list[str], float], None]
"""Called with the function, the changed paths (relative to its folder) and when they were saved."""


class Watcher:
    """Watches function folders until `close()`; every background step has a stop path.

    Args:
        functions: the functions to watch (those with a folder).
        on_change: called once per function per batch of relevant changes.
        exclude: absolute folders whose changes never matter (the data dir).
        step_ms: quiet time that ends a burst of changes (watchfiles' `step`).
        debounce_ms: the longest a burst is grouped before it is reported anyway.
        poll_delay_ms: the polling interval once the OS cannot watch.
        idle_ms: how often the watch loop wakes up when nothing changes.
        force_polling: poll from the start (None: watchfiles' default for this system).
        awatch: the watch loop (tests pass a fake).
    """

    def __init__(
        self,
        functions: Sequence[ProjectFunction],
        on_change: OnChange,
        *,
        exclude: Iterable[Path] = (),
        step_ms: int = 30,
        debounce_ms: int = 1600,
        poll_delay_ms: int = 100,
        idle_ms: int = 500,
        force_polling: bool | None = None,
        awatch: Callable[..., AsyncIterator[set[tuple[watchfiles.Change, str]]]] = (
            watchfiles.awatch
        ),
    ) -> None:
        self.functions = [f for f in functions if f.path is not None]
        self.on_change = on_change
        self.exclude = tuple(exclude)
        self.step_ms = step_ms
        self.debounce_ms = debounce_ms
        self.poll_delay_ms = poll_delay_ms
        self.idle_ms = idle_ms
        self.polling = force_polling
        self._awatch = awatch
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()
        """Set once the OS watches (or the first poll) are in place."""

    @property
    def roots(self) -> list[Path]:
        return sorted({f.path for f in self.functions if f.path is not None})

    def start(self) -> None:
        if self._task is None and self.functions:
            self._task = asyncio.create_task(self._run(), name="project-watcher")

    async def close(self) -> None:
        """Stop watching; returns within a few steps (cancels after a deadline)."""
        self._stop.set()
        if self._task is None:
            return
        done, _ = await asyncio.wait([self._task], timeout=2)
        if not done:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self._watch()
                return
            except (OSError, RuntimeError) as exc:
                if self.polling:
                    log.error("Hot reload stopped: watching the function folders failed: %s", exc)
                    return
                self.polling = True
                log.warning(
                    "The OS could not watch the function folders (%s); hot reload polls "
                    "every %d ms instead",
                    str(exc).strip() or type(exc).__name__,
                    self.poll_delay_ms,
                )

    async def _watch(self) -> None:
        options: dict[str, Any] = {
            "watch_filter": None,
            "debounce": self.debounce_ms,
            "step": self.step_ms,
            "stop_event": self._stop,
            "poll_delay_ms": self.poll_delay_ms,
            "rust_timeout": self.idle_ms,
            "yield_on_timeout": True,
        }
        if self.polling is not None:
            options["force_polling"] = self.polling
        async for changes in self._awatch(*self.roots, **options):
            self.ready.set()  # the first yield comes after the watches are in place
            if changes:
                try:
                    self.dispatch(changes)
                except Exception:  # a bug here must not end hot reload (nor look like an OS error)
                    log.exception("Hot reload could not handle the changes %s", changes)

    def dispatch(self, changes: Iterable[tuple[Any, str]]) -> None:
        """Group one batch of raw changes by function and report the relevant ones."""
        detected = time.time()
        paths = {Path(raw) for _, raw in changes}
        for fn in self.functions:
            assert fn.path is not None
            chosen = FolderFilter(fn.path, fn.ignore, self.exclude)
            relevant = [p for p in paths if chosen.includes(p) and not p.is_dir()]
            if relevant:
                names = sorted(p.relative_to(chosen.root).as_posix() for p in relevant)
                self.on_change(fn, names, self._saved_at(relevant, detected))

    def _saved_at(self, paths: list[Path], detected: float) -> float:
        """When the last file of the burst was saved (its mtime), within the burst's window."""
        earliest = detected - (self.debounce_ms + self.step_ms) / 1000
        latest = earliest
        for path in paths:
            with contextlib.suppress(OSError):
                latest = max(latest, os.stat(path).st_mtime)
        return min(latest, detected) if latest > earliest else detected - self.step_ms / 1000
