"""The watcher on real folders (watchfiles): bursts, ignored files, and the polling fallback."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from emulator.project.config import ProjectFunction
from emulator.project.watcher import Watcher

pytestmark = pytest.mark.anyio

Seen = list[tuple[str, list[str], float]]


def function(tmp_path: Path, fid: str, **fields: Any) -> ProjectFunction:
    folder = tmp_path / fid
    (folder / "src").mkdir(parents=True, exist_ok=True)
    (folder / "src" / "main.py").write_text("v = 1\n")
    return ProjectFunction(fid, fid, "python-3.9", folder, "src/main.py", **fields)


async def watching(functions: list[ProjectFunction], seen: Seen, **options: Any) -> Watcher:
    def on_change(fn: ProjectFunction, changed: list[str], saved_at: float) -> None:
        seen.append((fn.id, changed, saved_at))

    watcher = Watcher(functions, on_change, **{"step_ms": 10, "idle_ms": 20, **options})
    watcher.start()
    await asyncio.wait_for(watcher.ready.wait(), 5)
    return watcher


async def settle(seen: Seen, count: int, quiet: float = 0.3, cap: float = 5.0) -> Seen:
    """Wait for `count` reports, then a quiet spell in which no more may arrive."""
    deadline = time.monotonic() + cap
    while len(seen) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    await asyncio.sleep(quiet)
    return seen


async def test_a_save_is_reported_once_with_its_function_and_time(tmp_path: Path) -> None:
    a, b = function(tmp_path, "a"), function(tmp_path, "b")
    seen: Seen = []
    watcher = await watching([a, b], seen)
    try:
        before = time.time()
        (tmp_path / "b" / "src" / "main.py").write_text("v = 2\n")
        await settle(seen, 1)
    finally:
        await watcher.close()
    assert [(fid, changed) for fid, changed, _ in seen] == [("b", ["src/main.py"])]
    assert before - 0.05 <= seen[0][2] <= time.time()


async def test_a_burst_of_saves_is_one_report(tmp_path: Path) -> None:
    fn = function(tmp_path, "a")
    seen: Seen = []
    watcher = await watching([fn], seen, step_ms=50)
    try:
        for i in range(5):  # "save all" in an editor: several files within a few ms
            (tmp_path / "a" / "src" / f"module{i}.py").write_text(f"x = {i}\n")
            await asyncio.sleep(0.005)
        await settle(seen, 1)
    finally:
        await watcher.close()
    assert len(seen) == 1
    assert seen[0][1] == [f"src/module{i}.py" for i in range(5)]


async def test_editor_temp_files_dependencies_and_ignored_files_do_not_count(
    tmp_path: Path,
) -> None:
    fn = function(tmp_path, "a", ignore=("*.log",))
    folder = tmp_path / "a"
    (folder / "node_modules" / "dep").mkdir(parents=True)
    (folder / ".venv").mkdir()
    (folder / ".venv" / "pyvenv.cfg").write_text("home = /usr\n")
    seen: Seen = []
    watcher = await watching([fn], seen)
    try:
        for name in ("src/.main.py.swp", "src/main.py~", "src/4913", "src/.#main.py", "debug.log"):
            (folder / name).write_text("x")
        (folder / "node_modules" / "dep" / "index.js").write_text("x")
        (folder / ".venv" / "site.py").write_text("x")
        (folder / "src" / "__pycache__").mkdir()
        (folder / "src" / "__pycache__" / "main.cpython-311.pyc").write_text("x")
        (tmp_path / "outside.py").write_text("x")
        await settle(seen, 0, quiet=0.4)
        assert seen == []
        (folder / "requirements.txt").write_text("requests\n")
        await settle(seen, 1)
    finally:
        await watcher.close()
    assert [changed for _, changed, _ in seen] == [["requirements.txt"]]


async def test_close_stops_promptly(tmp_path: Path) -> None:
    watcher = await watching([function(tmp_path, "a")], [])
    started = time.monotonic()
    await watcher.close()
    assert time.monotonic() - started < 1


def fake_awatch(batches: list[set[tuple[int, str]]]) -> tuple[Callable[..., Any], list[Any]]:
    """An awatch whose OS watching fails with the watch limit; polling then yields `batches`."""
    calls: list[Any] = []

    async def awatch(*paths: Path, **options: Any) -> AsyncIterator[set[tuple[int, str]]]:
        calls.append(options.get("force_polling"))
        if not options.get("force_polling"):
            raise OSError("OS file watch limit reached. about [...] (MaxFilesWatch)")
        yield set()
        for batch in batches:
            yield batch
        await options["stop_event"].wait()  # keeps polling until closed

    return awatch, calls


async def test_falls_back_to_polling_once_with_one_message(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fn = function(tmp_path, "a")
    main = str(tmp_path / "a" / "src" / "main.py")
    awatch, calls = fake_awatch([{(2, main)}, {(2, main)}])
    seen: Seen = []
    with caplog.at_level(logging.INFO, logger="emulator.dev"):
        watcher = await watching([fn], seen, awatch=awatch)
        await settle(seen, 2, quiet=0.05)
        await watcher.close()
    assert calls == [None, True]
    assert [changed for _, changed, _ in seen] == [["src/main.py"], ["src/main.py"]]
    messages = [r.getMessage() for r in caplog.records if r.name == "emulator.dev"]
    assert len(messages) == 1
    assert "OS file watch limit reached" in messages[0] and "polls every 100 ms" in messages[0]
