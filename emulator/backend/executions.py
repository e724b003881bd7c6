"""Executions: checks in 1.3's order, the variables a function sees,
results; http executions and the ones schedules and events start."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from datetime import datetime

from emulator.backend.context import Chain, Context
from emulator.backend.functions import get_function, move_schedule
from emulator.backend.paging import page
from emulator.errors import (
    BuildNotFound,
    BuildNotReady,
    DeploymentNotFound,
    ExecutionNotFound,
    FunctionNotFound,
    FunctionRuntimeUnsupported,
    UserUnauthorized,
)
from emulator.executor import ExecutionResult
from emulator.ids import unique_id
from emulator.models import Deployment, Execution, Function
from emulator.phpjson import php_json
from emulator.queries import ListQuery

logger = logging.getLogger("emulator.executions")
terminal = logging.getLogger("emulator.dev")  # one line per execution, shown by default

INTERRUPTED = "The emulator stopped before this execution finished."
NO_DEPLOYMENT = "Deployment not found. Create a deployment before trying to execute a function"
_EVENT = "functions.[functionId].executions.[executionId]"


@dataclass(frozen=True)
class Started:
    """An execution as created (`waiting`) and the task running it (see `finished`)."""

    execution: Execution
    done: asyncio.Task[Execution]

    async def finished(self) -> Execution:
        """The execution once its run ended; the record as created if the run was cancelled
        (a reset of the emulator), instead of passing the cancellation on to the caller."""
        outcome = (await asyncio.gather(self.done, return_exceptions=True))[0]
        return outcome if isinstance(outcome, Execution) else self.execution


def _ids(execution: Execution) -> dict[str, str]:
    """The params of an execution event, outer ID first."""
    return {"functionId": execution.function_id, "executionId": execution.id}


async def enabled_function(ctx: Context, function_id: str) -> Function:
    """The function with its variables, for execution routes: a disabled one is not found (even
    for API keys). Cached between calls (`ReadCache`): the caller must not modify it."""
    fn = await ctx.cache.get(
        ("function", function_id),
        ("functions", "variables"),
        lambda: get_function(ctx, function_id),
    )
    if not fn.enabled:
        raise FunctionNotFound()
    return fn


def check_execute_permission(fn: Function, roles: tuple[str, ...]) -> None:
    """Raises:
    UserUnauthorized: with 1.3's permission-validator messages.
    """
    if not fn.execute:
        raise UserUnauthorized("No permissions provided for action 'execute'")
    if not set(fn.execute) & set(roles):
        raise UserUnauthorized(
            f'Missing "execute" permission for role "{fn.execute[-1]}". Only '
            f'"{php_json(list(roles))}" scopes are allowed and "{php_json(fn.execute)}" was given.'
        )


async def runnable_deployment(ctx: Context, fn: Function) -> Deployment:
    """The active, built deployment of `fn` (cached between calls: the caller must not modify it).

    Raises:
        FunctionRuntimeUnsupported, DeploymentNotFound, BuildNotFound, BuildNotReady: in 1.3's order.
    """
    if fn.runtime not in ctx.runtimes:
        raise FunctionRuntimeUnsupported(f'Runtime "{fn.runtime}" is not supported')
    deployment = None
    if fn.deployment:
        deployment = await ctx.cache.get(
            ("deployment", fn.deployment),
            ("deployments", "builds"),
            lambda: ctx.deployments.get(fn.deployment),
        )
    if deployment is None or deployment.function_id != fn.id:
        raise DeploymentNotFound(NO_DEPLOYMENT)
    if deployment.build is None:
        raise BuildNotFound()
    if deployment.build.status != "ready":
        raise BuildNotReady()
    return deployment


def function_variables(
    ctx: Context,
    fn: Function,
    deployment: Deployment,
    *,
    trigger: str,
    data: str,
    event: str | None,
    event_data: str | None,
    user_id: str = "",
) -> dict[str, str]:
    """The user's variables, then the `APPWRITE_FUNCTION_*` keys, which win.

    `event`/`event_data` None leaves those keys out, as 1.3's synchronous path does.
    """
    runtime = ctx.runtimes[fn.runtime].runtime
    variables = {v.key: v.value for v in fn.vars}
    variables.update(
        {
            "APPWRITE_FUNCTION_ID": fn.id,
            "APPWRITE_FUNCTION_NAME": fn.name,
            "APPWRITE_FUNCTION_DEPLOYMENT": deployment.id,
            "APPWRITE_FUNCTION_TRIGGER": trigger,
            "APPWRITE_FUNCTION_RUNTIME_NAME": runtime.name,
            "APPWRITE_FUNCTION_RUNTIME_VERSION": runtime.version,
        }
    )
    if event is not None:
        variables["APPWRITE_FUNCTION_EVENT"] = event
    if event_data is not None:
        variables["APPWRITE_FUNCTION_EVENT_DATA"] = event_data
    variables.update(
        {
            "APPWRITE_FUNCTION_DATA": data,
            "APPWRITE_FUNCTION_PROJECT_ID": ctx.settings.project_id,
            "APPWRITE_FUNCTION_USER_ID": user_id,
            "APPWRITE_FUNCTION_JWT": "",
        }
    )
    return variables


def apply_result(execution: Execution, result: ExecutionResult) -> None:
    """Spec 7.2: failed iff status >= 500; stderr kept only then."""
    failed = result.status_code >= 500
    execution.status = "failed" if failed else "completed"
    execution.status_code = result.status_code
    execution.response = result.response
    execution.stdout = result.stdout
    execution.stderr = result.stderr if failed else ""
    execution.duration = round(result.duration, 6)


@dataclass
class Job:
    """One execution to run: the record, where it runs, and what the function is given."""

    fn: Function
    deployment: Deployment
    execution: Execution
    variables: dict[str, str]
    payload: str


async def run_execution(ctx: Context, job: Job) -> Execution:
    """Run it on a worker and store the result."""
    fn, deployment, execution = job.fn, job.deployment, job.execution
    result = await ctx.executor.execute(
        deployment_id=deployment.id,
        build_id=deployment.build_id,
        runtime=ctx.runtimes[fn.runtime],
        entrypoint=deployment.entrypoint,
        payload=job.payload,
        variables=job.variables,
        timeout=fn.timeout,
        execution_id=execution.id,
        function_id=fn.id,
    )
    apply_result(execution, result)
    execution.updated_at = ctx.clock()
    # Durable: committed before anyone is answered; in one commit with the results of other
    # executions that finish meanwhile, if any run.
    await ctx.executions.save(execution, share=ctx.executor.running > 0)
    debugger = None
    if ctx.settings.debugged(fn.id):
        debugger = ctx.executor.debug.endpoint(fn.id, ctx.runtimes[fn.runtime].language)
    terminal.info(
        "%s: %s execution %s -> %s in %.0f ms%s",
        fn.id,
        execution.trigger,
        execution.id,
        execution.status_code,
        execution.duration * 1000,
        f"; debugger {debugger}" if debugger else "",
    )
    return execution


async def _run_queued(ctx: Context, job: Job, depth: int, chain: Chain | None) -> Execution:
    """What 1.3's functions worker does: `processing`, run, store, emit the update event."""
    execution = job.execution
    execution.status = "processing"
    execution.updated_at = ctx.clock()
    await ctx.executions.save(execution, durable=False)  # a crash leaves it `waiting`: failed too
    ctx.notify(_EVENT + ".update", _ids(execution), execution.to_document)
    await run_execution(ctx, job)
    document = execution.to_document()
    ctx.emit(_EVENT + ".update", _ids(execution), document, depth=depth, chain=chain)
    return execution


def _queue(
    ctx: Context, job: Job, depth: int = 0, chain: Chain | None = None
) -> asyncio.Task[Execution]:
    """Run a stored `waiting` execution in the background (on a copy: the caller's stays as is)."""
    run = _run_queued(ctx, replace(job, execution=replace(job.execution)), depth, chain)
    return ctx.tasks.spawn(run, name=f"execution-{job.execution.id}")


def _new_execution(
    ctx: Context, fn: Function, deployment: Deployment, trigger: str, status: str
) -> Execution:
    now = ctx.clock()
    return Execution(
        id=unique_id(),
        function_id=fn.id,
        deployment_id=deployment.id,
        trigger=trigger,
        status=status,
        created_at=now,
        updated_at=now,
    )


async def create_execution(
    ctx: Context,
    function_id: str,
    *,
    data: str,
    run_async: bool,
    roles: tuple[str, ...],
    authorized: bool,
) -> Execution:
    """Create (and, unless async, finish) an http execution.

    Args:
        roles: the caller's roles, for the `execute` check.
        authorized: authorization is off for the caller (an API key): skip the `execute` check.
    """
    fn = await enabled_function(ctx, function_id)
    deployment = await runnable_deployment(ctx, fn)
    if not authorized:
        check_execute_permission(fn, roles)
    status = "waiting" if run_async else "processing"
    execution = _new_execution(ctx, fn, deployment, "http", status)
    # A 202 promises a durable `waiting` record. A sync execution's `processing` record is
    # written with its result, or 50 ms in when the function runs longer (nobody has its ID
    # before the answer); the result is durable before the answer.
    if run_async:
        await ctx.executions.insert(execution)
        variables = function_variables(
            ctx, fn, deployment, trigger="http", data=data, event="", event_data=""
        )
        _emit_created(ctx, execution, authorized)
        _queue(ctx, Job(fn, deployment, execution, variables, data))
        return execution
    ctx.executions.insert_later(execution)
    ctx.notify(_EVENT + ".create", _ids(execution), execution.to_document)  # `processing`
    variables = function_variables(
        ctx, fn, deployment, trigger="http", data=data, event=None, event_data=None
    )
    try:
        await run_execution(ctx, Job(fn, deployment, execution, variables, data))
    except BaseException:  # cancelled (the emulator stops): no `processing` record left behind
        ctx.executions.forget_unwritten(execution_id=execution.id)
        raise
    _emit_created(ctx, execution, authorized)  # a sync execution emits no update
    return execution


def _emit_created(ctx: Context, execution: Execution, with_logs: bool) -> None:
    """The create event carries the response, logs blanked as for the caller (keys see them)."""
    document = execution.to_document(with_logs=with_logs)
    ctx.emit(_EVENT + ".create", _ids(execution), document)


async def start_execution(
    ctx: Context,
    fn: Function,
    trigger: str,
    *,
    event: str = "",
    event_data: str = "",
    depth: int = 0,
    chain: Chain | None = None,
) -> Started:
    """Start a `schedule` or `event` execution as 1.3's worker does: checks first (nothing is
    recorded when they fail), then a `waiting` record that runs in the background.

    Args:
        event, event_data: `APPWRITE_FUNCTION_EVENT` / `_EVENT_DATA` (`""` for schedules).
        depth, chain: where in a chain of events this runs; its update event carries them on.

    Raises:
        FunctionRuntimeUnsupported, DeploymentNotFound, BuildNotFound, BuildNotReady.
    """
    deployment = await runnable_deployment(ctx, fn)
    execution = _new_execution(ctx, fn, deployment, trigger, "waiting")
    await ctx.executions.insert(execution)
    ctx.notify(_EVENT + ".create", _ids(execution), execution.to_document)
    variables = function_variables(
        ctx, fn, deployment, trigger=trigger, data="", event=event, event_data=event_data
    )
    done = _queue(ctx, Job(fn, deployment, execution, variables, ""), depth, chain)
    return Started(execution, done)


async def run_schedule(ctx: Context, fn: Function, now: datetime) -> Started | None:
    """A schedule firing at `now`: move scheduleNext/Previous, then run `fn`.

    Returns None when the schedule changed since `fn` was read: 1.3 drops that run.

    Raises:
        As `start_execution`, after the schedule moved (1.3 then records nothing).
    """
    if not await move_schedule(ctx, fn, now):
        return None
    return await start_execution(ctx, fn, "schedule")


async def run_schedule_now(ctx: Context, function_id: str) -> Started:
    """Fire a function's schedule at once, as the scheduler would (the emulator's control plane).

    Raises:
        FunctionNotFound; DeploymentNotFound when no ready deployment is active;
        FunctionRuntimeUnsupported.
    """
    while True:  # again only if the function changed between reading and moving its schedule
        fn = await get_function(ctx, function_id)
        try:
            started = await run_schedule(ctx, fn, ctx.clock())
        except (BuildNotFound, BuildNotReady) as exc:
            raise DeploymentNotFound(NO_DEPLOYMENT) from exc
        if started is not None:
            return started


async def list_executions(
    ctx: Context, function_id: str, query: ListQuery, search: str | None
) -> tuple[int, list[Execution]]:
    await enabled_function(ctx, function_id)
    return await page("Execution", query, ctx.executions.page(function_id, query, search))


async def get_execution(ctx: Context, function_id: str, execution_id: str) -> Execution:
    await enabled_function(ctx, function_id)
    execution = await ctx.executions.get(execution_id)
    if execution is None or execution.function_id != function_id:
        raise ExecutionNotFound()
    return execution


async def fail_interrupted(ctx: Context) -> int:
    """On start: executions a crash left `waiting`/`processing` become `failed` with a clear stderr."""
    count = await ctx.executions.fail_unfinished(INTERRUPTED, ctx.clock())
    if count:
        logger.warning("Marked %s interrupted execution(s) as failed", count)
    return count
