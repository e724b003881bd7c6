"""Removing what a deployment left behind: its workers, build record and files."""

from __future__ import annotations

import shutil

from emulator.backend.context import Context
from emulator.models import Deployment


async def remove_deployment_files(ctx: Context, deployment: Deployment) -> None:
    await ctx.executor.stop_deployment(deployment.id)
    if deployment.build_id:
        await ctx.deployments.delete_build(deployment.build_id)
        ctx.executor.remove_build(deployment.build_id)
    shutil.rmtree(ctx.uploads_dir / deployment.id, ignore_errors=True)


async def remove_function_resources(ctx: Context, function_id: str) -> None:
    """What 1.3's delete worker does after a function is deleted, done at once."""
    for deployment in await ctx.deployments.for_function(function_id):
        await ctx.deployments.delete(deployment.id)
        await remove_deployment_files(ctx, deployment)
    await ctx.variables.delete_for_function(function_id)
    await ctx.executions.delete_for_function(function_id)
