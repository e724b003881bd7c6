"""Executions (spec 4.13–4.15, 7): checks in 1.3's order, the variables a function sees, results."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

from emulator.backend.context import Context
from emulator.backend.functions import get_function
from emulator.errors import (
    BuildNotFound,
    BuildNotReady,
    DeploymentNotFound,
    ExecutionNotFound,
    FunctionNotFound,
    FunctionRuntimeUnsupported,
    GeneralCursorNotFound,
    UserUnauthorized,
)
from emulator.executor import ExecutionResult
from emulator.ids import unique_id
from emulator.models import Deployment, Execution, Function
from emulator.queries import ListQuery

logger = logging.getLogger("emulator.executions")

INTERRUPTED = "The emulator stopped before this execution finished."


async def enabled_function(ctx: Context, function_id: str) -> Function:
    """The function, for execution routes: a disabled one is not found (even for API keys)."""
    fn = await get_function(ctx, function_id)
    if not fn.enabled:
        raise FunctionNotFound()
    return fn


def _php_json(values: list[str]) -> str:
    return json.dumps(values, separators=(",", ":"))


def check_execute_permission(fn: Function, roles: tuple[str, ...]) -> None:
    """Raises:
    UserUnauthorized: with 1.3's permission-validator messages.
    """
    if not fn.execute:
        raise UserUnauthorized("No permissions provided for action 'execute'")
    if not set(fn.execute) & set(roles):
        raise UserUnauthorized(
            f'Missing "execute" permission for role "{fn.execute[-1]}". Only '
            f'"{_php_json(list(roles))}" scopes are allowed and "{_php_json(fn.execute)}" was given.'
        )


async def runnable_deployment(ctx: Context, fn: Function) -> Deployment:
    """The active, built deployment of `fn`.

    Raises:
        FunctionRuntimeUnsupported, DeploymentNotFound, BuildNotFound, BuildNotReady: in 1.3's order.
    """
    if fn.runtime not in ctx.runtimes:
        raise FunctionRuntimeUnsupported(f'Runtime "{fn.runtime}" is not supported')
    deployment = await ctx.deployments.get(fn.deployment) if fn.deployment else None
    if deployment is None or deployment.function_id != fn.id:
        raise DeploymentNotFound(
            "Deployment not found. Create a deployment before trying to execute a function"
        )
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
    """The user's variables, then the `APPWRITE_FUNCTION_*` keys (spec 7.4), which win.

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


async def run_execution(
    ctx: Context,
    fn: Function,
    deployment: Deployment,
    execution: Execution,
    variables: dict[str, str],
    payload: str,
) -> Execution:
    """Run it on a worker and store the result."""
    result = await ctx.executor.execute(
        deployment_id=deployment.id,
        build_id=deployment.build_id,
        runtime=ctx.runtimes[fn.runtime],
        entrypoint=deployment.entrypoint,
        payload=payload,
        variables=variables,
        timeout=fn.timeout,
        execution_id=execution.id,
    )
    apply_result(execution, result)
    execution.updated_at = ctx.clock()
    await ctx.executions.save(execution)
    logger.info(
        "Execution %s of %s (%s): %s in %.3fs",
        execution.id,
        fn.id,
        execution.trigger,
        execution.status_code,
        execution.duration,
    )
    return execution


async def _run_queued(
    ctx: Context,
    fn: Function,
    deployment: Deployment,
    execution: Execution,
    variables: dict[str, str],
    payload: str,
) -> None:
    execution.status = "processing"
    execution.updated_at = ctx.clock()
    await ctx.executions.save(execution)
    await run_execution(ctx, fn, deployment, execution, variables, payload)


async def create_execution(
    ctx: Context,
    function_id: str,
    data: str,
    run_async: bool,
    *,
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
    now = ctx.clock()
    execution = Execution(
        id=unique_id(),
        function_id=fn.id,
        deployment_id=deployment.id,
        trigger="http",
        status="waiting" if run_async else "processing",
        created_at=now,
        updated_at=now,
    )
    await ctx.executions.insert(execution)
    if run_async:
        variables = function_variables(
            ctx, fn, deployment, trigger="http", data=data, event="", event_data=""
        )
        ctx.tasks.spawn(
            _run_queued(ctx, fn, deployment, replace(execution), variables, data),
            name=f"execution-{execution.id}",
        )
        return execution
    variables = function_variables(
        ctx, fn, deployment, trigger="http", data=data, event=None, event_data=None
    )
    return await run_execution(ctx, fn, deployment, execution, variables, data)


async def list_executions(
    ctx: Context, function_id: str, query: ListQuery, search: str | None
) -> tuple[int, list[Execution]]:
    await enabled_function(ctx, function_id)
    cursor_row = None
    if query.cursor is not None:
        cursor_row = await ctx.executions.cursor_row(query.cursor)
        if cursor_row is None:
            raise GeneralCursorNotFound(
                f"Execution '{query.cursor}' for the 'cursor' value not found."
            )
    return await ctx.executions.page(function_id, query, search, cursor_row)


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
