"""Executions on warm workers: the real adapters in real processes, driven through `Executor`."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import resource
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from emulator.catalog import CATALOGUE
from emulator.executor import TIMEOUT_MESSAGE, ExecutionResult, Executor
from emulator.executor.discovery import LocalRuntime
from emulator.executor.protocol import MAX_REPLY_LINE
from emulator.executor.results import BuildResult, truncate
from tests.unit.executor.worker_client import LANGUAGES as BY_NAME
from tests.unit.executor.worker_client import ROOT, BuiltDeployment, Language, language_params

pytestmark = pytest.mark.anyio

TOOLBOX = "toolbox"
"""The fixture function (one per language) that does on request what these tests need: sleep,
exit, hog memory, spawn a grandchild, echo the environment, write noise, flood, poke fd 3."""


def _runtime(runtime_id: str, interpreter: str) -> LocalRuntime:
    runtime = next(r for r in CATALOGUE if r.id == runtime_id)
    return LocalRuntime(runtime, runtime_id.split("-")[0], interpreter)


def _python_interpreter() -> str:
    found = sorted((Path.home() / ".pyenv" / "versions").glob("3.9.*/bin/python3.9"))
    return str(found[-1]) if found else sys.executable


LANGUAGES = language_params()


class Harness(BuiltDeployment):
    """One executor plus one built "toolbox" deployment of a language."""

    def __init__(self, executor: Executor, language: Language, tmp_path: Path) -> None:
        # The python-3.9 runtime runs on a Python 3.9 when pyenv has one.
        interpreter = _python_interpreter() if language.name == "python" else language.executable()
        assert interpreter is not None
        runtime = _runtime(language.runtime_id, interpreter)
        super().__init__(executor, runtime, language.entrypoint, tmp_path)
        self.language = language
        self.source = (language.fixture(TOOLBOX) / language.entrypoint).read_text()

    @property
    def code_dir(self) -> str:
        return str(self.tmp_path / "builds" / self.build_id / "code")

    async def build(self, files: dict[str, str] | None = None, ok: bool = True) -> BuildResult:
        result = await self.build_files(files or {self.entrypoint: self.source})
        assert result.ok is ok, result
        return result

    async def run(
        self,
        action: str | None = None,
        *,
        timeout: float = 10,
        variables: dict[str, str] | None = None,
        **data: Any,
    ) -> ExecutionResult:
        """Ask the toolbox for `action` with `data`; no action: its token."""
        payload = json.dumps({"action": action, **data}) if action else ""
        return await self.execute(payload, timeout=timeout, variables=variables)


Factory = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Factory]:
    executors: list[Executor] = []

    async def make(language: Language | str, **options: Any) -> Harness:
        executor = Executor(builds_dir=tmp_path / "builds", cache_dir=tmp_path / "cache", **options)
        await executor.start()
        executors.append(executor)
        h = Harness(
            executor, BY_NAME[language] if isinstance(language, str) else language, tmp_path
        )
        await h.build()
        return h

    yield make
    for executor in executors:
        await executor.close()


def _pids_with(marker: str) -> list[int]:
    """Live (non-zombie) processes whose command line contains `marker`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmdline and state != "Z":
            found.append(int(entry))
    return found


async def _until_gone(marker: str, cap: float = 3.0) -> list[int]:
    deadline = time.monotonic() + cap
    while (pids := _pids_with(marker)) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    return pids


def _gone(pids: Iterable[int]) -> bool:
    """Every pid is gone or a zombie that only waits for its (possibly non-emulator) parent."""
    for pid in pids:
        try:
            os.kill(pid, 0)
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (ProcessLookupError, FileNotFoundError):
            continue
        if state != "Z":
            return False
    return True


# -- warm workers ----------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
async def test_the_first_execution_starts_a_worker_and_later_ones_reuse_it(
    harness: Factory, language: Language
) -> None:
    h = await harness(language)
    cold = await h.run()
    assert cold.status_code == 200, cold
    first = json.loads(cold.response)
    assert first["count"] == 1
    assert cold.duration < 2.0
    warm = [await h.token() for _ in range(5)]
    assert [body["count"] for body in warm] == [2, 3, 4, 5, 6]  # module state persists
    assert {body["token"] for body in warm} == {first["token"]}
    assert len(_pids_with(h.code_dir)) >= 1


@pytest.mark.parametrize("language", LANGUAGES)
async def test_executions_run_in_parallel_up_to_the_pool_size_then_queue(
    harness: Factory, language: Language
) -> None:
    h = await harness(language, pool_size=2)
    await asyncio.gather(*(h.run("sleep", seconds=0) for _ in range(2)))  # two warm workers
    began = time.perf_counter()
    results = await asyncio.gather(*(h.run("sleep", seconds=0.4) for _ in range(3)))
    elapsed = time.perf_counter() - began
    assert [r.status_code for r in results] == [200, 200, 200]
    assert elapsed >= 0.8  # two ran side by side, the third waited for a free worker
    # The duration counts from the execution's turn, not from the call: the wait is not in it.
    assert all(r.duration < 0.75 for r in results), [r.duration for r in results]
    assert len({json.loads(r.response)["token"] for r in results}) == 2


@pytest.mark.parametrize("language", LANGUAGES)
async def test_a_timeout_fails_the_execution_and_replaces_the_worker(
    harness: Factory, language: Language
) -> None:
    h = await harness(language)
    before = await h.token()
    result = await h.run("sleep", seconds=5, timeout=1)
    assert (result.status_code, result.response, result.stdout) == (500, "", "")
    assert result.stderr == TIMEOUT_MESSAGE
    # The time actually waited: at least the timeout, less than a second more.
    assert result.duration >= 1.0 and result.duration < 2.0
    after = await h.token()
    assert after["token"] != before["token"] and after["count"] == 1


async def test_time_spent_queued_does_not_count_against_the_timeout(
    harness: Factory,
) -> None:
    h = await harness("python", pool_size=1)
    before = await h.token()
    slow = asyncio.create_task(h.run("sleep", seconds=1.0, timeout=5))
    await asyncio.sleep(0.1)
    queued = await h.run(timeout=0.5)  # waits ~0.9 s for the only worker, then runs at once
    assert queued.status_code == 200 and queued.duration < 0.5, queued
    assert (await slow).status_code == 200
    assert (await h.token())["token"] == before["token"]  # nobody's worker was killed


async def test_a_cancelled_call_frees_its_worker_slot(harness: Factory) -> None:
    h = await harness("python", pool_size=1)
    before = await h.token()
    abandoned = asyncio.create_task(h.run("sleep", seconds=5))
    await asyncio.sleep(0.2)
    abandoned.cancel()
    with pytest.raises(asyncio.CancelledError):
        await abandoned
    after = await h.run(timeout=3)  # would queue behind a leaked slot and time out
    assert after.status_code == 200
    assert json.loads(after.response)["token"] != before["token"]


async def test_a_new_build_of_the_deployment_replaces_its_workers(harness: Factory) -> None:
    h = await harness("python")
    old_code_dir = h.code_dir
    await h.token()
    h.build_id = "rebuilt"
    await h.build({"main.py": "def main(req, res):\n    res.send('new code')\n"})
    assert (await h.run()).response == "new code"
    assert await _until_gone(old_code_dir) == []


async def test_a_cold_start_that_outlasts_the_timeout_is_a_timeout(harness: Factory) -> None:
    h = await harness("python")
    h.build_id = "slow-import"
    await h.build({"main.py": "import time\ntime.sleep(30)\n\ndef main(req, res):\n    pass\n"})
    result = await h.run(timeout=1)
    assert result.stderr == TIMEOUT_MESSAGE and 1.0 <= result.duration < 2.0
    assert await _until_gone(h.code_dir) == []


@pytest.mark.parametrize("language", LANGUAGES)
async def test_a_worker_that_exits_fails_only_its_execution(
    harness: Factory, language: Language
) -> None:
    h = await harness(language)
    before = await h.token()
    crashed = await h.run("exit", code=3)
    assert (crashed.status_code, crashed.response) == (500, "")
    assert crashed.stderr.startswith("Worker exited with code 3.")
    after = await h.token()
    assert after["token"] != before["token"] and after["count"] == 1


@pytest.mark.parametrize("language", LANGUAGES)
async def test_a_memory_hog_fails_its_execution_and_the_next_one_works(
    harness: Factory, language: Language
) -> None:
    h = await harness(language, memory_mb=256)
    hog = await h.run("hog", timeout=20)
    assert hog.status_code == 500 and hog.response == ""
    if language.memory_error is not None:  # the function saw the error; the worker lives on
        assert language.memory_error in hog.stderr
    else:
        limit = language.memory_note_mb or 256
        assert f"it may have run out of memory (the limit is {limit} MB)" in hog.stderr
    assert (await h.token())["count"] >= 1


@pytest.mark.parametrize("language", LANGUAGES)
async def test_a_load_error_fails_every_execution_with_its_text(
    harness: Factory, language: Language
) -> None:
    h = await harness(language)
    h.build_id = "broken"
    source = (language.fixture("syntax_error") / h.entrypoint).read_text()
    if language.build_checks_syntax:
        failed = await h.build({h.entrypoint: source}, ok=False)
        assert language.syntax_error_text in failed.stderr
        return
    await h.build({h.entrypoint: source})
    results = [await h.run() for _ in range(2)]
    assert [r.status_code for r in results] == [500, 500]
    assert language.syntax_error_text in results[0].stderr
    assert results[0].stderr == results[1].stderr
    assert len(_pids_with(h.code_dir)) >= 1  # one worker serves the error, not one per call


# -- environment and logs --------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
async def test_the_environment_is_minimal_plus_variables_refreshed_per_execution(
    harness: Factory, language: Language, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EMULATOR_ONLY_SECRET", "do-not-leak")
    h = await harness(language)
    keys = ["EMULATOR_ONLY_SECRET", "MY_VARIABLE", "PATH", "HOME", "LANG"]
    first = await h.run("env", keys=keys, variables={"MY_VARIABLE": "one"})
    second = await h.run("env", keys=keys, variables={"MY_VARIABLE": "two"})
    one, two = json.loads(first.response), json.loads(second.response)
    assert one["EMULATOR_ONLY_SECRET"] is None
    # Refreshed for every execution, not frozen at the cold start.
    assert (one["MY_VARIABLE"], two["MY_VARIABLE"]) == ("one", "two")
    assert one["PATH"] and one["HOME"] and one["LANG"]


async def test_descriptors_the_emulator_inherited_do_not_reach_workers(harness: Factory) -> None:
    read, write = os.pipe()
    os.set_inheritable(write, True)  # as if passed down by whatever started the emulator
    try:
        h = await harness("python")
        await h.token()
        leaked = os.readlink(f"/proc/self/fd/{write}")
        for pid in _pids_with(h.code_dir):
            targets = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
            assert leaked not in targets
            assert "3" in os.listdir(f"/proc/{pid}/fd")  # the reply pipe is there
    finally:
        os.close(read)
        os.close(write)


@pytest.mark.parametrize("language", LANGUAGES)
async def test_the_workers_own_output_goes_to_the_log_with_the_deployment_id(
    harness: Factory, language: Language, caplog: pytest.LogCaptureFixture
) -> None:
    h = await harness(language)
    with caplog.at_level(logging.INFO, logger="emulator.executor"):
        result = await h.run("noise")
        deadline = time.monotonic() + 2
        while "raw stderr line" not in caplog.text and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
    assert result.status_code == 200
    assert "raw stdout line" not in result.stdout
    assert f"[{h.deployment_id}] raw stdout line" in caplog.text
    assert f"[{h.deployment_id}] raw stderr line" in caplog.text


@pytest.mark.parametrize("language", LANGUAGES)
async def test_outputs_are_cut_to_one_million_bytes(harness: Factory, language: Language) -> None:
    h = await harness(language)
    h.build_id = "big"
    source = (language.fixture("big_output") / h.entrypoint).read_text()
    await h.build({h.entrypoint: source})
    result = await h.run()
    assert result.status_code == 200
    assert result.response == "r" * 1_000_000
    assert 900_000 < len(result.stdout.encode()) <= 1_000_000


@pytest.mark.parametrize("language", LANGUAGES)
async def test_a_flood_of_output_keeps_the_emulator_small(
    harness: Factory, language: Language
) -> None:
    h = await harness(language)
    await h.token()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = await h.run("flood", megabytes=200, timeout=30)
    assert result.status_code == 200, result
    assert result.stdout.startswith("x" * 1023 + "\n")
    assert 999_000 <= len(result.stdout.encode()) <= 1_000_000
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before
    assert grown < 50, f"the emulator grew by {grown:.0f} MB"
    assert json.loads(result.response)["count"] == 2  # same worker


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("action", ["fd3", "cat"])
async def test_user_code_cannot_disturb_the_protocol(
    harness: Factory, language: Language, action: str
) -> None:
    h = await harness(language)
    before = await h.token()
    for _ in range(2):
        result = await h.run(action, timeout=3)
        assert result.status_code == 200, result
    after = await h.token()
    assert after == {"token": before["token"], "count": 4}


@pytest.mark.parametrize(
    ("text", "repeat", "what"),
    [
        ("junk\n", False, "an unreadable reply line (b'junk')"),
        ("x" * 65536, True, f"a reply line longer than {MAX_REPLY_LINE:,} bytes"),
    ],
    ids=["junk", "endless"],
)
async def test_a_corrupt_reply_fails_the_execution_and_replaces_the_worker(
    harness: Factory, text: str, repeat: bool, what: str
) -> None:
    h = await harness("python")
    before = await h.token()
    result = await h.run("poison", text=text, repeat=repeat, timeout=20)
    assert (result.status_code, result.response) == (500, "")
    assert result.stderr.startswith(f"The worker broke the protocol: {what}. It was stopped")
    assert result.duration < 5  # not a timeout
    after = await h.token()
    assert after["token"] != before["token"] and after["count"] == 1


def test_truncation_never_splits_a_character() -> None:
    assert truncate("é" * 600_000) == "é" * 500_000
    assert truncate("€" * 400_000) == "€" * 333_333  # 999,999 bytes: the next one would not fit
    assert truncate("a" + "😀" * 300_000).encode() == ("a" + "😀" * 249_999).encode()
    assert truncate("short") == "short"


# -- lifecycle ---------------------------------------------------------------------------------------


async def test_idle_workers_are_stopped_and_the_next_call_cold_starts(harness: Factory) -> None:
    h = await harness("python", idle_timeout=0.3)
    before = await h.token()
    assert _pids_with(h.code_dir)
    assert await _until_gone(h.code_dir) == []
    after = await h.token()
    assert after["token"] != before["token"]


async def test_stop_deployment_stops_its_idle_workers(harness: Factory) -> None:
    h = await harness("python")
    before = await h.token()
    await h.executor.stop_deployment(h.deployment_id)
    assert await _until_gone(h.code_dir) == []
    assert (await h.token())["token"] != before["token"]


@pytest.mark.parametrize("language", LANGUAGES)
async def test_close_leaves_no_process_behind_not_even_grandchildren(
    harness: Factory, language: Language
) -> None:
    if not language.can_spawn:
        pytest.skip(f"{language.name} functions cannot start processes (as in 1.3)")
    h = await harness(language, pool_size=2)
    marker = f"{int.from_bytes(os.urandom(2), 'big') + 1000}.{os.getpid()}"
    spawned = await asyncio.gather(h.run("spawn", marker=marker), h.run("sleep", seconds=0.2))
    assert [r.status_code for r in spawned] == [200, 200]
    workers = _pids_with(h.code_dir)
    assert len(workers) >= 2 and _pids_with(marker)  # the detached grandchild runs
    await h.executor.close()
    assert _gone(workers)
    assert await _until_gone(marker) == []


async def test_close_fails_running_executions_cleanly(harness: Factory) -> None:
    h = await harness("python")
    await h.token()
    running = asyncio.create_task(h.run("sleep", seconds=5))
    await asyncio.sleep(0.2)
    await h.executor.close()
    result = await running
    assert (result.status_code, result.stderr) == (500, "Worker was stopped by the emulator.")
    after_close = await h.run()
    assert (after_close.status_code, after_close.stderr) == (500, "The executor is shut down.")


async def test_a_crashing_worker_takes_its_grandchildren_along(harness: Factory) -> None:
    h = await harness("python")
    marker = f"{int.from_bytes(os.urandom(2), 'big') + 1000}.{os.getpid()}"
    assert (await h.run("spawn", marker=marker)).status_code == 200
    assert _pids_with(marker)
    assert (await h.run("exit")).status_code == 500
    assert await _until_gone(marker) == []


EMULATOR_SCRIPT = """
import asyncio, sys
from pathlib import Path
sys.path.insert(0, {root!r})
from emulator.executor import Executor
from emulator.catalog import CATALOGUE
from emulator.executor.discovery import LocalRuntime

async def main():
    tmp = Path({tmp!r})
    runtime = LocalRuntime(next(r for r in CATALOGUE if r.id == "python-3.9"), "python", {python!r})
    executor = Executor(builds_dir=tmp / "builds", cache_dir=tmp / "cache")
    await executor.start()
    built = await executor.build(build_id="b1", archive=tmp / "toolbox.tar.gz", runtime=runtime,
                                 entrypoint="main.py", env={{}})
    assert built.ok, built
    result = await executor.execute(deployment_id="d1", build_id="b1", runtime=runtime,
        entrypoint="main.py", payload='{{"action": "spawn", "marker": "{marker}"}}',
        variables={{}}, timeout=10)
    print(result.status_code, flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


async def test_nothing_survives_a_sigkilled_emulator(tmp_path: Path) -> None:
    marker = f"{int.from_bytes(os.urandom(2), 'big') + 1000}.{os.getpid()}"
    with tarfile.open(tmp_path / "toolbox.tar.gz", "w:gz") as tar:
        data = (BY_NAME["python"].fixture(TOOLBOX) / "main.py").read_bytes()
        info = tarfile.TarInfo("main.py")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    script = EMULATOR_SCRIPT.format(
        root=str(ROOT), tmp=str(tmp_path), python=_python_interpreter(), marker=marker
    )
    emulator = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert emulator.stdout is not None
        line = await asyncio.to_thread(emulator.stdout.readline)
        assert line.strip() == b"200", emulator.stderr.read() if emulator.stderr else b""
        code_dir = str(tmp_path / "builds" / "b1" / "code")
        assert _pids_with(code_dir) and _pids_with(marker)
        emulator.send_signal(signal.SIGKILL)
        emulator.wait()
        assert await _until_gone(code_dir) == []
        assert await _until_gone(marker) == []
    finally:
        emulator.kill()
        emulator.communicate()
