"""Removing what a deployment left behind: its workers, build record and files."""

from __future__ import annotations

import asyncio
import shutil

from emulator.backend.context import Context
from emulator.models import Deployment


async def remove_deployment_files(ctx: Context, deployment: Deployment) -> None:
    """Stop its build (if one runs) and its workers, then delete its records and files; the
    files go in a thread, so a large `node_modules` does not stall every request."""
    building = f"build-{deployment.id}"
    await ctx.tasks.cancel(keep=lambda name: name != building)
    await ctx.executor.stop_deployment(deployment.id)
    if deployment.build_id:
        await ctx.deployments.delete_build(deployment.build_id)
        await asyncio.to_thread(ctx.executor.remove_build, deployment.build_id)
    await asyncio.to_thread(shutil.rmtree, ctx.uploads_dir / deployment.id, True)


async def remove_function_resources(ctx: Context, function_id: str) -> None:
    """What 1.3's delete worker does after a function is deleted, done at once."""
    for deployment in await ctx.deployments.for_function(function_id):
        await ctx.deployments.delete(deployment.id)
        await remove_deployment_files(ctx, deployment)
    await ctx.variables.delete_for_function(function_id)
    await ctx.executions.delete_for_function(function_id)
