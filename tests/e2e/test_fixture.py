"""emulator.testing: the emulator served inside the test process, its helpers, and what stopping
it leaves behind (nothing)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from pathlib import Path

import httpx
import pytest

from emulator.testing import (
    AppwriteEmulator,
    AsyncAppwriteEmulator,
    DeploymentFailed,
    EmulatorError,
)
from tests.support import fixture

COUNTER = fixture("python", "counter")
SLEEP = fixture("python", "sleep")
LIST_FILES = """
import os

def main(req, res):
    found = sorted(
        os.path.relpath(os.path.join(folder, name))
        for folder, _, names in os.walk(".") for name in names
        if not name.endswith(".pyc")  # written by the worker's own import
    )
    res.json({"files": found, "greeting": os.environ.get("GREETING", "")})
"""


def descendants(pid: int) -> set[int]:
    """Every live process started by `pid`, children of children included."""
    found: set[int] = set()
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found |= {child} | descendants(child)
    return found


def count(execution: dict[str, object]) -> int:
    assert execution["statusCode"] == 200, execution
    return int(json.loads(str(execution["response"]))["count"])


@pytest.fixture(autouse=True)
def _empty(emu: AppwriteEmulator) -> None:
    emu.reset()


def test_start_serves_the_api_and_stop_leaves_no_process_or_file() -> None:
    before = descendants(os.getpid())
    with AppwriteEmulator() as emulator:
        assert emulator.endpoint.startswith("http://127.0.0.1:") and emulator.endpoint.endswith(
            "/v1"
        )
        assert emulator.functions.list()["total"] == 0  # the official SDK, configured
        emulator.deploy("counter", COUNTER, "main.py")
        assert count(emulator.execute("counter")) == 1
        assert descendants(os.getpid()) - before, "a warm worker runs"
        data_dir, endpoint = emulator.data_dir, emulator.endpoint
        assert data_dir.is_dir()
    assert descendants(os.getpid()) == before
    assert not data_dir.exists()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{endpoint}/health/version")
    with pytest.raises(RuntimeError, match="not running"):
        emulator.endpoint  # noqa: B018 - the property raises


def test_two_emulators_side_by_side(emu: AppwriteEmulator, tmp_path: Path) -> None:
    with AppwriteEmulator(data_dir=tmp_path / "other", project_id="other") as other:
        assert other.endpoint != emu.endpoint and other.api_key != emu.api_key
        assert other.data_dir != emu.data_dir and other.project_id == "other"
        emu.deploy("counter", COUNTER, "main.py")
        other.deploy("counter", COUNTER, "main.py")
        assert [count(emu.execute("counter")) for _ in range(2)] == [1, 2]
        assert count(other.execute("counter")) == 1  # its own workers
        emu.deploy("only-here", COUNTER, "main.py")
        with pytest.raises(EmulatorError) as missing:
            other.execute("only-here")
        assert (missing.value.code, missing.value.type) == (404, "function_not_found")
        other.reset()
        assert emu.functions.list()["total"] == 2  # a reset of one leaves the other alone
    assert (tmp_path / "other" / "emulator.sqlite3").is_file()  # a given data dir is kept


def test_deploy_packs_like_the_cli_and_sets_variables(
    emu: AppwriteEmulator, tmp_path: Path
) -> None:
    folder = tmp_path / "fn"
    for junk in ("node_modules/x", ".git/y", "src/__pycache__/z", "venv/lib/w"):
        (folder / junk).parent.mkdir(parents=True, exist_ok=True)
        (folder / junk).write_text("junk")
    (folder / "venv" / "pyvenv.cfg").write_text("home = /usr\n")
    (folder / "src" / "util.py").write_text("")
    (folder / "main.py").write_text(LIST_FILES)
    deployment = emu.deploy("files", folder, "main.py", variables={"GREETING": "hi"})
    assert deployment["status"] == "ready"
    function = emu.functions.get("files")
    assert function["runtime"] == "python-3.10" and function["deployment"] == deployment["$id"]
    result = json.loads(emu.execute("files")["response"])
    assert result == {"files": ["main.py", "src/util.py"], "greeting": "hi"}
    emu.deploy("files", folder, "main.py", variables={"GREETING": "hello"})  # exists: updated
    assert json.loads(emu.execute("files")["response"])["greeting"] == "hello"


def test_deploy_errors_are_typed(emu: AppwriteEmulator, tmp_path: Path) -> None:
    with pytest.raises(EmulatorError) as missing:
        emu.deploy("absent", COUNTER, "main.py", create=False)
    assert missing.value.type == "function_not_found"
    folder = tmp_path / "unsafe"
    folder.mkdir()
    (folder / "main.py").write_text("def main(req, res):\n    res.send('')\n")
    (folder / "passwords").symlink_to("/etc/passwd")  # the build refuses links leading outside
    with pytest.raises(DeploymentFailed, match="points outside the deployment") as failed:
        emu.deploy("unsafe", folder, "main.py")
    assert failed.value.deployment["status"] == "failed"
    with pytest.raises(ValueError, match="Pass `runtime`"):
        emu.deploy("rusty", folder, "main.rs")


def test_execute_waits_for_async_executions(emu: AppwriteEmulator) -> None:
    emu.deploy("sleep", SLEEP, "main.py")
    execution = emu.execute("sleep", {"seconds": 0.3}, async_=True)
    assert execution["status"] == "completed" and execution["response"] == "slept 0.3"
    queued = emu.execute("sleep", {"seconds": 0.1}, async_=True, wait=False)
    assert queued["status"] == "waiting"
    done = emu.wait_for_execution("sleep", queued["$id"])
    assert done["status"] == "completed" and "sleeping 0.1" in done["stdout"]


def test_events_schedules_and_the_clock(emu: AppwriteEmulator) -> None:
    emu.deploy("counter", COUNTER, "main.py", events=["users.*.create"], schedule="*/5 * * * *")
    fired = emu.fire_event("users.u1.create", {"name": "Ada"})
    assert fired["total"] == 1
    [execution] = fired["executions"]
    assert (execution["trigger"], execution["status"]) == ("event", "completed")
    scheduled = emu.run_schedule("counter")
    assert (scheduled["trigger"], scheduled["status"]) == ("schedule", "completed")
    advanced = emu.advance_clock(600)
    assert len(advanced["executions"]) == 2  # */5 fires twice in ten minutes
    assert {e["status"] for e in advanced["executions"]} == {"completed"}
    assert emu.fire_event("users.u1.delete")["total"] == 0


def test_async_form_keeps_the_loop_free() -> None:
    async def scenario() -> None:
        async with AppwriteEmulator() as emulator:
            assert isinstance(emulator, AsyncAppwriteEmulator)
            await emulator.deploy("sleep", SLEEP, "main.py")
            ticks = 0

            async def tick() -> None:
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.01)
                    ticks += 1

            ticker = asyncio.create_task(tick())
            execution = await emulator.execute("sleep", {"seconds": 0.3}, async_=True)
            ticker.cancel()
            assert execution["status"] == "completed"
            assert ticks >= 10, "the helpers do not block the event loop"
            await emulator.reset()
            assert emulator.functions.list()["total"] == 0  # the blocking SDK works here too

    asyncio.run(scenario())


def write_project(project: Path, main_py: str) -> None:
    (project / "functions" / "counter").mkdir(parents=True)
    (project / "functions" / "counter" / "main.py").write_text(main_py)
    entry = {
        "$id": "counter",
        "name": "Counter",
        "runtime": "python-3.9",
        "path": "functions/counter",
        "entrypoint": "main.py",
        "execute": ["any"],
    }
    (project / "appwrite.json").write_text(
        json.dumps({"projectId": "from-json", "functions": [entry]})
    )


def test_project_dir_is_deployed_before_start_returns(tmp_path: Path) -> None:
    write_project(tmp_path, COUNTER.joinpath("main.py").read_text())
    with AppwriteEmulator(tmp_path) as emulator:
        assert emulator.project_id == "from-json"
        assert count(emulator.execute("counter")) == 1  # no waiting needed


def test_a_project_that_does_not_build_fails_the_start(tmp_path: Path) -> None:
    before = descendants(os.getpid())
    write_project(tmp_path, "def main(req, res):\n    res.send('')\n")
    (tmp_path / "functions" / "counter" / "passwords").symlink_to("/etc/passwd")
    with pytest.raises(DeploymentFailed, match="points outside the deployment"):
        AppwriteEmulator(tmp_path).start()
    assert descendants(os.getpid()) == before


def test_a_failed_start_leaves_nothing_behind(tmp_path: Path) -> None:
    before = descendants(os.getpid())
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            AppwriteEmulator(port=taken.getsockname()[1]).start()
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    emulator = AppwriteEmulator(data_dir=not_a_folder)
    with pytest.raises(RuntimeError, match="did not start: FileExistsError"):
        emulator.start()
    assert descendants(os.getpid()) == before
    with pytest.raises(RuntimeError, match="not running"):
        emulator.reset()
