"""The reset behind `POST /v1/emulator/reset`, without a server: tables, background work, files,
and which workers are stopped (a fake executor records it)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from emulator.backend.context import Context
from emulator.backend.reset import TRASH, reset_project
from emulator.config import Settings
from emulator.models import Build, Deployment, Execution, Function, Variable
from emulator.store.db import Database
from emulator.store.reset import clear_executions, clear_project

NOW = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


class FakeExecutor:
    """Records which deployments' workers were stopped."""

    def __init__(self, builds_dir: Path) -> None:
        self.builds_dir = builds_dir
        self.stopped: list[str] = []

    async def stop_deployment(self, deployment_id: str) -> None:
        self.stopped.append(deployment_id)


@asynccontextmanager
async def project(settings: Settings, functions: int = 2) -> AsyncIterator[Context]:
    """A context whose store holds `functions` functions, each with a variable, a built
    deployment (and its files) and an execution."""
    db = await Database.open(settings.database_path)
    executor: Any = FakeExecutor(settings.data_dir / "builds")
    ctx = Context(settings=settings, db=db, runtimes={}, executor=executor)
    for n in range(functions):
        await ctx.functions.insert(Function(f"fn{n}", "Fn", "python-3.9", NOW, NOW))
        await ctx.variables.insert(Variable(f"var{n}", f"fn{n}", "KEY", "value", NOW, NOW))
        build = Build(f"build{n}", f"dep{n}", "python-3.9", "ready", NOW, NOW, NOW)
        await ctx.deployments.insert_build(build)
        deployment = Deployment(f"dep{n}", f"fn{n}", "main.py", 1, True, NOW, NOW, f"build{n}")
        await ctx.deployments.insert(deployment)
        await ctx.executions.insert(
            Execution(f"exe{n}", f"fn{n}", f"dep{n}", "http", "completed", NOW, NOW)
        )
        (ctx.uploads_dir / f"dep{n}").mkdir(parents=True)
        (ctx.uploads_dir / f"dep{n}" / "code.tar.gz").write_bytes(b"x")
        (executor.builds_dir / f"build{n}" / "code").mkdir(parents=True)
    try:
        yield ctx
    finally:
        await ctx.tasks.close()
        await db.close()


async def counts(db: Database) -> dict[str, int]:
    tables = ("functions", "variables", "deployments", "builds", "executions")
    result = {}
    for table in tables:
        row = await db.fetch_one(f"SELECT COUNT(*) FROM {table}")
        result[table] = int(row[0]) if row else -1
    return result


def test_clear_project_empties_every_table_and_names_the_deployments(settings: Settings) -> None:
    async def scenario() -> None:
        async with project(settings, functions=3) as ctx:
            assert set(await clear_project(ctx.db)) == {"dep0", "dep1", "dep2"}
            assert set((await counts(ctx.db)).values()) == {0}
            assert await clear_project(ctx.db) == []  # an empty project stays empty

    asyncio.run(scenario())


def test_clear_executions_keeps_everything_else(settings: Settings) -> None:
    async def scenario() -> None:
        async with project(settings, functions=3) as ctx:
            assert await clear_executions(ctx.db) == 3
            assert await counts(ctx.db) == {
                "functions": 3,
                "variables": 3,
                "deployments": 3,
                "builds": 3,
                "executions": 0,
            }

    asyncio.run(scenario())


def test_full_reset_stops_workers_and_removes_files_once_answered(settings: Settings) -> None:
    async def scenario() -> None:
        async with project(settings) as ctx:
            executor: Any = ctx.executor
            cleanup = await reset_project(ctx)
            assert set((await counts(ctx.db)).values()) == {0}
            # The files left their folders at once; the workers stop only after the answer.
            assert not ctx.uploads_dir.exists() and not executor.builds_dir.exists()
            assert executor.stopped == []
            await cleanup()
            await ctx.tasks.wait_idle()
            assert sorted(executor.stopped) == ["dep0", "dep1"]
            assert list((settings.data_dir / TRASH).iterdir()) == []

    asyncio.run(scenario())


def background(ctx: Context, *names: str) -> dict[str, asyncio.Task[Any]]:
    """Tasks that run until cancelled, as the backend names them."""
    return {name: ctx.tasks.spawn(asyncio.sleep(3600), name=name) for name in names}


NAMES = ("build-d1", "execution-e1", "dispatch-users.[userId].create", "retire-d0", "reset-workers")


def run_reset(settings: Settings, keep_functions: bool) -> dict[str, bool]:
    """Which of the NAMES tasks a reset cancels."""

    async def scenario() -> dict[str, bool]:
        async with project(settings) as ctx:
            tasks = background(ctx, *NAMES)
            cleanup: Callable[[], Awaitable[None]] = await reset_project(
                ctx, keep_functions=keep_functions
            )
            await cleanup()
            return {name: task.cancelled() for name, task in tasks.items()}

    return asyncio.run(scenario())


def test_keep_functions_cancels_executions_in_flight_but_not_builds(settings: Settings) -> None:
    assert run_reset(settings, keep_functions=True) == {
        "build-d1": False,
        "execution-e1": True,
        "dispatch-users.[userId].create": True,
        "retire-d0": False,
        "reset-workers": False,
    }


def test_full_reset_cancels_all_work_but_the_cleanup(settings: Settings) -> None:
    assert run_reset(settings, keep_functions=False) == {
        "build-d1": True,
        "execution-e1": True,
        "dispatch-users.[userId].create": True,
        "retire-d0": False,
        "reset-workers": False,
    }


def test_keep_functions_leaves_files_and_workers_alone(settings: Settings) -> None:
    async def scenario() -> None:
        async with project(settings) as ctx:
            executor: Any = ctx.executor
            await (await reset_project(ctx, keep_functions=True))()
            await ctx.tasks.wait_idle()
            assert executor.stopped == []
            assert (ctx.uploads_dir / "dep0" / "code.tar.gz").is_file()
            assert (executor.builds_dir / "build1" / "code").is_dir()

    asyncio.run(scenario())
