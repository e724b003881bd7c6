"""The virtual clock and the scheduler on a real store with a fake executor."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from emulator.backend.context import Context, VirtualClock
from emulator.backend.executions import list_executions
from emulator.backend.functions import (
    FunctionSettings,
    create_function,
    get_function,
    update_function,
)
from emulator.config import Settings
from emulator.queries import EXECUTIONS_SCHEMA, parse_queries
from emulator.triggers.scheduler import Scheduler
from tests.unit.triggers.test_dispatch import add_function, run

NO_QUERY = parse_queries([], EXECUTIONS_SCHEMA)
START = datetime(2024, 2, 28, 23, 58, 30, tzinfo=UTC)


def test_the_virtual_clock_follows_real_time_and_only_moves_forward() -> None:
    real = [START]
    clock = VirtualClock(lambda: real[0])
    assert clock() == START
    clock.advance_to(START + timedelta(hours=1))
    assert clock() == START + timedelta(hours=1)
    real[0] += timedelta(seconds=5)
    assert clock() == START + timedelta(hours=1, seconds=5)
    clock.advance_to(START)  # the past: ignored
    assert clock() == START + timedelta(hours=1, seconds=5)


def frozen(ctx: Context) -> None:
    """Pin the clock's source at START, so minute arithmetic is exact."""
    ctx.clock = VirtualClock(lambda: START)


async def scheduled(ctx: Context, function_id: str, schedule: str) -> None:
    await add_function(ctx, function_id, [])
    fn = await get_function(ctx, function_id)
    await update_function(ctx, function_id, FunctionSettings(name=fn.name, schedule=schedule))


def test_advance_fires_every_due_minute_in_time_order(settings: Settings) -> None:
    async def scenario(ctx: Context) -> None:
        frozen(ctx)
        await scheduled(ctx, "every2", "*/2 * * * *")
        await scheduled(ctx, "every3", "*/3 * * * *")
        await scheduled(ctx, "leap", "0 0 29 2 *")
        scheduler = Scheduler(ctx)
        now, executions = await scheduler.advance(8 * 60)
        assert now == START + timedelta(minutes=8)
        fired = [(e.function_id, e.created_at.strftime("%H:%M")) for e in executions]
        assert fired == [
            # 00:00 is due for all three: by name on ties.
            ("every2", "00:00"),
            ("every3", "00:00"),
            ("leap", "00:00"),
            ("every2", "00:02"),
            ("every3", "00:03"),
            ("every2", "00:04"),
            ("every2", "00:06"),
            ("every3", "00:06"),
        ]
        assert all(e.status == "completed" and e.trigger == "schedule" for e in executions)
        every3 = await get_function(ctx, "every3")
        assert every3.schedule_previous == datetime(2024, 2, 29, 0, 6, tzinfo=UTC)
        assert every3.schedule_next == datetime(2024, 2, 29, 0, 9, tzinfo=UTC)
        leap = await get_function(ctx, "leap")
        assert leap.schedule_next == datetime(2028, 2, 29, tzinfo=UTC)

    run(settings, scenario)


def test_start_recomputes_schedule_next_and_close_stops_the_loop(settings: Settings) -> None:
    async def scenario(ctx: Context) -> None:
        frozen(ctx)
        settings = FunctionSettings(name="fn", schedule="0 * * * *")
        await create_function(ctx, "fn", runtime="python-3.9", settings=settings)
        ctx.clock.advance_to(START + timedelta(days=3))  # as if the emulator was stopped
        scheduler = Scheduler(ctx)
        await scheduler.start()
        fn = await get_function(ctx, "fn")
        assert fn.schedule_next == datetime(2024, 3, 3, 0, 0, tzinfo=UTC)
        assert fn.schedule_previous is None  # nothing replayed
        began = time.monotonic()
        await scheduler.close()
        assert time.monotonic() - began < 1

    run(settings, scenario)


def test_the_loop_sleeps_until_the_next_run(settings: Settings) -> None:
    async def scenario(ctx: Context) -> None:
        await add_function(ctx, "fn", [])
        # Real time, 1 s before a minute: the loop must wake and fire right then.
        real_now = datetime.now(UTC)
        minute = real_now.replace(second=0, microsecond=0) + timedelta(minutes=1)
        ctx.clock.offset = minute - timedelta(seconds=1) - real_now
        await update_function(ctx, "fn", FunctionSettings(name="fn", schedule="* * * * *"))
        scheduler = Scheduler(ctx)
        await scheduler.start()
        try:
            for _ in range(60):
                fn = await get_function(ctx, "fn")
                if fn.schedule_previous is not None:
                    break
                await asyncio.sleep(0.05)
            assert fn.schedule_previous is not None
            assert minute <= fn.schedule_previous < minute + timedelta(seconds=1)
            assert fn.schedule_next == minute + timedelta(minutes=1)
            await ctx.tasks.wait_idle()
            total, executions = await list_executions(ctx, "fn", NO_QUERY, None)
            assert total == 1 and executions[0].trigger == "schedule"
        finally:
            await scheduler.close()

    run(settings, scenario)
