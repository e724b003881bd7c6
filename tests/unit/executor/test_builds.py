"""Executor builds with real pip and npm: dependencies installed per build, cached by manifest hash."""

from __future__ import annotations

import importlib.util
import io
import json
import logging
import os
import shutil
import sys
import tarfile
import time
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from emulator.catalog import CATALOGUE
from emulator.executor import Executor
from emulator.executor.discovery import LocalRuntime

pytestmark = pytest.mark.anyio

NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None or shutil.which("npm") is None, reason="no node/npm")


def _runtime(runtime_id: str, interpreter: str) -> LocalRuntime:
    runtime = next(r for r in CATALOGUE if r.id == runtime_id)
    return LocalRuntime(runtime, runtime_id.split("-")[0], interpreter)


def _python() -> LocalRuntime:
    """A pyenv Python 3.9 when there is one (not the emulator's own), else this interpreter."""
    found = sorted((Path.home() / ".pyenv" / "versions").glob("3.9.*/bin/python3.9"))
    return _runtime("python-3.9", str(found[-1]) if found else sys.executable)


def _pack(path: Path, files: dict[str, bytes | str]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755 if name.endswith(".sh") else 0o644
            tar.addfile(info, io.BytesIO(data))
    return path


def _wheel() -> bytes:
    """A pure-Python wheel `localdep 1.0` (so pip installs it offline, without building)."""
    files = {
        "localdep/__init__.py": "VALUE = 42\n",
        "localdep-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: localdep\nVersion: 1.0\n",
        "localdep-1.0.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = "".join(f"{name},,\n" for name in files) + "localdep-1.0.dist-info/RECORD,,\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as wheel:
        for name, text in {**files, "localdep-1.0.dist-info/RECORD": record}.items():
            wheel.writestr(name, text)
    return buffer.getvalue()


REQUIREMENTS = "--no-index\n./wheels/localdep-1.0-py3-none-any.whl\n"
USES_LOCALDEP = "import localdep\n\ndef main(req, res):\n    res.send(str(localdep.VALUE))\n"


@pytest.fixture
async def executor(tmp_path: Path) -> AsyncIterator[Executor]:
    executor = Executor(builds_dir=tmp_path / "builds", cache_dir=tmp_path / "cache")
    await executor.start()
    try:
        yield executor
    finally:
        await executor.close()


async def _run(executor: Executor, build_id: str, runtime: LocalRuntime, entrypoint: str) -> str:
    result = await executor.execute(
        deployment_id=f"d-{build_id}",
        build_id=build_id,
        runtime=runtime,
        entrypoint=entrypoint,
        payload="",
        variables={},
        timeout=10,
    )
    assert result.status_code == 200, result
    return result.response


async def test_python_requirements_install_into_the_build_and_are_cached(
    executor: Executor, tmp_path: Path
) -> None:
    runtime = _python()
    first = _pack(
        tmp_path / "one.tar.gz",
        {
            "main.py": USES_LOCALDEP,
            "requirements.txt": REQUIREMENTS,
            "wheels/localdep-1.0-py3-none-any.whl": _wheel(),
        },
    )
    built = await executor.build(
        build_id="b1", archive=first, runtime=runtime, entrypoint="main.py", env={}
    )
    assert built.ok, built
    assert "Successfully installed localdep-1.0" in built.stdout
    assert (tmp_path / "builds" / "b1" / "deps" / "localdep" / "__init__.py").is_file()
    assert importlib.util.find_spec("localdep") is None  # never into the emulator's environment
    assert await _run(executor, "b1", runtime, "main.py") == "42"

    # Same requirements.txt, but no wheel: a reinstall would fail, the cache makes it pass.
    second = _pack(
        tmp_path / "two.tar.gz", {"main.py": USES_LOCALDEP, "requirements.txt": REQUIREMENTS}
    )
    started = time.perf_counter()
    rebuilt = await executor.build(
        build_id="b2", archive=second, runtime=runtime, entrypoint="main.py", env={}
    )
    assert rebuilt.ok, rebuilt
    assert rebuilt.stdout.startswith("Reusing cached dependencies (requirements.txt, ")
    assert "Successfully installed" not in rebuilt.stdout
    assert time.perf_counter() - started < 1.0
    assert await _run(executor, "b2", runtime, "main.py") == "42"

    # Removing one build leaves the other (and the cache) intact.
    executor.remove_build("b1")
    assert not (tmp_path / "builds" / "b1").exists()
    assert (tmp_path / "builds" / "b2" / "deps" / "localdep" / "__init__.py").is_file()


async def test_a_failing_pip_install_fails_the_build_and_caches_nothing(
    executor: Executor, tmp_path: Path
) -> None:
    archive = _pack(
        tmp_path / "a.tar.gz",
        {"main.py": USES_LOCALDEP, "requirements.txt": "--no-index\nno-such-package-xyz==1.0\n"},
    )
    built = await executor.build(
        build_id="b1", archive=archive, runtime=_python(), entrypoint="main.py", env={}
    )
    assert not built.ok
    assert built.stderr.startswith(
        "Installing dependencies failed: `pip install -r requirements.txt` exited with code 1.\n"
    )
    assert "no-such-package-xyz" in built.stderr
    assert not (tmp_path / "builds" / "b1").exists()  # nothing of a failed build is kept
    cache = tmp_path / "cache" / "python"
    assert not cache.exists() or list(cache.iterdir()) == []


def _fake_python(tmp_path: Path, pip_body: str) -> LocalRuntime:
    """An "interpreter" that answers the version probe and runs `pip_body` for `-m pip install`."""
    script = tmp_path / "bin" / "fake-python"
    script.parent.mkdir(exist_ok=True)
    script.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "-c" ]; then echo "3.9.99 (fake)"; exit 0; fi\n'
        'target="$5"\n'
        f"{pip_body}\n"
    )
    script.chmod(0o755)
    return _runtime("python-3.9", str(script))


async def test_the_build_sees_the_function_variables_but_not_the_emulator_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EMULATOR_ONLY_SECRET", "do-not-leak")
    runtime = _fake_python(tmp_path, 'mkdir -p "$target" && env > "$target/env.txt"')
    executor = Executor(builds_dir=tmp_path / "builds", cache_dir=tmp_path / "cache")
    archive = _pack(tmp_path / "a.tar.gz", {"main.py": "", "requirements.txt": "anything\n"})
    try:
        built = await executor.build(
            build_id="b1",
            archive=archive,
            runtime=runtime,
            entrypoint="main.py",
            env={"MY_VARIABLE": "hello", "HOME": "/custom/home"},
        )
    finally:
        await executor.close()
    assert built.ok, built
    env = dict(
        line.split("=", 1)
        for line in (tmp_path / "builds" / "b1" / "deps" / "env.txt").read_text().splitlines()
        if "=" in line
    )
    assert env["MY_VARIABLE"] == "hello"
    assert env["HOME"] == "/custom/home"  # user variables win over the minimal environment
    assert env["INTERNAL_RUNTIME_ENTRYPOINT"] == "main.py"
    assert env["PATH"].startswith(str(tmp_path / "bin") + os.pathsep)
    assert "EMULATOR_ONLY_SECRET" not in env
    assert "PYENV_ROOT" not in env and "VIRTUAL_ENV" not in env


def _running(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if marker.encode() in cmdline:
                found.append(int(entry))
    return found


async def test_a_build_over_its_time_limit_fails_and_its_processes_are_killed(
    tmp_path: Path,
) -> None:
    marker = "37.4242"
    runtime = _fake_python(tmp_path, f"sleep {marker} &\nwait")
    executor = Executor(
        builds_dir=tmp_path / "builds", cache_dir=tmp_path / "cache", build_timeout=0.5
    )
    archive = _pack(tmp_path / "a.tar.gz", {"main.py": "", "requirements.txt": "anything\n"})
    started = time.perf_counter()
    try:
        built = await executor.build(
            build_id="b1", archive=archive, runtime=runtime, entrypoint="main.py", env={}
        )
    finally:
        await executor.close()
    assert not built.ok
    assert built.stderr == "Build timed out after 0.5 seconds."
    assert 0.5 <= built.duration < 2.0
    assert time.perf_counter() - started < 3.0
    deadline = time.monotonic() + 2
    while _running(marker) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _running(marker) == []


async def test_a_missing_entrypoint_is_logged_not_fatal(
    executor: Executor, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    archive = _pack(tmp_path / "a.tar.gz", {"index.py": "def main(req, res): pass\n"})
    with caplog.at_level(logging.WARNING, logger="emulator.executor"):
        built = await executor.build(
            build_id="b1", archive=archive, runtime=_python(), entrypoint="main.py", env={}
        )
    assert built.ok and built.stdout == "" and built.stderr == ""
    assert "the entrypoint 'main.py' is not in the deployment" in caplog.text
    result = await executor.execute(
        deployment_id="d1",
        build_id="b1",
        runtime=_python(),
        entrypoint="main.py",
        payload="",
        variables={},
        timeout=10,
    )
    assert result.status_code == 500
    assert "main.py" in result.stderr


def test_build_ids_cannot_name_a_path(tmp_path: Path) -> None:
    executor = Executor(builds_dir=tmp_path / "builds", cache_dir=tmp_path / "cache")
    for bad in ("../x", "a/b", "..", ""):
        with pytest.raises(ValueError, match="invalid build id"):
            executor.remove_build(bad)


@needs_node
async def test_npm_install_runs_once_per_package_json(executor: Executor, tmp_path: Path) -> None:
    assert NODE is not None
    runtime = _runtime("node-18.0", NODE)
    package = {"name": "fn", "version": "1.0.0", "dependencies": {"localdep": "file:./localdep"}}
    files: dict[str, bytes | str] = {
        "index.js": "const v = require('localdep');\n"
        "module.exports = async (req, res) => res.send(String(v));\n",
        "package.json": json.dumps(package),
        "localdep/package.json": '{"name": "localdep", "version": "1.0.0"}',
        "localdep/index.js": "module.exports = 42;\n",
    }
    built = await executor.build(
        build_id="b1",
        archive=_pack(tmp_path / "one.tar.gz", files),
        runtime=runtime,
        entrypoint="index.js",
        env={},
    )
    assert built.ok, built
    assert "added 1 package" in built.stdout
    assert await _run(executor, "b1", runtime, "index.js") == "42"

    rebuilt = await executor.build(
        build_id="b2",
        archive=_pack(tmp_path / "two.tar.gz", files),
        runtime=runtime,
        entrypoint="index.js",
        env={},
    )
    assert rebuilt.ok, rebuilt
    assert rebuilt.stdout.startswith("Reusing cached dependencies (package.json, ")
    assert "added" not in rebuilt.stdout
    code = tmp_path / "builds" / "b2" / "code"
    assert (code / "package-lock.json").is_file()  # as a fresh `npm install` would leave it
    assert await _run(executor, "b2", runtime, "index.js") == "42"


@needs_node
async def test_a_failing_npm_install_fails_the_build(executor: Executor, tmp_path: Path) -> None:
    assert NODE is not None
    built = await executor.build(
        build_id="b1",
        archive=_pack(tmp_path / "a.tar.gz", {"index.js": "", "package.json": "{not json"}),
        runtime=_runtime("node-18.0", NODE),
        entrypoint="index.js",
        env={},
    )
    assert not built.ok
    assert built.stderr.startswith("Installing dependencies failed: `npm install` exited with code")
    assert "JSON" in built.stderr
