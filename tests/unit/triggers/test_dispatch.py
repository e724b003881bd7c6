"""The dispatcher on a real store with a fake executor: payload encoding, loop limits, fan-out."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from emulator.backend.context import Chain, Context, Emitted
from emulator.backend.deployments import create_deployment
from emulator.backend.functions import FunctionSettings, create_function
from emulator.config import Settings
from emulator.executor.discovery import LocalRuntime
from emulator.executor.results import BuildResult, ExecutionResult
from emulator.models import Runtime
from emulator.phpjson import php_json
from emulator.store.db import Database
from emulator.triggers.dispatch import MAX_CHAIN_EXECUTIONS, MAX_DEPTH, Dispatcher

PYTHON = LocalRuntime(
    runtime=Runtime("python-3.9", "Python", "3.9", "", "", "", ()),
    language="python",
    interpreter="python3",
)


class FakeExecutor:
    """Builds succeed at once; an execution answers with the event it was started by."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.running = 0  # executions in progress (none: each answers at once)

    async def build(self, **kwargs: Any) -> BuildResult:
        return BuildResult(True, "", "", 0.0)

    async def prestart(self, **kwargs: Any) -> None:
        """No worker to start ahead of the first execution."""

    def resume_deployment(self, deployment_id: str) -> None:
        """No workers to keep warm."""

    async def execute(self, **kwargs: Any) -> ExecutionResult:
        self.calls.append(kwargs)
        event = kwargs["variables"].get("APPWRITE_FUNCTION_EVENT", "")
        return ExecutionResult(200, event, "", "", 0.001)


def run(settings: Settings, scenario: Callable[[Context], Awaitable[None]]) -> None:
    async def main() -> None:
        db = await Database.open(settings.database_path)
        ctx = Context(settings, db, {"python-3.9": PYTHON}, FakeExecutor())  # type: ignore[arg-type]
        try:
            await scenario(ctx)
        finally:
            await ctx.tasks.close()
            await db.close()

    asyncio.run(main())


async def add_function(ctx: Context, function_id: str, events: list[str], **kw: Any) -> None:
    """A function with a built, active deployment."""
    enabled = kw.pop("enabled", True)
    settings = FunctionSettings(name=function_id, events=tuple(events), enabled=enabled)
    await create_function(ctx, function_id, runtime="python-3.9", settings=settings)
    code = io.BytesIO(b"not really an archive")
    await create_deployment(
        ctx, function_id, entrypoint="main.py", activate=True, code=code, filename="code.tar.gz"
    )
    await ctx.tasks.wait_idle()


@pytest.mark.parametrize(
    ("payload", "encoded"),
    [
        ({}, "[]"),
        ([], "[]"),
        ({"a": {}, "b": [{}]}, '{"a":[],"b":[[]]}'),
        ({"url": "http://x/y"}, '{"url":"http:\\/\\/x\\/y"}'),
        ({"name": "Zoë 😀"}, '{"name":"Zo\\u00eb \\ud83d\\ude00"}'),
        ({"n": 1, "f": 0.5, "t": True, "z": None}, '{"n":1,"f":0.5,"t":true,"z":null}'),
    ],
)
def test_event_data_is_encoded_as_php_json_encode_does(payload: Any, encoded: str) -> None:
    assert php_json(payload) == encoded


def test_subscribers_run_in_name_order_disabled_ones_included(settings: Settings) -> None:
    async def scenario(ctx: Context) -> None:
        await add_function(ctx, "zeta", ["users.*.create"])
        await add_function(ctx, "alpha", ["users.U.create"], enabled=False)
        await add_function(ctx, "other", ["users.*.delete"])
        started = await Dispatcher(ctx).inject("users.U.create", {"$id": "U"})
        assert [e.function_id for e in started] == ["alpha", "zeta"]
        assert all(e.status == "waiting" and e.trigger == "event" for e in started)
        await ctx.tasks.wait_idle()
        finished = [await ctx.executions.get(e.id) for e in started]
        assert [e.response for e in finished if e] == ["users.U.create", "users.U.create"]

    run(settings, scenario)


def test_a_chain_stops_at_the_depth_limit(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario(ctx: Context) -> None:
        await add_function(ctx, "sub", ["users.*.create"])
        dispatcher = Dispatcher(ctx)
        chain = Chain(root="users.U.create")
        deep = Emitted("users.[userId].create", {"userId": "U"}, {}, MAX_DEPTH - 1, chain)
        assert len(await dispatcher.dispatch(deep)) == 1
        deeper = Emitted("users.[userId].create", {"userId": "U"}, {}, MAX_DEPTH, chain)
        assert await dispatcher.dispatch(deeper) == []
        assert chain.stopped
        # Once stopped, nothing of this chain runs any more, whatever the depth.
        shallow = Emitted("users.[userId].create", {"userId": "U"}, {}, 1, chain)
        assert await dispatcher.dispatch(shallow) == []

    caplog.set_level(logging.WARNING, logger="emulator.events")
    run(settings, scenario)
    stops = [r.getMessage() for r in caplog.records if "Event loop stopped" in r.getMessage()]
    assert len(stops) == 1
    assert f"depth {MAX_DEPTH + 1}" in stops[0] and "users.U.create" in stops[0]


def test_a_chain_stops_after_its_execution_budget(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario(ctx: Context) -> None:
        for index in range(12):
            await add_function(ctx, f"fn{index:02d}", ["users.*.create"])
        dispatcher = Dispatcher(ctx)
        chain = Chain(root="users.U.create", executions=MAX_CHAIN_EXECUTIONS - 5)
        event = Emitted("users.[userId].create", {"userId": "U"}, {}, 1, chain)
        started = await dispatcher.dispatch(event)
        assert [e.function_id for e in started] == [f"fn{i:02d}" for i in range(5)]
        assert chain.executions == MAX_CHAIN_EXECUTIONS and chain.stopped
        # A new root event is a new chain.
        assert len(await dispatcher.inject("users.U.create", {})) == 12

    caplog.set_level(logging.WARNING, logger="emulator.events")
    run(settings, scenario)
    assert len([r for r in caplog.records if "Event loop stopped" in r.getMessage()]) == 1


def test_execution_updates_carry_the_chain_on(settings: Settings) -> None:
    seen: list[Emitted] = []

    async def scenario(ctx: Context) -> None:
        await add_function(ctx, "sub", ["users.*.create"])
        ctx.listeners.append(seen.append)
        chain = Chain(root="users.U.create")
        event = Emitted("users.[userId].create", {"userId": "U"}, {}, 3, chain)
        [started] = await Dispatcher(ctx).dispatch(event)
        await ctx.tasks.wait_idle()
        updates = [e for e in seen if e.pattern.endswith("executions.[executionId].update")]
        assert [(e.params["executionId"], e.depth, e.chain) for e in updates] == [
            (started.id, 4, chain)
        ]
        assert updates[0].payload["status"] == "completed"

    run(settings, scenario)
