"""The emulator's reset (not part of Appwrite): back to an empty project without a restart, or
clear only the executions. Work in flight is cancelled first, so nothing old writes afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

from emulator.backend.context import Context
from emulator.ids import unique_id
from emulator.store.reset import clear_executions, clear_project, existing_deployments

logger = logging.getLogger("emulator.reset")

TRASH = "trash"
"""Folder of the data dir where removed files wait for their deletion in the background."""
_EXECUTION_WORK = ("execution-", "dispatch-")
"""Background tasks that create or run executions (by task name)."""
_CLEANUP_WORK = ("reset-", "retire-")
"""Background tasks that stop workers or delete files: a later reset lets them finish."""


Cleanup = Callable[[], Awaitable[None]]
CLEANUP_DELAY = 0.05
"""Seconds between the answer to a full reset and the start of its background clean-up."""


async def reset_project(ctx: Context, *, keep_functions: bool = False) -> Cleanup:
    """Delete every execution, and unless `keep_functions` every function with its variables,
    deployments, builds, warm workers and files.

    Executions and event deliveries in flight are cancelled (their workers stop); with
    `keep_functions`, builds go on, since the deployments they build are kept.

    Returns:
        What to call once the caller has answered: it starts stopping the deleted deployments'
        workers and deleting their files in the background (killing processes costs CPU time
        that would otherwise delay the answer). Deployment IDs are never reused and their
        records are gone, so no execution can reach those workers meanwhile.
    """
    ctx.executions.forget_unwritten()  # sync executions running now: their results go too
    if keep_functions:
        await ctx.tasks.cancel(keep=lambda name: not name.startswith(_EXECUTION_WORK))
        count = await clear_executions(ctx.db)
        logger.info("Reset: %s execution(s) deleted", count)
        return nothing
    await ctx.tasks.cancel(keep=lambda name: name.startswith(_CLEANUP_WORK))
    deployment_ids = await clear_project(ctx.db)
    trash = ctx.settings.data_dir / TRASH
    discard([ctx.uploads_dir, ctx.executor.builds_dir], trash)
    logger.info("Reset: the project is empty (%s deployment(s) removed)", len(deployment_ids))
    return schedule_cleanup(ctx, deployment_ids, trash)


def schedule_cleanup(ctx: Context, deployment_ids: list[str], trash: Path) -> Cleanup:
    """The clean-up to run once answered: stop the workers of `deployment_ids` (those that still
    have no record by then) and empty the trash, in the background."""

    async def cleanup() -> None:
        ctx.tasks.spawn(_clean_up(ctx, deployment_ids, trash), name="reset-cleanup")

    return cleanup


async def nothing() -> None:
    pass


async def _clean_up(ctx: Context, deployment_ids: list[str], trash: Path) -> None:
    # A short pause first: the client that asked for the reset (often in this very process,
    # under the same GIL) gets its answer and goes on before the kills and deletes start.
    await asyncio.sleep(CLEANUP_DELAY)
    await asyncio.gather(_stop_workers(ctx, deployment_ids), asyncio.to_thread(_empty, trash))


async def _stop_workers(ctx: Context, deployment_ids: list[str]) -> None:
    # A snapshot restore may have brought some back meanwhile: it handles their workers itself.
    back = await existing_deployments(ctx.db, deployment_ids)
    stops = (ctx.executor.stop_deployment(d) for d in deployment_ids if d not in back)
    for outcome in await asyncio.gather(*stops, return_exceptions=True):
        if isinstance(outcome, BaseException):
            logger.warning("Reset: a worker did not stop in time: %r", outcome)


def discard(folders: list[Path], trash: Path) -> None:
    """Move `folders` into the trash at once (a rename); the files are deleted later."""
    target = trash / unique_id()
    for folder in folders:
        if folder.exists():
            target.mkdir(parents=True, exist_ok=True)
            folder.rename(target / folder.name)


def _empty(trash: Path) -> None:
    for entry in list(trash.iterdir()) if trash.is_dir() else []:
        shutil.rmtree(entry, ignore_errors=True)
