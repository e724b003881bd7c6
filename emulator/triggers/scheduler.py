"""Function schedules on the emulator's clock: a loop that fires each run when it is due,
and `advance`, which moves the virtual clock and fires every run due on the way, in time order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from emulator.backend.context import Context, Emitted
from emulator.backend.executions import Started, run_schedule
from emulator.backend.functions import get_function, recompute_schedules, scheduled_functions
from emulator.errors import AppwriteException, FunctionNotFound
from emulator.events import FUNCTION_CHANGES
from emulator.models import Execution, Function

logger = logging.getLogger("emulator.scheduler")

MAX_SLEEP = 60.0
"""Seconds between checks at most, so a jump of the wall clock is noticed."""


class Scheduler:
    """Fires every function's schedule at its `scheduleNext` (disabled functions too, as in 1.3)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._firing = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Recompute every `scheduleNext` from now (missed runs are not replayed); start the loop."""
        await recompute_schedules(self.ctx)
        self.ctx.listeners.append(self._on_emit)
        self._task = asyncio.create_task(self._loop(), name="scheduler")

    async def close(self) -> None:
        self._stop.set()
        self._wake.set()
        with contextlib.suppress(ValueError):
            self.ctx.listeners.remove(self._on_emit)
        if self._task is not None:  # it may have been cancelled already: that is fine too
            await asyncio.gather(self._task, return_exceptions=True)

    async def advance(self, seconds: float) -> tuple[datetime, list[Execution]]:
        """Move the clock forward, firing each run due on the way at its own minute, one after
        the other.

        Returns:
            The new time, and the executions those runs started, finished, in firing order.
        """
        finished: list[Execution] = []
        async with self._firing:
            end = self.ctx.clock() + timedelta(seconds=seconds)
            fired: set[tuple[str, datetime]] = set()
            while (fn := await self._earliest_due(end)) is not None:
                due = fn.schedule_next
                assert due is not None
                if (fn.id, due) in fired:  # cannot happen: each run moves scheduleNext on
                    logger.error("Schedule of function %s did not move past %s", fn.id, due)
                    break
                fired.add((fn.id, due))
                self.ctx.clock.advance_to(due)
                started = await self._fire(fn, due)
                if started is not None:
                    finished.append(await started.finished())
            self.ctx.clock.advance_to(end)
        self._wake.set()
        return self.ctx.clock(), finished

    def _on_emit(self, event: Emitted) -> None:
        if event.pattern in FUNCTION_CHANGES:
            self._wake.set()

    async def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                async with self._firing:
                    delay = await self._fire_due()
            except Exception:
                logger.exception("Scheduler pass failed")
                delay = MAX_SLEEP
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)

    async def _fire_due(self) -> float:
        """Start every run due by now; returns the seconds until the next one."""
        now = self.ctx.clock()
        for fn in await scheduled_functions(self.ctx):
            if fn.schedule_next is not None and fn.schedule_next <= now:
                await self._fire(fn, now)
        upcoming = await scheduled_functions(self.ctx)
        if not upcoming or upcoming[0].schedule_next is None:
            return MAX_SLEEP
        wait = (upcoming[0].schedule_next - self.ctx.clock()).total_seconds()
        # A run still due means it could not move on: retry later rather than spin.
        return 1.0 if wait <= 0 else min(wait + 0.01, MAX_SLEEP)

    async def _earliest_due(self, end: datetime) -> Function | None:
        upcoming = await scheduled_functions(self.ctx)
        first = upcoming[0] if upcoming else None
        return first if first and first.schedule_next and first.schedule_next <= end else None

    async def _fire(self, fn: Function, now: datetime) -> Started | None:
        """One schedule run; None when nothing runs (the function changed, or cannot run)."""
        try:
            fn.vars = (await get_function(self.ctx, fn.id)).vars
            return await run_schedule(self.ctx, fn, now)  # skipped if `fn` changed meanwhile
        except FunctionNotFound:
            return None  # deleted meanwhile
        except AppwriteException as exc:
            logger.warning(
                "Schedule of function %s fired at %s; nothing run: %s", fn.id, now, exc.message
            )
            return None
