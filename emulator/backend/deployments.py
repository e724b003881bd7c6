"""Deployments and builds: uploads, background builds, activation."""

from __future__ import annotations

import asyncio
import logging
from typing import BinaryIO

from emulator.backend.cleanup import remove_deployment_files
from emulator.backend.context import Context
from emulator.backend.debug import follow_deployment
from emulator.backend.functions import get_function
from emulator.backend.paging import page
from emulator.backend.uploads import ContentRange, assemble, progress, store_file, store_part
from emulator.errors import (
    BuildInProgress,
    BuildNotFound,
    BuildNotReady,
    DeploymentNotFound,
    StorageFileEmpty,
    StorageFileTypeUnsupported,
    StorageInvalidFileSize,
)
from emulator.ids import unique_id
from emulator.models import Build, Deployment, Function
from emulator.queries import ListQuery
from emulator.validators import is_key

logger = logging.getLogger("emulator.builds")

BUILD_SUCCESSFUL = "Build Successful!"
_EVENT = "functions.[functionId].deployments.[deploymentId]"


def _ids(deployment: Deployment) -> dict[str, str]:
    """The params of a deployment event, outer ID first."""
    return {"functionId": deployment.function_id, "deploymentId": deployment.id}


async def check_upload(
    ctx: Context, function_id: str, code: BinaryIO | None, filename: str
) -> Function:
    """The checks 1.3 makes on an upload before it reads its `Content-Range`, in its order.

    Raises:
        FunctionNotFound, StorageFileEmpty, StorageFileTypeUnsupported.
    """
    fn = await get_function(ctx, function_id)
    if code is None:
        raise StorageFileEmpty("No file sent")
    if filename.rsplit(".", 1)[-1] != "gz" or "." not in filename:
        raise StorageFileTypeUnsupported()
    return fn


async def create_deployment(
    ctx: Context,
    function_id: str,
    *,
    entrypoint: str,
    activate: bool,
    code: BinaryIO | None,
    filename: str,
    content_range: ContentRange | None = None,
    upload_id: str | None = None,
) -> Deployment:
    """Store one upload request (the whole file or one part); start the build once complete.

    Args:
        content_range: the part this request carries; None for a whole file.
        upload_id: the deployment a part continues (a valid ID); None starts a new one.

    Raises:
        As `check_upload`, then StorageInvalidFileSize (the declared size is over the limit),
        StorageInvalidContentRange (the part is not as long as its range, or overlaps another),
        StorageInvalidFileSize (a whole file over the limit).
    """
    fn = await check_upload(ctx, function_id, code, filename)
    assert code is not None
    limit = ctx.settings.max_deployment_size
    if content_range is not None and content_range.size > limit:
        raise StorageInvalidFileSize()
    if upload_id is not None and (content_range is None or not is_key(upload_id)):
        raise ValueError(f"not the ID of a chunked upload: {upload_id!r}")

    deployment_id = upload_id or unique_id()
    folder = ctx.uploads_dir / deployment_id
    existing = await ctx.deployments.get(deployment_id) if upload_id else None
    if content_range is None:
        size = store_file(folder, code, limit)
    else:
        store_part(folder, content_range, code)
        size = content_range.size
    state = progress(folder, size)

    now = ctx.clock()
    deployment = existing or Deployment(
        id=deployment_id,
        function_id=fn.id,
        entrypoint=entrypoint,
        size=size,
        activate=activate,
        created_at=now,
        updated_at=now,
    )
    deployment.chunks_total = state.chunks_total
    deployment.chunks_uploaded = state.chunks_uploaded
    deployment.updated_at = now
    if state.complete:
        code_path = folder / "code.tar.gz"
        deployment.size = assemble(folder, code_path)
        deployment.path = str(code_path)
        if deployment.activate:
            await ctx.deployments.deactivate_others(fn.id, deployment.id)
    if existing is None:
        await ctx.deployments.insert(deployment)
    else:
        await ctx.deployments.save(deployment)
    # Every chunk emits, carrying the response (status "" before the build exists).
    ctx.emit(_EVENT + ".create", _ids(deployment), deployment.to_document(status=""))
    if state.complete:
        start_build(ctx, deployment)
    return deployment


def start_build(ctx: Context, deployment: Deployment) -> None:
    ctx.tasks.spawn(run_build(ctx, deployment.id), name=f"build-{deployment.id}")


async def run_build(ctx: Context, deployment_id: str) -> None:
    """Build a deployment (status building -> ready | failed) and activate it when asked."""
    deployment = await ctx.deployments.get(deployment_id)
    if deployment is None:
        return
    fn = await ctx.functions.get(deployment.function_id)
    if fn is None:
        return
    now = ctx.clock()
    build = deployment.build
    if build is None:
        build = Build(
            id=unique_id(),
            deployment_id=deployment.id,
            runtime=fn.runtime,
            status="building",
            created_at=now,
            updated_at=now,
            started_at=now,
        )
        await ctx.deployments.insert_build(build)
        deployment.build_id = build.id
        await ctx.deployments.save(deployment)
    else:
        build.status, build.stdout, build.stderr = "building", "", ""
        build.started_at = build.updated_at = now
        await ctx.deployments.save_build(build)
    deployment.build = build
    ctx.emit(_EVENT + ".update", _ids(deployment), deployment.to_document())

    runtime = ctx.runtimes.get(fn.runtime)
    if runtime is None:
        build.status = "failed"
        build.stderr = f'Runtime "{fn.runtime}" is not supported'
    else:
        variables = {v.key: v.value for v in (await get_function(ctx, fn.id)).vars}
        result = await ctx.executor.build(
            build_id=build.id,
            archive=ctx.uploads_dir / deployment.id / "code.tar.gz",
            runtime=runtime,
            entrypoint=deployment.entrypoint,
            env=variables,
        )
        build.status = "ready" if result.ok else "failed"
        build.stdout = result.stdout or (BUILD_SUCCESSFUL if result.ok else "")
        build.stderr = result.stderr
        build.duration = int(result.duration)
        if result.ok:
            # Before `ready` is stored: a client that sees `ready` finds the deployment active.
            pending = await ctx.deployments.get(deployment.id)
            if pending is not None and pending.activate:
                await _warm_up(ctx, fn.id, pending)
    build.updated_at = ctx.clock()
    await ctx.deployments.save_build(build)
    logger.info("Build of deployment %s (function %s): %s", deployment.id, fn.id, build.status)
    ctx.notify(_EVENT + ".update", _ids(deployment), deployment.to_document)
    # Read again: a newer upload with `activate` may have taken the flag while this one built,
    # and the deployment may have been deleted meanwhile.
    latest = await ctx.deployments.get(deployment.id)
    if build.status == "ready" and latest is not None and latest.activate:
        current = await ctx.functions.get(fn.id)
        if current is not None:
            previous, current.deployment = current.deployment, deployment.id
            current.updated_at = ctx.clock()
            await ctx.functions.save(current)
            retire_workers(ctx, previous, deployment.id)
            ctx.notify("functions.[functionId].update", {"functionId": fn.id}, current.to_document)
            follow_deployment(ctx, current, deployment)


PRESTART_WAIT = 2.0
"""Seconds an activation waits for the deployment's first worker (a slower start goes on)."""


async def _warm_up(ctx: Context, function_id: str, deployment: Deployment) -> None:
    """Start the deployment's first worker before its build is `ready` and it becomes active, so
    that no execution waits for a cold start after a deploy or a reload (the old deployment
    serves meanwhile). Its environment is the function's variables and the
    `APPWRITE_FUNCTION_*` values that do not depend on an execution; each execution sets the
    rest, as always."""
    fn = await ctx.functions.get(function_id)
    runtime = ctx.runtimes.get(fn.runtime) if fn is not None else None
    if fn is None or runtime is None:
        return
    variables = {v.key: v.value for v in (await get_function(ctx, fn.id)).vars}
    variables.update(
        {
            "APPWRITE_FUNCTION_ID": fn.id,
            "APPWRITE_FUNCTION_NAME": fn.name,
            "APPWRITE_FUNCTION_DEPLOYMENT": deployment.id,
            "APPWRITE_FUNCTION_RUNTIME_NAME": runtime.runtime.name,
            "APPWRITE_FUNCTION_RUNTIME_VERSION": runtime.runtime.version,
            "APPWRITE_FUNCTION_PROJECT_ID": ctx.settings.project_id,
        }
    )
    start = ctx.executor.prestart(
        deployment_id=deployment.id,
        build_id=deployment.build_id,
        runtime=runtime,
        entrypoint=deployment.entrypoint,
        variables=variables,
        function_id=fn.id,
    )
    await asyncio.wait(
        {ctx.tasks.spawn(start, name=f"prestart-{deployment.id}")}, timeout=PRESTART_WAIT
    )


def retire_workers(ctx: Context, previous: str, active: str) -> None:
    """Once `active` took over, the previous deployment's workers stop: idle ones now, busy ones
    after their execution (which finishes on the old code)."""
    ctx.executor.resume_deployment(active)
    if previous and previous != active:
        ctx.tasks.spawn(ctx.executor.stop_deployment(previous), name=f"retire-{previous}")


async def resume_builds(ctx: Context) -> None:
    """After a restart: build every complete upload whose build never finished."""
    for build in await ctx.deployments.unfinished_builds():
        start_build_by_id(ctx, build.deployment_id)
    rows = await ctx.db.fetch_all("SELECT id FROM deployments WHERE build_id = '' AND path != ''")
    for row in rows:
        start_build_by_id(ctx, row["id"])


def start_build_by_id(ctx: Context, deployment_id: str) -> None:
    ctx.tasks.spawn(run_build(ctx, deployment_id), name=f"build-{deployment_id}")


async def get_deployment(ctx: Context, function_id: str, deployment_id: str) -> Deployment:
    """Raises:
    FunctionNotFound, DeploymentNotFound (also when it belongs to another function).
    """
    await get_function(ctx, function_id)
    deployment = await ctx.deployments.get(deployment_id)
    if deployment is None or deployment.function_id != function_id:
        raise DeploymentNotFound()
    return deployment


async def list_deployments(
    ctx: Context, function_id: str, query: ListQuery, search: str | None
) -> tuple[int, list[Deployment]]:
    await get_function(ctx, function_id)
    return await page("Deployment", query, ctx.deployments.page(function_id, query, search))


async def update_deployment(ctx: Context, function_id: str, deployment_id: str) -> Function:
    """Activate a built deployment; returns the function (1.3 does not check ownership)."""
    fn = await get_function(ctx, function_id)
    deployment = await ctx.deployments.get(deployment_id)
    if deployment is None:
        raise DeploymentNotFound()
    if deployment.build is None:
        raise BuildNotFound()
    if deployment.build.status != "ready":
        raise BuildNotReady()
    previous, fn.deployment = fn.deployment, deployment.id
    fn.updated_at = ctx.clock()
    await ctx.functions.save(fn)
    retire_workers(ctx, previous, deployment.id)
    follow_deployment(ctx, fn, deployment)
    # The payload is the response: the function, not the deployment.
    params = {"functionId": fn.id, "deploymentId": deployment.id}
    ctx.emit(_EVENT + ".update", params, fn.to_document())
    return fn


async def delete_deployment(ctx: Context, function_id: str, deployment_id: str) -> None:
    fn = await get_function(ctx, function_id)
    deployment = await get_deployment(ctx, function_id, deployment_id)
    await ctx.deployments.delete(deployment.id)
    if fn.deployment == deployment.id:
        fn.deployment = ""
        fn.updated_at = ctx.clock()
        await ctx.functions.save(fn)
    await remove_deployment_files(ctx, deployment)
    ctx.emit(_EVENT + ".delete", _ids(deployment), {})


async def create_build(ctx: Context, function_id: str, deployment_id: str, build_id: str) -> None:
    """Retry a failed build.

    Raises:
        FunctionNotFound, DeploymentNotFound, BuildNotFound, BuildInProgress ("Build not failed").
    """
    await get_function(ctx, function_id)
    deployment = await ctx.deployments.get(deployment_id)
    if deployment is None:
        raise DeploymentNotFound()
    build = await ctx.deployments.get_build(build_id)
    if build is None:
        raise BuildNotFound()
    if build.status != "failed":
        raise BuildInProgress("Build not failed")
    # As in 1.3, the deployment is rebuilt into its own build record; the one named in the path
    # was only checked.
    ctx.emit(_EVENT + ".update", {"functionId": function_id, "deploymentId": deployment.id}, {})
    start_build_by_id(ctx, deployment.id)
