"""The snapshot and restore behind `POST /v1/emulator/snapshot[/restore]`, without a server: the
tables come back row for row, and the executor is told which deployments went and came back (a
fake executor records it)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from emulator.backend.context import Context, Emitted, VirtualClock
from emulator.backend.reset import reset_project
from emulator.backend.snapshot import restore_snapshot, take_snapshot
from emulator.catalog import CATALOGUE
from emulator.config import Settings
from emulator.errors import GeneralArgumentInvalid
from emulator.executor import BuildResult, LocalRuntime
from emulator.executor.builds import build_paths
from emulator.models import Build, Deployment, Execution, Function, Variable
from emulator.store import snapshot
from emulator.store.db import Database

NOW = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
TABLES = ("functions", "variables", "deployments", "builds", "executions")
PYTHON = LocalRuntime(
    next(r for r in CATALOGUE if r.id == "python-3.9"), "python", "/usr/bin/python3"
)


class FakeExecutor:
    """Records what the backend asks of the executor; a build writes the build's code folder."""

    def __init__(self, builds_dir: Path) -> None:
        self.builds_dir = builds_dir
        self.stopped: list[str] = []
        self.resumed: list[str] = []
        self.built: list[tuple[str, bytes, dict[str, str]]] = []

    async def stop_deployment(self, deployment_id: str) -> None:
        self.stopped.append(deployment_id)

    def resume_deployment(self, deployment_id: str) -> None:
        self.resumed.append(deployment_id)

    async def prestart(self, **kwargs: Any) -> None:
        """No worker to start ahead of the first execution."""

    async def build(
        self,
        *,
        build_id: str,
        archive: Path,
        runtime: LocalRuntime,
        entrypoint: str,
        env: Mapping[str, str],
    ) -> BuildResult:
        self.built.append((build_id, archive.read_bytes(), dict(env)))
        build_paths(self.builds_dir, build_id).code.mkdir(parents=True)
        return BuildResult(True, "", "", 0.0)


async def add_function(ctx: Context, n: int, schedule: str = "") -> None:
    """Function `fn{n}` with a variable, an active built deployment (archive and build folder on
    disk) and an execution."""
    executor: Any = ctx.executor
    fn = Function(f"fn{n}", "Fn", "python-3.9", NOW, NOW, deployment=f"dep{n}", schedule=schedule)
    fn.schedule_next = NOW + timedelta(minutes=1) if schedule else None
    await ctx.functions.insert(fn)
    await ctx.variables.insert(Variable(f"var{n}", f"fn{n}", "KEY", f"value{n}", NOW, NOW))
    build = Build(f"build{n}", f"dep{n}", "python-3.9", "ready", NOW, NOW, NOW)
    await ctx.deployments.insert_build(build)
    archive = ctx.uploads_dir / f"dep{n}" / "code.tar.gz"
    archive.parent.mkdir(parents=True, exist_ok=True)
    archive.write_bytes(f"code of fn{n}".encode())
    deployment = Deployment(f"dep{n}", f"fn{n}", "main.py", 1, True, NOW, NOW, f"build{n}")
    deployment.path = str(archive)
    await ctx.deployments.insert(deployment)
    await ctx.executions.insert(
        Execution(f"exe{n}", f"fn{n}", f"dep{n}", "http", "completed", NOW, NOW)
    )
    build_paths(executor.builds_dir, f"build{n}").code.mkdir(parents=True, exist_ok=True)


@asynccontextmanager
async def project(settings: Settings, functions: int = 2) -> AsyncIterator[Context]:
    db = await Database.open(settings.database_path)
    executor: Any = FakeExecutor(settings.data_dir / "builds")
    clock = VirtualClock(lambda: NOW)
    ctx = Context(settings, db, {"python-3.9": PYTHON}, executor, clock=clock)
    for n in range(functions):
        await add_function(ctx, n)
    try:
        yield ctx
    finally:
        await ctx.tasks.close()
        await db.close()


async def dump(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every project table, in `seq` order."""
    return {
        table: [tuple(row) for row in await db.fetch_all(f"SELECT * FROM {table} ORDER BY seq")]
        for table in TABLES
    }


async def change_everything(ctx: Context) -> None:
    """What a test might do: insert, update and delete in every table, and reuse a deleted ID."""
    await add_function(ctx, 7)
    fn = await ctx.functions.get("fn0")
    assert fn is not None
    fn.name, fn.timeout = "Renamed", 3
    await ctx.functions.save(fn)
    await ctx.functions.save(fn)  # a second change of the same row
    await ctx.functions.delete("fn1")
    await ctx.functions.insert(Function("fn1", "Another", "node-18.0", NOW, NOW))
    await ctx.variables.delete_for_function("fn1")
    await ctx.variables.insert(Variable("var9", "fn0", "NEW", "x", NOW, NOW))
    await ctx.deployments.delete("dep1")
    await ctx.deployments.delete_build("build1")
    await ctx.executions.delete_for_function("fn0")
    await ctx.executions.insert(Execution("exe9", "fn0", "dep0", "http", "waiting", NOW, NOW))


def run(scenario: Any) -> Any:
    return asyncio.run(scenario())


def test_a_restore_brings_every_table_back_row_for_row(settings: Settings) -> None:
    async def scenario() -> None:
        async with project(settings) as ctx:
            before = await dump(ctx.db)
            await snapshot.take(ctx.db)
            await change_everything(ctx)
            assert await dump(ctx.db) != before
            assert await snapshot.pending(ctx.db, TABLES) is not None
            await snapshot.restore(ctx.db)
            assert await dump(ctx.db) == before
            # The snapshot stays: a second round comes back to the same state.
            await change_everything(ctx)
            await snapshot.restore(ctx.db)
            assert await dump(ctx.db) == before

    run(scenario)


def present(
    found: dict[str, snapshot.TableChanges] | None,
) -> dict[str, snapshot.TableChanges]:
    assert found is not None
    return found


def test_pending_names_what_was_added_changed_and_deleted(settings: Settings) -> None:
    async def scenario() -> None:
        async with project(settings, functions=3) as ctx:
            assert await snapshot.pending(ctx.db, TABLES) is None
            await snapshot.take(ctx.db)
            found = present(await snapshot.pending(ctx.db, TABLES))
            assert all(not (c.added or c.changed or c.deleted) for c in found.values())
            await change_everything(ctx)
            changes = present(await snapshot.pending(ctx.db, TABLES))
            functions = changes["functions"]
            assert [f["id"] for f in functions.added] == ["fn7", "fn1"]
            # The snapshot's version of what changed: the name before the test renamed it.
            assert [(f["id"], f["name"]) for f in functions.changed] == [("fn0", "Fn")]
            assert [f["id"] for f in functions.deleted] == ["fn1"]
            assert [d["id"] for d in changes["deployments"].added] == ["dep7"]
            assert [d["id"] for d in changes["deployments"].deleted] == ["dep1"]
            assert [e["id"] for e in changes["executions"].added] == ["exe7", "exe9"]
            assert [e["id"] for e in changes["executions"].deleted] == ["exe0"]
            assert changes["functions"].restored == [*functions.changed, *functions.deleted]

    run(scenario)


def test_a_new_snapshot_forgets_the_old_one(settings: Settings) -> None:
    async def scenario() -> None:
        async with project(settings) as ctx:
            await snapshot.take(ctx.db)
            await add_function(ctx, 5)
            await snapshot.take(ctx.db)
            middle = await dump(ctx.db)
            await ctx.functions.delete("fn5")
            await snapshot.restore(ctx.db)
            assert await dump(ctx.db) == middle

    run(scenario)


def test_the_triggers_live_on_the_connection_not_in_the_file(settings: Settings) -> None:
    async def scenario() -> None:
        async with project(settings) as ctx:
            await snapshot.take(ctx.db)
        reopened = await Database.open(settings.database_path)
        try:
            assert await snapshot.pending(reopened, TABLES) is None
            rows = await reopened.fetch_all("SELECT name FROM sqlite_master WHERE type='trigger'")
            assert rows == []
        finally:
            await reopened.close()

    run(scenario)
    # Another program reading the file sees only the emulator's own schema.
    with sqlite3.connect(settings.database_path) as conn:
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert not any(name.startswith("snapshot") for name in names)


def test_restored_functions_get_the_schedule_next_they_are_given(settings: Settings) -> None:
    async def scenario() -> None:
        async with project(settings, functions=0) as ctx:
            await add_function(ctx, 0, schedule="* * * * *")
            await snapshot.take(ctx.db)
            fn = await ctx.functions.get("fn0")
            assert fn is not None
            fn.schedule = "0 0 * * *"
            await ctx.functions.save(fn)
            later = NOW + timedelta(days=3)
            await snapshot.restore(ctx.db, {"fn0": later})
            restored = await ctx.functions.get("fn0")
            assert restored is not None
            assert (restored.schedule, restored.schedule_next) == ("* * * * *", later)

    run(scenario)


def test_restore_without_a_snapshot_is_refused(settings: Settings) -> None:
    async def scenario() -> None:
        async with project(settings) as ctx:
            with pytest.raises(GeneralArgumentInvalid, match="No snapshot"):
                await restore_snapshot(ctx)

    run(scenario)


def test_what_the_test_created_goes_with_its_workers_and_files(settings: Settings) -> None:
    async def scenario() -> None:
        async with project(settings) as ctx:
            executor: Any = ctx.executor
            await take_snapshot(ctx)
            await add_function(ctx, 7)
            cleanup = await restore_snapshot(ctx)
            assert await ctx.functions.get("fn7") is None
            # The files left at once; the workers stop once the caller has its answer.
            assert not (ctx.uploads_dir / "dep7").exists()
            assert not build_paths(executor.builds_dir, "build7").root.exists()
            assert executor.stopped == []
            await cleanup()
            await ctx.tasks.wait_idle()
            assert executor.stopped == ["dep7"]  # the others keep their warm workers
            assert list((settings.data_dir / "trash").iterdir()) == []
            assert (ctx.uploads_dir / "dep0" / "code.tar.gz").is_file()
            assert build_paths(executor.builds_dir, "build0").code.is_dir()

    run(scenario)


def test_a_deleted_deployment_comes_back_and_is_built_again(settings: Settings) -> None:
    async def scenario() -> None:
        async with project(settings) as ctx:
            executor: Any = ctx.executor
            await take_snapshot(ctx)
            # What deleting the function does: records, archive and build folder gone.
            await ctx.functions.delete("fn1")
            await ctx.variables.delete_for_function("fn1")
            await ctx.deployments.delete("dep1")
            await ctx.deployments.delete_build("build1")
            (ctx.uploads_dir / "dep1" / "code.tar.gz").unlink()
            build_paths(executor.builds_dir, "build1").code.rmdir()
            await (await restore_snapshot(ctx))()
            await ctx.tasks.wait_idle()
            deployment = await ctx.deployments.get("dep1")
            assert deployment is not None and deployment.build is not None
            assert deployment.build.status == "ready"
            assert Path(deployment.path).read_bytes() == b"code of fn1"
            assert executor.built == [("build1", b"code of fn1", {"KEY": "value1"})]
            assert "dep1" in executor.resumed  # its new workers stay warm
            assert "dep0" not in executor.stopped + executor.resumed  # untouched

    run(scenario)


def test_a_full_reset_inside_the_snapshot_is_undone_too(settings: Settings) -> None:
    async def scenario() -> None:
        async with project(settings) as ctx:
            executor: Any = ctx.executor
            before = await dump(ctx.db)
            await take_snapshot(ctx)
            reset_cleanup = await reset_project(ctx)
            await (await restore_snapshot(ctx))()
            await reset_cleanup()  # the reset's clean-up runs late: it leaves them alone
            await ctx.tasks.wait_idle()
            assert await dump(ctx.db) == before
            assert sorted(b for b, _, _ in executor.built) == ["build0", "build1"]
            assert executor.stopped == ["dep0", "dep1"]  # the workers of the removed files
            for n in range(2):
                assert build_paths(executor.builds_dir, f"build{n}").code.is_dir()
                assert (ctx.uploads_dir / f"dep{n}" / "code.tar.gz").is_file()

    run(scenario)


def test_restored_settings_get_their_schedule_computed_from_now(settings: Settings) -> None:
    async def scenario() -> None:
        async with project(settings, functions=0) as ctx:
            await add_function(ctx, 0, schedule="*/5 * * * *")
            await take_snapshot(ctx)
            fn = await ctx.functions.get("fn0")
            assert fn is not None
            fn.schedule, fn.schedule_next = "", None
            await ctx.functions.save(fn)
            ctx.clock.advance_to(NOW + timedelta(hours=2))  # the test moved the clock
            await restore_snapshot(ctx)
            restored = await ctx.functions.get("fn0")
            assert restored is not None and restored.schedule == "*/5 * * * *"
            assert restored.schedule_next == datetime(2024, 1, 2, 5, 5, tzinfo=UTC)

    run(scenario)


def test_a_restore_tells_the_listeners_on_a_stopped_chain(settings: Settings) -> None:
    async def scenario() -> None:
        async with project(settings) as ctx:
            heard: list[Emitted] = []
            ctx.listeners.append(heard.append)
            await take_snapshot(ctx)
            await add_function(ctx, 7)
            await ctx.functions.delete("fn1")
            await restore_snapshot(ctx)
            assert sorted((e.pattern, e.params["functionId"]) for e in heard) == [
                ("functions.[functionId].create", "fn1"),
                ("functions.[functionId].delete", "fn7"),
            ]
            # Nothing subscribed to these events runs: their chain is stopped already.
            assert all(e.chain is not None and e.chain.stopped for e in heard)

    run(scenario)


def test_a_restore_cancels_executions_events_and_builds_in_flight(settings: Settings) -> None:
    names = ("build-d1", "execution-e1", "dispatch-users.[userId].create", "retire-d0", "reset-x")

    async def scenario() -> dict[str, bool]:
        async with project(settings) as ctx:
            await take_snapshot(ctx)
            tasks = {name: ctx.tasks.spawn(asyncio.sleep(3600), name=name) for name in names}
            await restore_snapshot(ctx)
            result = {name: task.cancelled() for name, task in tasks.items()}
            return result

    assert run(scenario) == {
        "build-d1": True,
        "execution-e1": True,
        "dispatch-users.[userId].create": True,
        "retire-d0": False,
        "reset-x": False,
    }


def test_the_snapshot_keeps_only_the_archives_of_its_deployments(settings: Settings) -> None:
    async def scenario() -> None:
        async with project(settings) as ctx:
            kept = settings.data_dir / "snapshot"
            await take_snapshot(ctx)
            assert sorted(p.name for p in kept.iterdir()) == ["dep0", "dep1"]
            await ctx.deployments.delete("dep1")
            await add_function(ctx, 2)
            await take_snapshot(ctx)
            assert sorted(p.name for p in kept.iterdir()) == ["dep0", "dep2"]
            assert (kept / "dep2").read_bytes() == b"code of fn2"

    run(scenario)


def test_a_row_replaced_by_insert_or_replace_comes_back(settings: Settings) -> None:
    async def scenario() -> None:
        async with project(settings) as ctx:
            before = await dump(ctx.db)
            await snapshot.take(ctx.db)
            await ctx.db.write(
                "INSERT OR REPLACE INTO variables (id, function_id, key, value, created_at, "
                "updated_at) VALUES ('var0', 'fn0', 'KEY', 'replaced', 'x', 'x')"
            )
            await snapshot.restore(ctx.db)
            assert await dump(ctx.db) == before

    run(scenario)
