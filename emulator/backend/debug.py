"""Functions run under a debugger (`--debug`): their debug worker follows the active deployment,
started ahead of executions so that a debugger can attach before the first one."""

from __future__ import annotations

from emulator.backend.context import Context
from emulator.backend.executions import function_variables, runnable_deployment
from emulator.backend.functions import get_function
from emulator.errors import AppwriteException
from emulator.models import Deployment, Function


def follow_deployment(
    ctx: Context, fn: Function, deployment: Deployment, *, only_if_unset: bool = False
) -> None:
    """`deployment` is now `fn`'s active one: a debugged function's worker restarts on it.

    Synchronous up to the switch, so that the next execution already goes to the new worker;
    the start itself runs in the background.
    """
    runtime = ctx.runtimes.get(fn.runtime)
    if runtime is None or not ctx.settings.debugged(fn.id):
        return
    switched = ctx.executor.debug.switch(
        fn.id,
        deployment_id=deployment.id,
        build_id=deployment.build_id,
        runtime=runtime,
        entrypoint=deployment.entrypoint,
        only_if_unset=only_if_unset,
    )
    if switched:
        ctx.tasks.spawn(_warm(ctx, fn.id, deployment), name=f"debug-{fn.id}")


async def _warm(ctx: Context, function_id: str, deployment: Deployment) -> None:
    fn = await get_function(ctx, function_id)  # with its variables: what the import may read
    variables = function_variables(
        ctx, fn, deployment, trigger="http", data="", event=None, event_data=None
    )
    await ctx.executor.debug.warm(function_id, deployment.id, variables)


async def follow_active(
    ctx: Context, function_id: str, *, only_if_unset: bool = False
) -> str | None:
    """A debugged function's worker moves to its active deployment, when it has a ready one
    (after a restore put the function back, or at start-up).

    Returns:
        The function's language when it exists, for `start_debugging`'s banner line.
    """
    if not ctx.settings.debugged(function_id):
        return None
    try:
        fn = await get_function(ctx, function_id)
    except AppwriteException:
        return None
    runtime = ctx.runtimes.get(fn.runtime)
    if runtime is None:
        return None
    try:
        deployment = await runnable_deployment(ctx, fn)
    except AppwriteException:
        return runtime.language
    follow_deployment(ctx, fn, deployment, only_if_unset=only_if_unset)
    return runtime.language


async def start_debugging(ctx: Context) -> list[str]:
    """At start-up: start the debug workers of debugged functions that have an active build.

    Returns:
        One line per debugged function, saying where to attach (for the start-up banner).
    """
    lines = []
    for target in ctx.settings.debug:
        # A deploy that started meanwhile may have moved the worker already: that one wins.
        language = await follow_active(ctx, target.function_id, only_if_unset=True)
        where = ctx.executor.debug.endpoint(target.function_id, language)
        lines.append(f"{target.function_id} -> {where}")
    return lines
