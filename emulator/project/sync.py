"""Project mode: appwrite.json applied to the backend at start (function settings and variables),
every function folder deployed, and redeployed whenever the watcher sees it change.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TypeVar

from emulator.backend import functions as functions_backend
from emulator.backend import variables as variables_backend
from emulator.backend.context import Context
from emulator.backend.functions import FunctionSettings
from emulator.errors import AppwriteException, FunctionNotFound
from emulator.models import Function
from emulator.project.config import Project, ProjectFunction, read_project
from emulator.project.deployer import Deployer
from emulator.project.watcher import Watcher

log = logging.getLogger("emulator.dev")
T = TypeVar("T")


async def apply_settings(ctx: Context, spec: ProjectFunction) -> Function:
    """Create or update the function so the file's fields win; set its variables when listed.

    A function whose runtime differs is deleted and created again (1.3 cannot change a runtime).
    """
    try:
        existing: Function | None = await functions_backend.get_function(ctx, spec.id)
    except FunctionNotFound:
        existing = None
    if existing is not None and existing.runtime != spec.runtime:
        log.warning(
            "%s: runtime is %s in appwrite.json but %s in the data dir; function recreated",
            spec.id,
            spec.runtime,
            existing.runtime,
        )
        await functions_backend.delete_function(ctx, spec.id)
        existing = None
    current = (
        FunctionSettings.of(existing) if existing is not None else FunctionSettings(name=spec.id)
    )
    wanted = FunctionSettings(
        name=_pick(spec.name, current.name),
        execute=_pick(_tuple(spec.execute), current.execute),
        events=_pick(_tuple(spec.events), current.events),
        schedule=_pick(spec.schedule, current.schedule),
        timeout=_pick(spec.timeout, current.timeout),
        enabled=_pick(spec.enabled, current.enabled),
    )
    if existing is None:
        fn = await functions_backend.create_function(
            ctx, spec.id, runtime=spec.runtime, settings=wanted
        )
    elif wanted != current:
        fn = await functions_backend.update_function(ctx, spec.id, wanted)
    else:
        fn = existing
    if spec.variables is not None:
        await _set_variables(ctx, spec.id, spec.variables)
    return fn


def _pick(value: T | None, current: T) -> T:
    return current if value is None else value


def _tuple(values: list[str] | None) -> tuple[str, ...] | None:
    return None if values is None else tuple(values)


async def _set_variables(ctx: Context, function_id: str, wanted: dict[str, str]) -> None:
    current = {v.key: v for v in await variables_backend.list_variables(ctx, function_id)}
    for key, old in current.items():
        if key not in wanted:
            await variables_backend.delete_variable(ctx, function_id, old.id)
    for key, value in wanted.items():
        var = current.get(key)
        if var is None:
            await variables_backend.create_variable(ctx, function_id, key=key, value=value)
        elif var.value != value:
            await variables_backend.update_variable(ctx, function_id, var.id, key=key, value=value)


class ProjectSession:
    """What project mode started: the deployer and the watcher; `close()` stops both."""

    def __init__(
        self,
        project: Project,
        deployer: Deployer,
        watcher: Watcher | None,
        deploying: asyncio.Task[None],
    ) -> None:
        self.project = project
        self.deployer = deployer
        self.watcher = watcher
        self._deploying = deploying

    async def wait_deployed(self) -> None:
        """Wait until every function folder's first deployment (and any reload) has finished."""
        await asyncio.wait([self._deploying])
        await self.deployer.wait_idle()

    async def close(self) -> None:
        if self.watcher is not None:
            await self.watcher.close()


async def start_project(ctx: Context) -> ProjectSession:
    """Read appwrite.json, apply it, start deploying every function folder and (when
    `settings.watch`) watching them. Problems are logged; nothing here raises on bad content."""
    settings = ctx.settings
    project = read_project(settings.project_dir, list(ctx.runtimes), settings.functions_timeout)
    for problem in project.problems:
        log.warning("%s", problem)
    deployer = Deployer(ctx, exclude=(settings.data_dir,))
    watched = []
    for spec in project.functions:
        try:
            await apply_settings(ctx, spec)
        except AppwriteException as exc:
            log.warning("%s: not created from appwrite.json: %s", spec.id, exc.message)
            continue
        if spec.deployable:
            assert spec.path is not None
            watched.append(spec)
            ctx.folders[spec.id] = spec.path  # the console's code editor works in it
    deploying = ctx.tasks.spawn(deployer.deploy_all(watched), name="project-deploy")
    watcher = None
    if settings.watch and watched:
        watcher = Watcher(watched, deployer.on_change, exclude=(settings.data_dir,))
        watcher.start()
    if project.exists:
        log.info(
            "Project %s: %d function(s) from appwrite.json%s",
            settings.project_dir,
            len(project.functions),
            ", watching their folders" if watcher else "",
        )
    return ProjectSession(project, deployer, watcher, deploying)
