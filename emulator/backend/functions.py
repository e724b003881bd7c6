"""Functions: create, list, get, update, delete."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from emulator import cron
from emulator.backend.cleanup import remove_function_resources
from emulator.backend.context import Context
from emulator.backend.paging import page
from emulator.errors import FunctionAlreadyExists, FunctionNotFound
from emulator.ids import resolve_custom_id
from emulator.models import Function
from emulator.queries import ListQuery
from emulator.store.functions import DuplicateFunction


@dataclass(frozen=True, kw_only=True)
class FunctionSettings:
    """What create and update set on a function: all but its ID and runtime (which 1.3 cannot
    change), with 1.3's defaults. Keyword-only, so `execute` and `events` cannot be swapped."""

    name: str
    execute: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    schedule: str = ""
    timeout: int = 15
    enabled: bool = True

    @classmethod
    def of(cls, fn: Function) -> FunctionSettings:
        """The settings `fn` has now."""
        return cls(
            name=fn.name,
            execute=tuple(fn.execute),
            events=tuple(fn.events),
            schedule=fn.schedule,
            timeout=fn.timeout,
            enabled=fn.enabled,
        )


def next_run(schedule: str, now: datetime) -> datetime | None:
    """`scheduleNext`: the first run strictly after now, or None without a (possible) schedule."""
    if cron.is_blank(schedule):
        return None
    try:
        return cron.next_after(schedule, now)
    except ValueError:
        return None  # valid by 1.3's grammar, but it never fires (e.g. "0 0 30 2 *")


async def _with_vars(ctx: Context, functions: list[Function]) -> list[Function]:
    by_function = await ctx.variables.for_functions([f.id for f in functions])
    for fn in functions:
        fn.vars = by_function[fn.id]
    return functions


async def get_function(ctx: Context, function_id: str) -> Function:
    """Raises:
    FunctionNotFound: no function has this ID.
    """
    fn = await ctx.functions.get(function_id)
    if fn is None:
        raise FunctionNotFound()
    return (await _with_vars(ctx, [fn]))[0]


async def create_function(
    ctx: Context, function_id: str, *, runtime: str, settings: FunctionSettings
) -> Function:
    """Raises:
    FunctionAlreadyExists: the ID is taken (1.3 answers a 500 there; README lists the difference).
    """
    now = ctx.clock()
    fn = Function(
        id=resolve_custom_id(function_id),
        name=settings.name,
        runtime=runtime,
        created_at=now,
        updated_at=now,
        execute=list(settings.execute),
        enabled=settings.enabled,
        events=list(settings.events),
        schedule=settings.schedule,
        schedule_next=next_run(settings.schedule, now),
        schedule_updated_at=now,
        timeout=settings.timeout,
    )
    try:
        await ctx.functions.insert(fn)
    except DuplicateFunction:
        raise FunctionAlreadyExists() from None
    ctx.emit("functions.[functionId].create", {"functionId": fn.id}, fn.to_document())
    return fn


async def list_functions(
    ctx: Context, query: ListQuery, search: str | None
) -> tuple[int, list[Function]]:
    """Raises:
    GeneralCursorNotFound: the cursor names no function.
    """
    total, functions = await page("Function", query, ctx.functions.page(query, search))
    return total, await _with_vars(ctx, functions)


async def update_function(ctx: Context, function_id: str, settings: FunctionSettings) -> Function:
    """A full replacement of the settings (the API passes omitted ones as their defaults)."""
    fn = await get_function(ctx, function_id)
    now = ctx.clock()
    fn.name = settings.name
    fn.execute = list(settings.execute)
    fn.events = list(settings.events)
    fn.schedule = settings.schedule
    fn.timeout = settings.timeout
    fn.enabled = settings.enabled
    fn.schedule_next = next_run(settings.schedule, now)
    fn.schedule_updated_at = now
    fn.updated_at = now
    await ctx.functions.save(fn)
    ctx.emit("functions.[functionId].update", {"functionId": fn.id}, fn.to_document())
    return fn


async def delete_function(ctx: Context, function_id: str) -> None:
    await get_function(ctx, function_id)
    await ctx.functions.delete(function_id)
    await remove_function_resources(ctx, function_id)
    ctx.emit("functions.[functionId].delete", {"functionId": function_id}, {})


async def subscribers(ctx: Context, names: list[str]) -> list[Function]:
    """The functions whose `events` share a name with `names`, disabled ones too, with their
    variables; by name, as 1.3's worker scans them (ties: oldest first)."""
    found = [fn for fn in await ctx.functions.all() if not set(fn.events).isdisjoint(names)]
    return await _with_vars(ctx, sorted(found, key=lambda fn: fn.name)) if found else []


async def scheduled_functions(ctx: Context) -> list[Function]:
    """The functions with a next run, soonest first (ties by name); without their variables."""
    runs = [(fn.schedule_next, fn.name, fn) for fn in await ctx.functions.all() if fn.schedule_next]
    return [fn for _, _, fn in sorted(runs, key=lambda run: (run[0], run[1]))]


async def move_schedule(ctx: Context, fn: Function, now: datetime) -> bool:
    """A schedule run at `now`: `schedulePrevious` = now, `scheduleNext` = the next run.

    Returns False, changing nothing, when the schedule changed since `fn` was read (1.3 drops
    such a run).
    """
    fn.schedule_previous = now
    fn.schedule_next = next_run(fn.schedule, now)
    fn.updated_at = ctx.clock()  # 1.3's worker updates the document
    return await ctx.functions.save_schedule_run(fn)


async def recompute_schedules(ctx: Context) -> None:
    """On start: `scheduleNext` from now, so runs missed while stopped are not replayed."""
    now = ctx.clock()
    for fn in await ctx.functions.all():
        if fn.schedule_next is not None or not cron.is_blank(fn.schedule):
            fn.schedule_next = next_run(fn.schedule, now)
            await ctx.functions.save_schedule_run(fn)
