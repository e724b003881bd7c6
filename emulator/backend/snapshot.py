"""The test fixture's isolation (not part of Appwrite): a snapshot of the project when a test
starts, and restoring it when the test ends, so that what the test created, changed or deleted is
put back while what it did not touch keeps its warm workers.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from pathlib import Path

from emulator.backend.context import Chain, Context
from emulator.backend.debug import follow_active
from emulator.backend.deployments import resume_builds
from emulator.backend.functions import get_function, next_run
from emulator.backend.reset import TRASH, Cleanup, discard, nothing, schedule_cleanup
from emulator.errors import FunctionNotFound, GeneralArgumentInvalid
from emulator.executor.builds import build_paths
from emulator.store import snapshot

logger = logging.getLogger("emulator.reset")

KEPT = "snapshot"
"""Folder of the data dir holding a hard link to the archive of every deployment in the snapshot,
so that a deployment deleted after the snapshot can be built again."""
_TEST_WORK = ("execution-", "dispatch-", "build-")
"""Background tasks a restore cancels (by name): executions, event deliveries and builds."""
_BUILT = ("ready", "failed")
_EVENT = "functions.[functionId]."
NO_SNAPSHOT = "No snapshot to restore: take one first with POST /v1/emulator/snapshot."


async def take_snapshot(ctx: Context) -> None:
    """Remember the project as it is now; `restore_snapshot` comes back to it."""
    await snapshot.take(ctx.db)
    _keep_archives(ctx.settings.data_dir / KEPT, await snapshot.archives(ctx.db))


async def restore_snapshot(ctx: Context) -> Cleanup:
    """Put the project back as it was at the snapshot (which stays, for later restores).

    Executions, event deliveries and builds in flight are cancelled first. Functions, variables,
    deployments, builds and executions created since are deleted, changed ones get their former
    values (a function's `scheduleNext` is computed again from now), deleted ones come back. A
    deployment that comes back is built again when its build files were removed. The workers of
    deployments that did not change are left alone, warm.

    Returns:
        What to call once the caller has answered: it stops the workers of the deployments created
        since the snapshot and deletes their files, in the background.

    Raises:
        GeneralArgumentInvalid: no snapshot was taken.
    """
    building = any(task.get_name().startswith("build-") for task in asyncio.all_tasks())
    await ctx.tasks.cancel(keep=lambda name: not name.startswith(_TEST_WORK))
    found = await snapshot.pending(ctx.db, ("functions", "deployments", "builds"))
    if found is None:
        raise GeneralArgumentInvalid(NO_SNAPSHOT)
    functions, deployments, builds = found["functions"], found["deployments"], found["builds"]
    now = ctx.clock()
    schedules = {str(f["id"]): next_run(str(f["schedule"]), now) for f in functions.restored}
    ctx.executions.forget_unwritten()  # sync executions running now: their results go too
    await snapshot.restore(ctx.db, schedules)

    trash = ctx.settings.data_dir / TRASH
    removed = [str(d["id"]) for d in deployments.added]
    removed_builds = [str(b["id"]) for b in builds.added]
    discard(
        [ctx.uploads_dir / d for d in removed]
        + [build_paths(ctx.executor.builds_dir, b).root for b in removed_builds],
        trash,
    )
    revived = [str(d["id"]) for d in deployments.deleted]
    await asyncio.gather(*(_revive(ctx, deployment_id) for deployment_id in revived))
    for fn in functions.restored:
        if fn["deployment"]:  # its workers were retired if the test activated another deployment
            ctx.executor.resume_deployment(str(fn["deployment"]))
            await follow_active(ctx, str(fn["id"]))  # a function run under a debugger
    if building or any(b["status"] not in _BUILT for b in builds.restored):
        await resume_builds(ctx)  # the unfinished builds of the snapshot, cancelled above
    _announce(ctx, functions)
    if functions.added or functions.restored or deployments.added or deployments.restored:
        logger.info(
            "Restore: %s function(s) and %s deployment(s) put back, %s and %s removed",
            len(functions.restored),
            len(deployments.restored),
            len(functions.added),
            len(deployments.added),
        )
    if not (removed or removed_builds):
        return nothing
    return schedule_cleanup(ctx, removed, trash)


def _keep_archives(kept: Path, archives: dict[str, str]) -> None:
    """Hard-link (or copy) each snapshot deployment's archive into `kept`; forget the others."""
    present = set(os.listdir(kept)) if kept.is_dir() else set()
    for deployment_id in present - archives.keys():
        (kept / deployment_id).unlink(missing_ok=True)
    for deployment_id in archives.keys() - present:
        source = Path(archives[deployment_id])
        if not source.is_file():
            continue
        kept.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, kept / deployment_id)
        except OSError:  # a file system without hard links
            shutil.copyfile(source, kept / deployment_id)


async def _revive(ctx: Context, deployment_id: str) -> None:
    """A deployment deleted since the snapshot is back in the tables: put its archive back and,
    when its build was ready but its files are gone, build it again into the same build."""
    deployment = await ctx.deployments.get(deployment_id)
    if deployment is None:
        return
    kept = ctx.settings.data_dir / KEPT / deployment_id
    archive = Path(deployment.path)
    if deployment.path and not archive.is_file() and kept.is_file():
        archive.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(kept, archive)
        except OSError:
            shutil.copyfile(kept, archive)
    build = deployment.build
    if build is None or build.status != "ready":
        return  # resume_builds starts an unfinished build again; a failed one needs no files
    if build_paths(ctx.executor.builds_dir, build.id).code.is_dir():
        ctx.executor.resume_deployment(deployment_id)
        return
    try:
        fn = await get_function(ctx, deployment.function_id)
    except FunctionNotFound:
        return
    try:  # workers started from the removed files, if any are left
        await ctx.executor.stop_deployment(deployment_id)
    except TimeoutError:
        logger.warning("Restore: a worker of deployment %s did not stop in time", deployment_id)
    runtime = ctx.runtimes.get(build.runtime)
    if runtime is None:
        logger.warning("Restore: deployment %s: runtime %s is gone", deployment_id, build.runtime)
        return
    result = await ctx.executor.build(
        build_id=build.id,
        archive=archive,
        runtime=runtime,
        entrypoint=deployment.entrypoint,
        env={v.key: v.value for v in fn.vars},
    )
    if not result.ok:
        logger.warning(
            "Restore: deployment %s could not be built again: %s", deployment_id, result.stderr
        )
    ctx.executor.resume_deployment(deployment_id)


def _announce(ctx: Context, functions: snapshot.TableChanges) -> None:
    """Tell the scheduler and the event dispatcher which functions changed, so that they read
    schedules and subscriptions again. The events (with an empty payload) travel on a chain that
    is stopped already, so no function subscribed to them runs: a restore is not an Appwrite
    operation."""
    chain = Chain(root="emulator.snapshot.restore", stopped=True)
    for action, rows in (
        ("update", functions.changed),
        ("create", functions.deleted),
        ("delete", functions.added),
    ):
        for row in rows:
            ctx.emit(_EVENT + action, {"functionId": str(row["id"])}, {}, chain=chain)
