"""Deploying function folders: pack, upload, build, activate; one build at a time per function,
with saves made meanwhile merged into the next deployment, and one terminal line per outcome.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from emulator.backend import functions as functions_backend
from emulator.backend.context import Context
from emulator.backend.deployments import create_deployment, get_deployment
from emulator.errors import AppwriteException
from emulator.models import Deployment, Function
from emulator.project.config import ProjectFunction
from emulator.project.packing import pack

log = logging.getLogger("emulator.dev")

_LISTENERS_FIRST = 10.0  # seconds the start waits for event subscribers before the others
_MAX_WAIT = 3600.0  # seconds a deploy waits for its build (the executor stops builds sooner)


@dataclass
class Trigger:
    """Why a function is deployed: the start (no changes) or saved files, merged while waiting."""

    changed: set[str] = field(default_factory=set)
    saved_at: float | None = None

    def merge(self, other: Trigger) -> None:
        self.changed |= other.changed
        if other.saved_at is not None:
            self.saved_at = max(self.saved_at or 0.0, other.saved_at)


class Deployer:
    """Deploys function folders, one build at a time per function: saves that arrive during a
    build are merged into one next deployment."""

    def __init__(self, ctx: Context, exclude: Sequence[Path] = ()) -> None:
        self.ctx = ctx
        self.exclude = tuple(exclude)
        self._pending: dict[str, tuple[ProjectFunction, Trigger]] = {}
        self._running: dict[str, asyncio.Task[None]] = {}

    def submit(self, spec: ProjectFunction, trigger: Trigger) -> None:
        queued = self._pending.get(spec.id)
        if queued is not None:
            queued[1].merge(trigger)
            trigger = queued[1]
        self._pending[spec.id] = (spec, trigger)
        if spec.id not in self._running:
            self._running[spec.id] = self.ctx.tasks.spawn(
                self._drain(spec.id), name=f"project-deploy-{spec.id}"
            )

    def on_change(self, spec: ProjectFunction, changed: list[str], saved_at: float) -> None:
        """The watcher's callback."""
        self.submit(spec, Trigger(set(changed), saved_at))

    async def deploy_all(self, specs: Sequence[ProjectFunction]) -> None:
        """Deploy every folder; functions subscribed to events go first, so that the others'
        deployment events find them active."""
        for spec in specs:
            if spec.events:
                self.submit(spec, Trigger())
        if self._running:  # a slow install does not hold the others back for long
            await asyncio.wait(list(self._running.values()), timeout=_LISTENERS_FIRST)
        for spec in specs:
            if not spec.events:
                self.submit(spec, Trigger())

    async def wait_idle(self) -> None:
        """Wait until no deploy runs or waits (a cancelled waiter cancels no deploy)."""
        while self._running:
            await asyncio.wait(list(self._running.values()))

    async def _drain(self, function_id: str) -> None:
        try:
            while (queued := self._pending.pop(function_id, None)) is not None:
                await self.deploy(*queued)
        finally:
            self._running.pop(function_id, None)

    async def deploy(self, spec: ProjectFunction, trigger: Trigger) -> Deployment | None:
        """Pack, upload and build the folder; log one line with the outcome."""
        assert spec.path is not None and spec.entrypoint is not None
        started = time.time()
        what = _describe_changes(spec, trigger.changed, self.ctx.settings.project_dir)
        if not spec.path.is_dir():
            log.warning("%s: %s -> not deployed: the folder %s is gone", spec.id, what, spec.path)
            return None
        try:
            archive = await asyncio.to_thread(pack, spec.path, spec.ignore, exclude=self.exclude)
            fn = await functions_backend.get_function(self.ctx, spec.id)
            previous = await self._active(fn)
            if not trigger.changed and _same_code(previous, spec.entrypoint, archive):
                assert previous is not None
                log.info("%s: up to date (deployment %s)", spec.id, previous.id)
                return previous
            deployment = await create_deployment(
                self.ctx,
                spec.id,
                entrypoint=spec.entrypoint,
                activate=True,
                code=io.BytesIO(archive),
                filename="code.tar.gz",
            )
            deployment = await self._built(spec.id, deployment.id)
        except AppwriteException as exc:
            log.warning("%s: %s -> not deployed: %s", spec.id, what, exc.message)
            return None
        except OSError as exc:
            log.warning(
                "%s: %s -> not deployed: the folder could not be packed: %s", spec.id, what, exc
            )
            return None
        since = trigger.saved_at if trigger.saved_at is not None else started
        line = _describe_result(spec, deployment, previous, time.time() - since)
        if deployment.build is not None and deployment.build.status == "ready":
            log.info("%s: %s -> %s", spec.id, what, line)
        else:
            log.warning("%s: %s -> %s", spec.id, what, line)
        return deployment

    async def _active(self, fn: Function) -> Deployment | None:
        if not fn.deployment:
            return None
        try:
            return await get_deployment(self.ctx, fn.id, fn.deployment)
        except AppwriteException:
            return None

    async def _built(self, function_id: str, deployment_id: str) -> Deployment:
        """The deployment once its build ended and, when ready, the function switched to it."""
        delay, deadline = 0.002, time.monotonic() + _MAX_WAIT
        while True:
            deployment = await get_deployment(self.ctx, function_id, deployment_id)
            build = deployment.build
            if build is not None and build.status == "failed":
                return deployment
            if build is not None and build.status == "ready":
                fn = await functions_backend.get_function(self.ctx, function_id)
                if fn.deployment == deployment_id or not deployment.activate:
                    return deployment
            if time.monotonic() > deadline:
                return deployment
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 0.1)


def _same_code(active: Deployment | None, entrypoint: str, archive: bytes) -> bool:
    if active is None or active.build is None or active.build.status != "ready":
        return False
    try:
        return active.entrypoint == entrypoint and Path(active.path).read_bytes() == archive
    except OSError:
        return False


_MANIFESTS = {
    "node": ("package.json",),
    "python": ("requirements.txt",),
    "php": ("composer.json",),
    "ruby": ("Gemfile",),
    "deno": ("deno.json", "deno.jsonc", "import_map.json"),
}
"""The files whose change reinstalls a function's dependencies (the build caches them by these
and their lock files: package-lock.json, composer.lock, Gemfile.lock, deno.lock)."""
_ERROR_LINES = 30


def _describe_changes(spec: ProjectFunction, changed: set[str], project_dir: Path) -> str:
    if not changed:
        assert spec.path is not None
        try:
            return f"{spec.path.relative_to(project_dir).as_posix() or '.'} deployed"
        except ValueError:
            return f"{spec.path} deployed"
    names = sorted(changed)
    shown = ", ".join(names[:3])
    more = f" and {len(names) - 3} more" if len(names) > 3 else ""
    return f"{shown}{more} changed"


def _describe_result(
    spec: ProjectFunction, deployment: Deployment, previous: Deployment | None, seconds: float
) -> str:
    build = deployment.build
    if build is None or build.status not in ("ready", "failed"):
        return f"build still {build.status if build else 'waiting'} after {_duration(seconds)}"
    if build.status == "failed":
        kept = f"deployment {previous.id} stays active" if previous else "no deployment is active"
        lines = (build.stderr or build.stdout).strip().splitlines()[-_ERROR_LINES:]
        return f"build failed; {kept}:" + "".join(f"\n    {line}" for line in lines)
    deps = ""
    if build.stdout.startswith("Reusing cached dependencies"):
        deps = " (dependencies from cache)"
    elif spec.path is not None and any(
        (spec.path / name).is_file() for name in _MANIFESTS.get(spec.runtime.split("-")[0], ())
    ):
        deps = " (dependencies installed)"
    if not deployment.activate:
        return f"build ready{deps}; not activated (a newer deployment was made meanwhile)"
    return f"build ready{deps}, active in {_duration(seconds)}"


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"
